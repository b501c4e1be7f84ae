"""center (x - mean over axes) and its gradient on the CPU (Numba).

Any input is viewed as (outer, red, inner): the reduced axes, made adjacent,
in the middle. inner == 1 (axis None, or the last axes) reduces contiguous
rows; inner > 1 (e.g. axis=0) reduces columns, a vector of inner sums per row.

Precision: sums accumulate in float64, in blocks, so the mean of 10^7 float32
values is as good as NumPy's pairwise sum. The float32 subtraction is done as
(x - hi) - lo with hi + lo the float64 mean split into two float32 numbers, so
the result is as if subtracted in float64 and rounded once — at float32 speed.
"""

import numpy as np
from numba import carray, config, njit

from .layout import center_by_layout
from ..cpu import _alloc
from ..cpu._inner import inner
from ..cpu._native import pointer, run_tasks, runner, task_block, task_entry
from ..cpu._simd import LANES, load, store
from ..cpu._threads import PARALLEL_MIN_ELEMENTS

_SUM_BLOCK = 256  # elements summed by one vectorized loop before joining the total
_CHUNK = 1 << 16  # elements per thread task on a flat array (rows per task for column sums: _CHUNK // inner)


# Loops below run over range(a.size) of a slice, never range(i0, i1): with a start
# Numba cannot prove an index non-negative, keeps its wraparound check, and the
# loop does not vectorize (5x slower, measured).


@inner(fastmath={"reassoc"})  # reassociation lets the sum vectorize; NaN and inf still propagate
def _sum_block(a):
    """Sum of a short block in float64, 4 lanes wide (float32 values are exact in float64)."""
    acc = 0.0
    for i in range(a.size):
        acc += np.float64(a[i])
    return acc


@inner
def _sum(a, i0, i1):
    """Sum of a[i0:i1] (1-D contiguous) in float64, in blocks of 256.

    Every float32 value and every partial sum of a block is exact or rounded in
    float64, so the mean of a constant array is that constant exactly (summed in
    float32 blocks, 7 copies of 54321.123 centered to 5.6e-4, not 0), and the mean
    of 10^7 values is better than NumPy's float32 pairwise sum.
    """
    total = 0.0
    for b0 in range(i0, i1, _SUM_BLOCK):
        total += _sum_block(a[b0 : min(i1, b0 + _SUM_BLOCK)])
    return total


@inner
def _split(mean, dtype_of):
    """A float64 mean as (hi, lo) in dtype_of's dtype: hi + lo == mean to about twice that dtype's precision."""
    hi = dtype_of.dtype.type(mean)
    lo = dtype_of.dtype.type(mean - hi if np.isfinite(hi) else 0.0)  # an inf mean: x - inf, as NumPy has it
    return hi, lo


@inner
def _subtract_block(a, hi, lo, out):
    for i in range(a.size):
        out[i] = (a[i] - hi) - lo


@inner
def _subtract(a, hi, lo, i0, i1, out):
    _subtract_block(a[i0:i1], hi, lo, out[i0:i1])


# --- inner == 1: contiguous rows ---


@njit(cache=True)
def _center_row(x, out):
    hi, lo = _split(_sum(x, np.int64(0), x.size) / x.size, x)  # not a literal 0 (kernels/cpu/__init__)
    _subtract_block(x, hi, lo, out)


@njit(cache=True)
def _center_rows(x2, out2):
    for o in range(x2.shape[0]):
        _center_row(x2[o], out2[o])


# On the threads (kernels/cpu/_native): each layout's task function, a C callback compiled once, taken task by
# task by the threads, so that a thread on a core shared with another process does only the tasks it gets to
# (a prange loop's schedule gives each thread a fixed share, which waits where its thread's core is shared).
# A task gets its out and args: x's address, then the layout's sizes, the pass (0: sums, 1: subtraction) and
# the float64 partial sums' address, then the addresses of hi and lo (filled between the passes).


def _rows_task(out, args, task):
    """Row `task` of x (rows, n) centered into out."""
    rows, n = args[1], args[2]
    x2, out2 = carray(pointer(args[0], out), (rows, n)), carray(out, (rows, n))
    try:
        _center_row(x2[task], out2[task])
    except Exception:  # noqa: BLE001 -- an exception cannot leave a C callback
        return 1
    return 0


@njit(cache=True)
def _center_rows_tasks(x2, out2, entry, runner):
    """Each row of x2 centered, a task a row, on the threads. Returns nonzero where a task failed."""
    block, args = task_block(entry, out2.ctypes.data, np.int64(3))
    args[0], args[1], args[2] = x2.ctypes.data, x2.shape[0], x2.shape[1]
    return run_tasks(runner, block, x2.shape[0])


