"""Worker pools share the web process's forkserver: what it imports is every pool's list.
Ending a pool never waits past its grace for a worker."""
from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import subprocess
import sys
import time
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import psutil
import pytest

from data.worker_processes import end_pool, worker_context


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no forkserver on this platform")
def test_the_forkserver_imports_what_every_pool_asked_for():
    context = worker_context(["json"])
    assert context.get_start_method() == "forkserver"
    worker_context(["decimal", "json"])
    preload = multiprocessing.forkserver._forkserver._preload_modules
    assert {"json", "decimal"} <= set(preload) and preload.count("json") == 1


def test_ending_a_pool_terminates_a_worker_still_busy_after_the_grace_and_runs_no_more():
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    worker = pool.submit(os.getpid).result()
    busy = pool.submit(time.sleep, 300)
    while not busy.running():
        time.sleep(0.05)
    queued = pool.submit(time.sleep, 0)
    end_pool(pool, grace_seconds=0.5)  # shutdown(wait=True) would wait the 300 s
    assert not psutil.pid_exists(worker)
    for task in (busy, queued):  # cancelled, or failed with its terminated worker
        with pytest.raises((CancelledError, BrokenProcessPool)):
            task.result(timeout=5)


def test_ending_a_pool_lets_a_short_task_finish():
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    answer = pool.submit(sum, [1, 2, 3])
    end_pool(pool, grace_seconds=30)
    assert answer.result(timeout=0) == 6


# A pool whose second worker is still starting when the interpreter exits: the main thread
# returns while another thread's submit is inside the worker's start.
_EXIT_WHILE_A_WORKER_STARTS = """
import multiprocessing, sys, threading, time
from concurrent.futures import ProcessPoolExecutor
from data.worker_processes import at_exit_before_pools, end_pool

spawn = multiprocessing.get_context("spawn")

class SlowStart(spawn.Process):
    def start(self):
        time.sleep(1.0)
        super().start()

class SlowStartContext(type(spawn)):
    Process = SlowStart

pool = ProcessPoolExecutor(2, mp_context=SlowStartContext())
at_exit_before_pools(lambda: end_pool(pool, 2.0))

def submit_two():
    pool.submit(time.sleep, 3)  # keeps the first worker busy, so the second starts
    pool.submit(time.sleep, 0)

threading.Thread(target=submit_two, daemon=True).start()
while len(pool._processes) < 1:
    time.sleep(0.01)
time.sleep(0.3)  # the second worker's start is under way; the interpreter exits now
"""


def test_exit_while_a_worker_starts_does_not_hang(tmp_path):
    """concurrent.futures' own exit counts the workers without the pool's lock and sent
    the one still starting no stop message: `serve` hung on SIGTERM in 3 of 14 stops."""
    script = tmp_path / "exit_while_starting.py"
    script.write_text(_EXIT_WHILE_A_WORKER_STARTS)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        for child in psutil.Process(process.pid).children(recursive=True) \
                if psutil.pid_exists(process.pid) else []:
            child.kill()
        process.kill()
    assert time.monotonic() - started < 20


_POOL_THEN_WAIT = """
import os, time
from concurrent.futures import ProcessPoolExecutor
from data.worker_processes import end_with_parent, worker_context

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=worker_context([]), initializer=end_with_parent)
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(120)
"""


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no forkserver on this platform")
def test_a_worker_ends_when_the_process_that_made_its_pool_is_killed(tmp_path):
    """Its pool's queue kept it waiting for ever after a SIGKILL of the web process."""
    script = tmp_path / "pool_then_wait.py"
    script.write_text(_POOL_THEN_WAIT)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                               text=True)
    try:
        worker = psutil.Process(int(process.stdout.readline()))
    finally:
        process.kill()
        process.wait(timeout=30)
    gone, alive = psutil.wait_procs([worker], timeout=10)
    for left in alive:
        left.kill()
    assert not alive, "the pool's worker outlived the process that made the pool"
