"""A JAX profiler trace of a few training steps, written to `<workdir>/profile`.

Open it with TensorBoard's profile plugin or XProf (`--logdir <workdir>/profile`); jax
writes `plugins/profile/<timestamp>/<host>.xplane.pb` (and a `.trace.json.gz`) there.
"""
import os

import jax

PROFILE_DIR = "profile"


class StepProfiler:
    """Traces steps start_step+1 .. start_step+num_steps of this launch.

    Call `step(n, value)` after each training step, `n` being the number of steps done
    and `value` something that step computed (the new state): the trace starts once
    `n` reaches start_step and stops `num_steps` steps later. Before starting and
    stopping it waits for `value` (jax.block_until_ready), so the trace holds exactly
    the traced steps' device work although jax dispatches asynchronously. A launch
    that resumes inside the window traces the rest of it, one that resumes past it
    traces nothing. num_steps=0 or enabled=False turns it off.
    """

    def __init__(self, workdir: str, start_step: int, num_steps: int, enabled: bool = True):
        if start_step < 0 or num_steps < 0:
            raise ValueError(f"profiling needs start_step >= 0 and num_steps >= 0, got "
                             f"start_step={start_step}, num_steps={num_steps}; use num_steps=0 "
                             f"to turn profiling off.")
        self.log_dir = os.path.join(workdir, PROFILE_DIR)
        self.start_step = int(start_step)
        self.stop_step = int(start_step) + int(num_steps)
        self.enabled = enabled and num_steps > 0
        self.active = False

    def step(self, step: int, value=None):
        """Starts or stops the trace as `step` enters or leaves the window.

        Returns the trace directory when this call finished a trace, else None.
        """
        if not self.enabled:
            return None
        if not self.active and self.start_step <= step < self.stop_step:
            jax.block_until_ready(value)
            try:
                jax.profiler.start_trace(self.log_dir)
            except RuntimeError as e:
                raise RuntimeError(f"could not start the profiler trace in {self.log_dir} "
                                   f"({e}); another jax trace is running in this process: "
                                   f"stop it, or turn this profiler off.") from e
            self.active = True
            return None
        if self.active and step >= self.stop_step:
            return self.stop(value)
        return None

    def stop(self, value=None):
        """Ends a running trace after `value` is computed; returns its directory, or None
        when no trace was running (safe to call again, e.g. from a `finally`)."""
        if not self.active:
            return None
        try:
            jax.block_until_ready(value)
        finally:
            self.active = False
            self.enabled = False  # one trace per launch
            jax.profiler.stop_trace()
        return self.log_dir
