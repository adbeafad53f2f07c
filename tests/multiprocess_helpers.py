"""Launching real multi-process jax jobs on 127.0.0.1 for the tests: free ports, bounded waits,
every process killed at the end whatever happens."""
import os
import random
import socket
import subprocess
import sys
import time

from train_helpers import REPO, TINY_CONFIG, script, script_env


def free_port(low: int = 0, high: int = 0) -> int:
    """A port nobody listens on at 127.0.0.1 (in [low, high] when given)."""
    for _ in range(200):
        port = random.randint(low, high) if low else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in [{low}, {high}]")


def env_with_devices(devices: int, **extra) -> dict:
    env = script_env()
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env.pop("JAX_COORDINATOR_ADDRESS", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Job:
    """N processes of one command; `stop()` kills whatever is still running."""

    def __init__(self, procs, logs):
        self.procs, self.logs = procs, logs

    def wait(self, timeout: float = 240) -> list:
        deadline = time.time() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                self.stop()
                raise AssertionError(f"a process did not finish in {timeout} s:\n" + self.stderr(0)[-3000:])
        return [p.returncode for p in self.procs]

    def stderr(self, i: int) -> str:
        with open(self.logs[i][1]) as f:
            return f.read()

    def stdout(self, i: int) -> str:
        with open(self.logs[i][0]) as f:
            return f.read()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)


JOBS = []  # every job started, for the cleanup fixture


def launch_train(workdir, *, processes=2, devices=2, args=(), config=TINY_CONFIG, slurm=False,
                 tag="run") -> Job:
    """scripts/train.py as `processes` processes of `devices` CPU devices each.

    `workdir` is one folder for all, or a list of one per process (hosts
    without a shared filesystem). With `slurm=True` no coordinator flags are
    passed: the processes find the job in SLURM's environment, as under `srun`.
    """
    port = free_port(61440, 65535) if slurm else free_port()
    workdirs = list(workdir) if isinstance(workdir, (list, tuple)) else [workdir] * processes
    procs, logs = [], []
    for i, workdir in enumerate(workdirs):
        cmd = script("train.py") + [f"--config={config}", f"--workdir={workdir}", *args]
        env = env_with_devices(devices)
        if processes > 1 and slurm:
            cmd.append("--distributed")
            env.update(SLURM_JOB_ID=str(port - 61440 + 4096), SLURM_STEP_NODELIST="127.0.0.1",
                       SLURM_NTASKS=str(processes), SLURM_PROCID=str(i), SLURM_LOCALID=str(i))
        elif processes > 1:
            cmd += ["--distributed", f"--coordinator_address=127.0.0.1:{port}",
                    f"--num_processes={processes}", f"--process_id={i}"]
        out, err = f"{workdir}.{tag}.{i}.out", f"{workdir}.{tag}.{i}.err"
        logs.append((out, err))
        with open(out, "w") as o, open(err, "w") as e:
            procs.append(subprocess.Popen(cmd, stdout=o, stderr=e, env=env, cwd=REPO))
    job = Job(procs, logs)
    JOBS.append(job)
    return job


def launch_script(path, *, processes=2, devices=2, args=(), workdir) -> Job:
    """A python file run as `processes` processes: argv = [address, count, index, *args]."""
    port = free_port()
    procs, logs = [], []
    for i in range(processes):
        out, err = f"{workdir}.{i}.out", f"{workdir}.{i}.err"
        logs.append((out, err))
        with open(out, "w") as o, open(err, "w") as e:
            procs.append(subprocess.Popen(
                [sys.executable, path, f"127.0.0.1:{port}", str(processes), str(i), *args],
                stdout=o, stderr=e, env=env_with_devices(devices), cwd=REPO))
    job = Job(procs, logs)
    JOBS.append(job)
    return job


def latest_step(workdir) -> int:
    path = os.path.join(workdir, "checkpoints")
    steps = [int(s) for s in os.listdir(path) if s.isdigit()] if os.path.isdir(path) else []
    return max(steps, default=-1)


def wait_for_checkpoint(job: Job, workdir, step: int, timeout: float = 180) -> int:
    deadline = time.time() + timeout
    while latest_step(workdir) < step:
        if any(p.poll() is not None for p in job.procs) or time.time() > deadline:
            job.stop()
            raise AssertionError(f"no checkpoint {step} in time:\n" + job.stderr(0)[-3000:])
        time.sleep(0.02)
    return latest_step(workdir)
