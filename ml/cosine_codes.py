"""Unit vectors kept as 16-bit fixed-point codes, and every row's score computed in threads.

A similarity index of a million items of 256 features is a gigabyte in float32, and a
ranking reads all of it. Codes of 16 bits halve the memory and the bytes read (and a
ranking's CPU time: 55 ms a million rows of 256 against 105 ms for float32 scored in the
same blocks and threads, on two cores busy with other work). Each row is stored as int16
codes scaled so that its largest component is +-32767, with one float32 per row: the
inverse length of its codes. A score is then the exact cosine of the stored vectors
(``codes . query * scale``): a row scores 1 with itself, equal codes score equally, and a
stored direction is off the original by at most half a step of its largest component (a
score moves by about 3e-6 at 256 features, 1e-5 in two dimensions). Fixed point rather
than float16: float16 keeps 11 bits of each component (a step of 6e-5 at a typical 1/16 of
a unit vector of 256), and numpy converts int16 to float32 with SIMD (0.1 ns a value) but
float16 in a scalar loop (1.7 ns: 0.43 s a million rows of 256).

Up to FEW_QUERIES queries, a compiled kernel (``ml.cosine_kernel``, numba) scores the rows
straight from their codes in a few threads of this module (it releases the GIL), each row
converted to float32 in registers. A ranking of a million rows of 256 (bench_similarity,
two shared cores) took 45 to 49 ms of CPU time against 33 ms for a plain read of their
codes in the same threads: 0.8 to 1.04 times the read's wall time at a load of 7 to 10
(other work slows the read as much), 1.39 to 1.42 times at a load of 2.5 to 3, where the
CPU time decides; converting blocks to float32 for BLAS took 127 to 138 ms of CPU time, 3.4
to 4.6 times the read at a load of 7 to 10. The kernel is compiled, or loaded from numba's
cache, when the process first encodes an index (the build, not a ranking, pays it: 1 to 3
s). More queries, or where numba cannot compile it, convert a block of rows to float32 and
multiply it with BLAS in the same threads, while BLAS runs single-threaded: its own threads
inside ours oversubscribe the cores (ten times slower on two shared cores).
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np
from threadpoolctl import ThreadpoolController

from settings import usable_cores

log = logging.getLogger(__name__)

# ml.cosine_kernel's compiled kernel: (codes, scales, queries, chosen, out, begin, end)
Kernel = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int],
                  None]
NO_CHOICE = np.empty(0, dtype=np.int32)  # the kernel takes every query's product

# A row's largest component is stored as +-SCALE.
SCALE = 32767
# Values converted at a time: 4096 rows of 256 features, 4 MiB of float32 (in the L3
# cache), a thread's CPU time per million rows 45 ms against 83 ms with 256 rows (numpy's
# int16 cast is twice as slow a value on blocks that small); a multiple of BLOCK_ALIGN rows,
# and every block is scored whole (the last one padded), as BLAS gives equal rows equal
# results only at equal places in equal shapes.
BLOCK_VALUES = 1 << 20
BLOCK_ALIGN = 64
# Blocks handed to a thread at a time: enough tasks that a thread slowed by other work on
# the machine leaves the rest to the others (16 tasks for a million rows of 256).
TASK_BLOCKS = 16
# Threads of the scoring pool: the cores this process may use, at most 8 (memory speed
# stops growing with cores well before that).
THREADS = max(1, min(8, usable_cores()))
# Up to this many queries, the compiled kernel scores each row with each query, the row in
# the L1 cache after the first; beyond, BLAS's matrix product of a block with all queries
# is faster. CPU time of a million rows of 256 on two shared cores: 16 queries 220 ms
# against 306 ms, 24 queries 367 against 331 ms, 64 queries 1,223 against 504 ms.
FEW_QUERIES = 16

_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()
# One scoring at a time: it holds BLAS to one thread, a setting of the whole process.
_scoring_lock = threading.Lock()
_blas: Optional[ThreadpoolController] = None
_compiled: Optional[Kernel] = None
_compile_failed = False
# Held while numba compiles the kernel, and by a fork meanwhile until it is done: a child
# forked during the compilation inherits numba's own compiler lock held by a thread it does
# not have, and its first compilation waits for ever.
_compile_lock = threading.Lock()


def _forget_threads_after_fork() -> None:
    """A forked child has none of the parent's threads, nor their hold on the locks."""
    global _pool, _pool_lock, _scoring_lock, _compile_lock
    _pool, _pool_lock, _scoring_lock = None, threading.Lock(), threading.Lock()
    _compile_lock = threading.Lock()


