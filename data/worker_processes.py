"""The context that worker-process pools (the header scan's, the thumbnail route's) start
their processes in: forked from the one forkserver of the web process, which imports the
main module and the modules every pool names once, before forking any worker.

Not forked from the web process itself, which has threads (and database connections);
not spawned, where a worker imports the main module again (the app: 2 s of CPU each
before its first task). The forkserver is shared and takes its list of modules when it
starts, so the list is the union of what every pool asked for until then.
"""
from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence

_lock = threading.Lock()
_preload: list[str] = []


def _main_module() -> str:
    """How the forkserver imports the main module: by name for one run with -m (a
    package's __main__ is not imported again), as '__main__' for one run as a file."""
    name = getattr(getattr(sys.modules["__main__"], "__spec__", None), "name", None)
    return name if name and not name.endswith("__main__") else "__main__"


def worker_context(modules: Sequence[str]) -> multiprocessing.context.BaseContext:
    """The forkserver context, its workers having imported ``modules`` (and the main module
    and those other pools named); spawn where the platform has no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    with _lock:
        _preload.extend(name for name in (_main_module(), *modules) if name not in _preload)
        context.set_forkserver_preload(list(_preload))
    return context


def start_forkserver(modules: Sequence[str]) -> None:
    """Start the forkserver now, in the background, importing ``modules`` (and the main
    module): its imports (1-2 s) then overlap the caller's own start-up instead of
    delaying the first workers asked for after it."""
    if worker_context(modules).get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


def end_pool(executor: ProcessPoolExecutor, grace_seconds: float) -> None:
    """Shut ``executor`` down: its queued tasks are cancelled, the running ones get
    ``grace_seconds`` to finish, and a worker process still there after that is terminated.

    ``shutdown(wait=True)`` alone can wait forever: when it races a worker being started
    (a pool starting as the server stops), the pool sends one stop message too few and a
    worker waits for it, holding up the interpreter's exit. CPython has had several such
    hangs of this shutdown (gh-94440, gh-132969); 3.14 adds ``terminate_workers``."""
    processes = executor._processes  # the pool's own dict: a worker started late is added
    executor.shutdown(wait=False, cancel_futures=True)  # no worker starts after this
    deadline = time.monotonic() + grace_seconds
    for process in list((processes or {}).values()):
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()
            process.join()


def at_exit_before_pools(close: Callable[[], None]) -> None:
    """Run ``close`` (a pool's ``end_pool``) when the interpreter exits, before
    ``concurrent.futures`` joins the pools' workers.

    That join runs before ``atexit`` (it is one of ``threading``'s exit calls, which run
    last registered first) and can wait forever: it counts the live workers without the
    pool's lock, so a worker whose start is still under way (a pool starting as the server
    stops) gets no stop message (3 hangs of `serve` in 14 SIGTERMs). A pool that
    ``close`` has shut down starts no worker after, and ``end_pool`` ends the rest."""
    register = getattr(threading, "_register_atexit", atexit.register)  # CPython 3.9+
    register(close)


def end_with_parent() -> None:
    """In a pool's worker, at its start: exit as soon as the process that made the pool has
    ended, however it ended. A worker waits on its pool's queue, whose pipe ends it holds
    itself, so after a SIGKILL of the web process (out of memory, gunicorn's worker timeout)
    it waited for ever, and kept the forkserver running with it."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def exit_when_the_parent_has():
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=exit_when_the_parent_has, name="end-with-parent",
                     daemon=True).start()