def _flat_task(out, args, task):
    """Chunk `task` of a flat x (n,) cut into args[2] chunks: its float64 sum into partial[task] (pass 0), or
    its (x - hi) - lo into out (pass 1)."""
    n, chunks, stage = args[1], args[2], args[3]
    x, out_ = carray(pointer(args[0], out), n), carray(out, n)
    partial, split = carray(pointer(args[4], np.float64), chunks), carray(pointer(args[5], out), 2)
    step = (n + chunks - 1) // chunks
    i0, i1 = task * step, min(n, (task + 1) * step)
    try:
        if stage == 0:
            partial[task] = _sum(x, i0, i1)
        else:
            _subtract(x, split[0], split[1], i0, i1, out_)
    except Exception:  # noqa: BLE001
        return 1
    return 0


@njit(cache=True)
def _center_flat_tasks(x, out, partial, split, entry, runner):
    """One long row cut into partial.size chunks: their sums into partial, then the subtraction, each pass on the
    threads; split (2,) of x's dtype takes hi and lo. The arrays are arguments, not allocated here: an array
    made in a compiled function can be freed after its last use in it, before the tasks read it by address.
    Returns nonzero where a task failed."""
    n, chunks = x.size, partial.size
    block, args = task_block(entry, out.ctypes.data, np.int64(6))
    args[0], args[1], args[2], args[3] = x.ctypes.data, n, chunks, 0
    args[4], args[5] = partial.ctypes.data, split.ctypes.data
    if run_tasks(runner, block, chunks):
        return 1
    split[0], split[1] = _split(_sum(partial, np.int64(0), chunks) / n, x)  # not a literal 0 (kernels/cpu/__init__)
    args[3] = 1
    return run_tasks(runner, block, chunks)