def _hold_compile_lock() -> None:
    _compile_lock.acquire()


def _release_compile_lock() -> None:
    _compile_lock.release()


# (each hook finds the lock of the process forking: a child's is not its parent's)
os.register_at_fork(before=_hold_compile_lock, after_in_parent=_release_compile_lock,
                    after_in_child=_forget_threads_after_fork)


@dataclass(frozen=True)
class CodedVectors:
    """Rows of vectors as int16 codes and the inverse length of each row of codes."""

    codes: np.ndarray  # int16 (rows, dimension); zero rows stay zero
    scales: np.ndarray  # float32 (rows,): 1 / length of the codes (0 for a zero row)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.scales.nbytes

    def take(self, rows: np.ndarray) -> "CodedVectors":
        return CodedVectors(self.codes[rows], self.scales[rows])

    def decode(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The stored vectors of ``rows`` (all by default), float32 of length 1 (or 0)."""
        return self.codes[rows].astype(np.float32) * self.scales[rows, None]


def encode(vectors: np.ndarray, order: Optional[np.ndarray] = None) -> CodedVectors:
    """The rows of ``vectors`` (``vectors[order]`` when given) as codes, a block at a time,
    so no float32 copy of the whole matrix is made; rows with a NaN or an infinity are
    stored as zero rows (similar to nothing). Compiles the scoring kernel, if this process
    has not, so that the index's first ranking does not."""
    _kernel()
    count = len(vectors) if order is None else len(order)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    codes = np.empty((count, dim), dtype=np.int16)
    scales = np.zeros(count, dtype=np.float32)
    step = _block_rows(dim)
    for start in range(0, count, step):
        rows = slice(start, start + step)
        block = np.array(vectors[rows] if order is None else vectors[order[rows]],
                         dtype=np.float32)
        block[~np.isfinite(block).all(axis=1)] = 0  # a vector with NaN points nowhere
        largest = np.abs(block).max(axis=1, initial=0.0)
        np.divide(block, largest[:, None], out=block, where=largest[:, None] > 0)
        np.rint(block * SCALE, out=codes[rows], casting="unsafe")
        lengths = np.linalg.norm(codes[rows].astype(np.float32), axis=1)
        np.divide(1.0, lengths, out=scales[rows], where=lengths > 0)
    return CodedVectors(codes, scales)


def scores(coded: CodedVectors, query: np.ndarray) -> np.ndarray:
    """Each row's cosine with ``query`` (a vector of length 1), as float32."""
    return nearest_scores(coded, np.asarray(query)[None, :])


def nearest_scores(coded: CodedVectors, queries: np.ndarray) -> np.ndarray:
    """Each row's highest cosine with any row of ``queries`` (of length 1), as float32; the
    scores held at a time stay at a block of rows times the queries per thread."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != coded.codes.shape[1]:
        # the compiled kernel does not check its indexes
        raise ValueError(f"queries of shape {queries.shape} for vectors of "
                         f"{coded.codes.shape[1]} features")
    kernel = _kernel()
    if kernel is None:
        return _score_rows(coded, lambda block, out: np.max(block @ queries.T, axis=1, out=out))
    if len(queries) <= FEW_QUERIES:
        return _score_rows_compiled(coded, queries, kernel, NO_CHOICE)
    # BLAS's product finds each row's nearest query; the kernel scores the row with it.
    # BLAS's own sums depend on where a row falls in its tiles (OpenBLAS 0.3.31: 35 of 60
    # copies of one vector a float32 step below the other 25), the kernel's do not, so equal
    # rows score equally and keep their order.
    chosen = np.empty(len(coded), dtype=np.int32)
    _score_rows(coded, lambda block, out: np.argmax(block @ queries.T, axis=1, out=out),
                chosen, scaled=False)
    return _score_rows_compiled(coded, queries, kernel, chosen)


def _block_rows(dim: int, rows: int = 0) -> int:
    """Rows of a block: BLOCK_VALUES values, or ``rows`` (a small index), in whole
    BLOCK_ALIGN rows."""
    wanted = BLOCK_VALUES // max(1, dim)
    if rows:
        wanted = min(wanted, rows)
    return max(1, -(-wanted // BLOCK_ALIGN)) * BLOCK_ALIGN


def _score_rows(coded: CodedVectors, score: Callable[[np.ndarray, np.ndarray], None],
                out: Optional[np.ndarray] = None, scaled: bool = True) -> np.ndarray:
    """``score(block, out)`` on float32 blocks of the codes, times the rows' scales
    (``scaled``), into ``out`` (made float32 if not given); in the pool when there is more
    than one task's worth of rows, with BLAS held to one thread either way.
    ``score`` must commute with a positive factor per row (products, their maximum)."""
    codes = coded.codes
    count, dim = codes.shape
    out = np.empty(count, dtype=np.float32) if out is None else out
    step = _block_rows(dim, count)

    def task(start: int) -> None:
        buffer = np.zeros((step, dim), dtype=np.float32)
        scored = np.empty(step, dtype=out.dtype)
        for begin in range(start, min(start + TASK_BLOCKS * step, count), step):
            end = min(begin + step, count)
            np.copyto(buffer[:end - begin], codes[begin:end])
            score(buffer, scored)
            if scaled:
                np.multiply(scored[:end - begin], coded.scales[begin:end], out=out[begin:end])
            else:
                out[begin:end] = scored[:end - begin]

    # BLAS's own threads are as slow on the blocks of a small index, scored in this thread
    with _single_threaded_blas():
        _run_tasks(task, range(0, count, TASK_BLOCKS * step))
    return out


def _score_rows_compiled(coded: CodedVectors, queries: np.ndarray, kernel: Kernel,
                         chosen: np.ndarray) -> np.ndarray:
    """Each row's highest product with ``queries`` (with ``chosen`` not empty: with query
    ``chosen[row]``) times its scale, by the compiled kernel, tasks of TASK_BLOCKS blocks'
    rows at a time (rows are scored alike wherever they are)."""
    codes, scales = np.ascontiguousarray(coded.codes), np.ascontiguousarray(coded.scales)
    count, dim = codes.shape
    out = np.empty(count, dtype=np.float32)
    task_rows = TASK_BLOCKS * _block_rows(dim, count)

    def task(start: int) -> None:
        kernel(codes, scales, queries, chosen, out, start, min(start + task_rows, count))
    _run_tasks(task, range(0, count, task_rows))
    return out


def _run_tasks(task: Callable[[int], None], starts: range) -> None:
    """``task(start)`` for each start, in the pool when there is more than one."""
    if len(starts) <= 1 or THREADS == 1:
        for start in starts:
            task(start)
    else:
        list(_threads().map(task, starts))


def _kernel() -> Optional[Kernel]:
    """The compiled kernel (``ml.cosine_kernel``), compiled or loaded from numba's cache on
    the first call; None where numba cannot compile it (logged once): then numpy and BLAS
    score every query."""
    global _compiled, _compile_failed
    with _compile_lock:
        if _compiled is None and not _compile_failed:
            try:
                from ml.cosine_kernel import compile_kernel
                _compiled = compile_kernel()
            except Exception:  # numba missing, or a numba or LLVM that does not compile it
                log.exception("the compiled similarity kernel is unavailable; scoring with "
                              "numpy and BLAS")
                _compile_failed = True
        return _compiled


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="cosine-scores")
        return _pool


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    global _blas
    with _scoring_lock:
        if _blas is None:  # numpy's BLAS, loaded with numpy
            _blas = ThreadpoolController().select(user_api="blas")
        with _blas.limit(limits=1):
            yield
