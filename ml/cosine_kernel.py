"""A compiled scoring kernel for ``ml.cosine_codes``: int16 codes times float32 queries,
straight from memory, one row range per call, without the GIL.

``compile_kernel()`` compiles it, or loads it from numba's cache of it, kept beside this
module or, where that folder is read-only, in numba's cache folder of the user; where
neither can be written, it is compiled without a cache. ``ml.cosine_codes`` imports this
module (and numba) only when it builds or scores an index. The kernel runs in the
caller's threads: no numba threading layer, nothing of its own to fork.

Each row's codes are converted to float32 in registers and multiplied with each query (AVX2
on x86: a sign extension, a conversion and a fused multiply-add per 8 values), and the
memory a few rows ahead is prefetched: without that, a million rows of 256 took 52 ms of a
thread's time against 29 ms for a plain read of their codes; with it 37 to 41 ms (the
hardware prefetcher alone leaves the loads waiting). Integer products (an int16 query,
int32 sums: vpmaddwd) were no faster: 58 ms against 52 without prefetching, 40 ms either
way with it (LLVM uses 128-bit vpmaddwd), and they would need two int16 parts of the query
to keep scores within 1e-6 (one part: about 3e-5; its int32 sums can overflow at full
precision). Nor were, consistently, two rows at a time (query values loaded once) or
prefetching a block of rows at a time: from 10 % faster to 40 % slower from run to run and
with the dimension.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

# Bytes between a row being scored and the memory prefetched for it: 2 KiB (4 rows of 256)
# scored a million rows in 37 ms of a thread's time; 0.5 KiB 41 ms, 4 KiB 41 ms, 6 KiB 51
# ms (as without prefetching).
PREFETCH_AHEAD_BYTES = 2048
CACHE_LINE_BYTES = 64
_PREFETCH_AHEAD_VALUES = PREFETCH_AHEAD_BYTES // 2  # of int16
_CACHE_LINE_VALUES = CACHE_LINE_BYTES // 2

SIGNATURE = numba.types.void(numba.int16[:, ::1], numba.float32[::1], numba.float32[:, ::1],
                             numba.int32[::1], numba.float32[::1], numba.intp, numba.intp)
# reassociation (several sums at once, in vectors) and fused multiply-adds; no assumption
# that values are finite
OPTIONS = dict(nogil=True, fastmath={"reassoc", "contract"})


@intrinsic
def prefetch(typingctx, array, index):
    """Prefetch array[index] into all cache levels (a hint: no fault, no effect on results)."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), cgutils.voidptr_t)
        int32 = ir.IntType(32)
        prefetch_function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t] + [int32] * 3),
            "llvm.prefetch.p0i8")
        read, all_levels, data_cache = (ir.Constant(int32, value) for value in (0, 3, 1))
        builder.call(prefetch_function, [address, read, all_levels, data_cache])
        return context.get_dummy_value()
    return numba.types.void(array, index), codegen


def nearest_products(codes, scales, queries, chosen, out, begin, end):
    """out[begin:end]: each row's highest product with a query, times the row's scale; with
    ``chosen`` not empty, the product with query ``chosen[row]`` only (the one a matrix
    product found highest: see ``ml.cosine_codes``)."""
    dim = codes.shape[1]
    flat = codes.reshape(-1)
    every_query = chosen.shape[0] == 0
    for row in range(begin, end):
        ahead = row * dim + _PREFETCH_AHEAD_VALUES
        for value in range(ahead, min(ahead + dim, flat.shape[0]), _CACHE_LINE_VALUES):
            prefetch(flat, value)
        best = np.float32(0)
        first, last = (0, queries.shape[0]) if every_query else (chosen[row], chosen[row] + 1)
        for query in range(first, last):
            total = np.float32(0)
            for j in range(dim):
                total += np.float32(codes[row, j]) * queries[query, j]
            if query == first or total > best:
                best = total
        out[row] = best * scales[row]


def compile_kernel():
    """``nearest_products`` compiled for C-ordered int16 codes and float32 queries."""
    try:
        return numba.njit(SIGNATURE, cache=True, **OPTIONS)(nearest_products)
    except RuntimeError:  # no folder for numba's cache can be written
        return numba.njit(SIGNATURE, **OPTIONS)(nearest_products)
