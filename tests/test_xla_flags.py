"""cnnlab's default XLA CPU flags: added once, never over a user's own, and opt-out-able."""
from cnnlab import xla_flags

FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


def test_the_default_turns_convolutions_off_ynnpack_and_leaves_dots_on_it():
    assert xla_flags.CPU_FLAGS == (FLAG,)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert xla_flags.apply_defaults(env) == "--xla_force_host_platform_device_count=2 " + FLAG
    assert xla_flags.apply_defaults(env) == env["XLA_FLAGS"]  # applying twice adds nothing
    assert env["XLA_FLAGS"].count("ynn_fusion_type") == 1


def test_a_users_own_setting_wins_and_the_defaults_can_be_switched_off():
    own = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=-individual_dot"}
    assert xla_flags.apply_defaults(own) == "--xla_cpu_experimental_ynn_fusion_type=-individual_dot"
    off = {"CNNLAB_DEFAULT_XLA_FLAGS": "0"}
    assert xla_flags.apply_defaults(off) == "" and "XLA_FLAGS" not in off
    assert xla_flags.apply_defaults({}) == FLAG