def _center_flat(x, out):
    """x - x.mean() of a 1-D contiguous x: one thread below PARALLEL_MIN_ELEMENTS."""
    if x.size < PARALLEL_MIN_ELEMENTS:
        _center_row(x, out)
        return
    chunks = max(config.NUMBA_NUM_THREADS, -(-x.size // _CHUNK))
    if _center_flat_tasks(x, out, np.empty(chunks), np.empty(2, x.dtype), task_entry(_flat_task, x.dtype), runner()):
        raise MemoryError("center: a task failed")


# --- inner > 1: columns ---


@inner
def _split_all(mean, dtype_of):
    """_split for each element of a 2-D float64 array of means."""
    hi = np.empty(mean.shape, dtype_of.dtype)
    lo = np.empty(mean.shape, dtype_of.dtype)
    for o in range(mean.shape[0]):
        for i in range(mean.shape[1]):
            hi[o, i], lo[o, i] = _split(mean[o, i], dtype_of)
    return hi, lo


@inner
def _split_means(partials, red, dtype_of):
    """_split_all of partials (outer, blocks, inner) summed over the blocks and divided by red, in plain loops:
    as array expressions inside the parallel function each became a parallel loop of its own to compile
    (3.3 s of the cold first call, measured)."""
    outer, blocks, inner = partials.shape
    mean = np.zeros((outer, inner), np.float64)
    for o in range(outer):
        for b in range(blocks):
            for i in range(inner):
                mean[o, i] += partials[o, b, i]
        for i in range(inner):
            mean[o, i] /= red
    return _split_all(mean, dtype_of)


@inner
def _column_sums(x3, o, r0, r1, acc):
    """acc[:] = float64 sums of x3[o, r0:r1, :] over the rows."""
    acc[:] = 0.0
    rows = x3[o, r0:r1]
    for r in range(rows.shape[0]):  # indexed: `for row in rows` left the inner loop scalar (4x slower, measured)
        row = rows[r]
        for i in range(row.size):
            acc[i] += np.float64(row[i])


@inner
def _subtract_columns(x3, hi, lo, o, r0, r1, out3):
    """out3[o, r0:r1] = (x3[o, r0:r1] - hi[o]) - lo[o], in explicit vectors.

    Left to LLVM, the loop is vectorized behind a per-row overlap check of four
    arrays and ran at 1.7x a copy's time; as vectors, 1.2x (3000 x 1000 float32).
    """
    h, l = hi[o], lo[o]
    rows, out_rows = x3[o, r0:r1], out3[o, r0:r1]
    n = rows.shape[1]
    whole = n - n % LANES
    for r in range(rows.shape[0]):
        row, out_row = rows[r], out_rows[r]
        for i in range(0, whole, LANES):
            store(out_row, i, (load(row, i) - load(h, i)) - load(l, i))
        for i in range(whole, n):
            out_row[i] = (row[i] - h[i]) - l[i]


def _columns_task(out, args, task):
    """Task `task` over (outer, block of rows) of x3 (outer, red, inner): its partial column sums into
    partials[o, b] (pass 0), or its rows' (x - hi[o]) - lo[o] into out (pass 1)."""
    outer, red, inner, stage, rows_per_block = args[1], args[2], args[3], args[4], args[5]
    blocks = (red + rows_per_block - 1) // rows_per_block
    x3, out3 = carray(pointer(args[0], out), (outer, red, inner)), carray(out, (outer, red, inner))
    partials = carray(pointer(args[6], np.float64), (outer, blocks, inner))
    hi, lo = carray(pointer(args[7], out), (outer, inner)), carray(pointer(args[8], out), (outer, inner))
    o, b = task // blocks, task % blocks
    r0, r1 = b * rows_per_block, min(red, (b + 1) * rows_per_block)
    try:
        if stage == 0:
            _column_sums(x3, o, r0, r1, partials[o, b])
        else:
            _subtract_columns(x3, hi, lo, o, r0, r1, out3)
    except Exception:  # noqa: BLE001
        return 1
    return 0


@njit(cache=True)
def _center_columns(x3, rows_per_block, out3, partials, hi, lo, entry, runner):
    """Tasks over (outer, block of rows), on the threads: partial column sums into partials (outer, blocks,
    inner), then the subtraction of the means split into hi and lo (outer, inner) (arguments, as in
    _center_flat_tasks). Returns nonzero where a task failed."""
    outer, red, inner = x3.shape
    tasks = outer * partials.shape[1]
    block, args = task_block(entry, out3.ctypes.data, np.int64(9))
    args[0], args[1], args[2], args[3], args[4], args[5] = x3.ctypes.data, outer, red, inner, 0, rows_per_block
    args[6], args[7], args[8] = partials.ctypes.data, hi.ctypes.data, lo.ctypes.data
    if run_tasks(runner, block, tasks):
        return 1
    means_hi, means_lo = _split_means(partials, red, x3)
    for o in range(outer):  # into the arrays the tasks read
        for i in range(inner):
            hi[o, i], lo[o, i] = means_hi[o, i], means_lo[o, i]
    args[4] = 1
    return run_tasks(runner, block, tasks)


@njit(cache=True)
def _center_columns_serial(x3, rows_per_block, out3):
    outer, red, inner = x3.shape
    blocks = (red + rows_per_block - 1) // rows_per_block
    sums = np.zeros((outer, inner), np.float64)
    acc = np.empty(inner, np.float64)
    for o in range(outer):
        for b in range(blocks):
            _column_sums(x3, o, b * rows_per_block, min(red, (b + 1) * rows_per_block), acc)
            for i in range(inner):  # not `sums[o] += acc`: that compiles Numba's shape-error message
                sums[o, i] += acc[i]
    hi, lo = _split_means(sums.reshape(outer, 1, inner), red, x3)
    for o in range(outer):
        _subtract_columns(x3, hi, lo, o, np.int64(0), red, out3)


def _center3(x3, out3):
    outer, red, inner = x3.shape
    parallel = x3.size >= PARALLEL_MIN_ELEMENTS
    if inner == 1:
        x2, out2 = x3.reshape(outer, red), out3.reshape(outer, red)
        if outer == 1:
            _center_flat(x2[0], out2[0])
        elif not parallel:
            _center_rows(x2, out2)
        elif _center_rows_tasks(x2, out2, task_entry(_rows_task, x2.dtype), runner()):
            raise MemoryError("center: a task failed")
    else:
        rows_per_block = max(1, _CHUNK // inner)
        if not parallel:
            _center_columns_serial(x3, rows_per_block, out3)
        else:
            blocks = -(-red // rows_per_block)
            hi, lo = np.empty((outer, inner), x3.dtype), np.empty((outer, inner), x3.dtype)
            if _center_columns(x3, rows_per_block, out3, np.empty((outer, blocks, inner)), hi, lo,
                               task_entry(_columns_task, x3.dtype), runner()):
                raise MemoryError("center: a task failed")


def center(x, axes):
    """x - x.mean(axes, keepdims=True) for a C-contiguous float array of any shape.

    axes: None (all of them) or a sorted tuple of distinct axes (empty: nothing is reduced).
    """
    out = _alloc.empty(x.shape, x.dtype)
    if x.size == 0:
        return out
    if axes is None or len(axes) == x.ndim:  # everything reduced: one flat row
        _center_flat(*((x, out) if x.ndim == 1 else (x.reshape(-1), out.reshape(-1))))
        return out
    return center_by_layout(np, x, axes, out, _center3, _alloc.empty)


def center_backward(grad_y, axes):
    # The Jacobian of centering, I - 11^T/m, is symmetric: the gradient is grad_y centered.
    return center(grad_y, axes)
