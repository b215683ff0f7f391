"""Start and stop the one Celery worker process of a local ``beamlabel``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from settings import Settings, settings_environment

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_SECONDS = 10.0


def worker_command(queues: str = "gpu,cpu") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", queues, "-c", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]


def start_worker(settings: Settings, **popen_options) -> subprocess.Popen:
    """One worker for both queues, in its own process group (so stopping it ends its pool)."""
    env = dict(os.environ, **settings_environment(settings))
    return subprocess.Popen(worker_command(), cwd=ROOT, env=env, start_new_session=True,
                            **popen_options)


def stop_worker(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """Ask the worker to stop, then kill its whole process group if it does not."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)  # pool children left behind, if any
    process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
