"""Worker pools share the web process's forkserver: what it imports is every pool's list.
Ending a pool never waits past its grace for a worker."""
from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import time
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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

