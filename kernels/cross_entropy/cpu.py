"""cross_entropy and its gradient on the CPU (Numba), each one fused pass.

cross_entropy: logits (n, C) float, labels (n,) int64. A row's loss is
logsumexp(row) - row[label], with the max subtracted first (1e4-sized logits stay
exact) and the exponentials summed in float64 by our vectorizing exp (cpu/_math.py; float32 rows: float32 exponentials
summed in float32 blocks, see below). The backward recomputes the row's
logsumexp (the row is still in cache) and writes (softmax - onehot) * scale in the
same pass, as llm.c's fused classifier does. Rows whose label is ignore_index add
nothing and are left out of the mean's count.
"""

import math

import numpy as np
from numba import carray, njit

from ..cpu import _alloc
from ..cpu._inner import inner
from ..cpu._native import pointer, run_tasks, runner, task_block, task_entry
from ..cpu._math import exp_nonpositive, exp_nonpositive32, row_max

_PARALLEL_MIN_ELEMENTS = 1 << 16  # below this the rows go on one thread (waking the team costs more)


@njit(cache=True)
def first_bad_label(labels, classes, ignore_index):
    """Index of the first label outside [0, classes) that is not ignore_index, or -1."""
    for i in range(labels.size):
        label = labels[i]
        if (label < 0 or label >= classes) and label != ignore_index:
            return i
    return -1


# float64 logits: float64 exponentials. float32 logits (rows of _SHORT classes or more): float32 exponentials on
# 8 lanes (exp_nonpositive32), summed in float32 over blocks of 256 and the block sums in float64. (4096,
# 1000): forward 1.45 -> 0.75 ms, backward 1.29 -> 0.61 ms (medians, side by side with the float64 path).
# Precision, 5120 rows of 1000 against the float64 formula: losses within 2.6e-7 relative (5.8e-8 before);
# each softmax value within 1.7e-6 (6e-8 before): a float32 x - logsumexp = t is off by up to |t| 2^-24,
# as in PyTorch's float32 softmax; the values that matter (t near 0) are as good as before.
_BLOCK = 256
# Rows of fewer than _SHORT classes: a loop within one row never gets past its scalar remainder, so a chunk of
# up to 256 rows is shifted into one float64 array and its exponentials taken in one vectorized loop, then
# summed row by row (_short_rows_lse, _short_rows_grad): (1024, 10) forward 64 -> 37 us, backward 63 -> 42 us;
# (64, 10) 7.1 -> 5.9 and 7.4 -> 6.9 us (float64 exponentials, as before).
_SHORT = 64


@inner(fastmath={"reassoc"})  # reassociation lets the sum vectorize; NaN and inf still propagate
def _sum_exp64(row, shift):
    total = 0.0
    for j in range(row.size):
        total += exp_nonpositive(np.float64(row[j]) - shift)
    return total


@inner(fastmath={"reassoc"})
def _sum_exp_block32(row, shift):
    total = np.float32(0.0)
    for j in range(row.size):
        total += exp_nonpositive32(row[j] - shift)  # shift is the row's max: no reassociation can move it
    return total


@inner
def _sum_exp32(row, shift):
    s = np.float32(shift)  # the row's max, a float32 value
    total = 0.0
    for b0 in range(0, row.size, _BLOCK):
        total += np.float64(_sum_exp_block32(row[b0 : min(row.size, b0 + _BLOCK)], s))
    return total


@inner
def _wide32(row):
    """Whether row takes the float32 exponentials: float32 (itemsize 4; Numba has no dtype test) and at least
    _SHORT long. A plain branch, not a Numba overload per dtype: that kept the per-row functions from being
    inlined and cost (64, 10)'s backward 1.2 us (measured)."""
    return row.itemsize == 4 and row.size >= _SHORT


@inner
def _logsumexp(row):
    """log(sum(exp(row))) in float64, the max subtracted first; NaN or +inf anywhere gives NaN, as PyTorch's
    log_softmax has it (+inf - +inf)."""
    shift = np.float64(row_max(row))
    return shift + math.log(_sum_exp32(row, shift) if _wide32(row) else _sum_exp64(row, shift))


@inner
def _exp_in_place(t):
    """t[:] = exp(t), t <= 0, float64: one loop over a whole chunk of short rows, which LLVM vectorizes
    (within a row of 10 it never got past the scalar remainder)."""
    for e in range(t.size):
        t[e] = exp_nonpositive(t[e])


@inner
def _short_rows_shifted(logits, i0, i1, shifts, t):
    """t[(i - i0) C + j] = logits[i, j] - shifts[i - i0], in float64, for rows i0 <= i < i1."""
    classes = logits.shape[1]
    for i in range(i0, i1):
        row, shift, base = logits[i], shifts[i - i0], (i - i0) * classes
        for j in range(classes):
            t[base + j] = np.float64(row[j]) - shift


@inner
def _short_rows_lse(logits, i0, i1, out):
    """out[i - i0] = row i's logsumexp, for rows of fewer than _SHORT classes: the exponentials of all the
    rows at once (float64), then each row's sum."""
    classes = logits.shape[1]
    for i in range(i0, i1):
        out[i - i0] = np.float64(row_max(logits[i]))
    t = np.empty((i1 - i0) * classes, np.float64)
    _short_rows_shifted(logits, i0, i1, out, t)
    _exp_in_place(t)
    for k in range(i1 - i0):
        total = 0.0
        for j in range(k * classes, (k + 1) * classes):
            total += t[j]
        out[k] = out[k] + math.log(total)


@inner
def _loss_rows(logits, labels, ignore_index, i0, i1, losses, lse):
    """losses[i] and lse[i] for rows i0 <= i < i1; returns (their total, how many were not ignored)."""
    if logits.shape[1] < _SHORT:
        _short_rows_lse(logits, i0, i1, lse[i0:i1])
    total, count = 0.0, 0
    for i in range(i0, i1):
        label = labels[i]
        if label == ignore_index:
            lse[i] = np.nan
            losses[i] = 0.0
            continue
        if logits.shape[1] >= _SHORT:
            lse[i] = _logsumexp(logits[i])
        losses[i] = lse[i] - np.float64(logits[i, label])
        total += losses[i]
        count += 1
    return total, count


def _chunk_rows(classes: int) -> int:
    """Rows per task: about 16K logits, at most 256 rows (a short-row chunk's exponentials stay in L2)."""
    return max(1, min(256, 16384 // max(1, classes)))


@njit(cache=True)
def _cross_entropy_serial(logits, labels, ignore_index, losses, lse, chunk):
    total, count = 0.0, 0
    n = logits.shape[0]
    for i0 in range(0, n, chunk):
        t, c = _loss_rows(logits, labels, ignore_index, i0, min(n, i0 + chunk), losses, lse)
        total += t
        count += c
    return total, count


def _loss_task(logits, args, task):
    """Chunk `task` of the forward (a C callback, _native; compiled for logits' dtype, its outputs being float64):
    its rows' losses and logsumexps, and their total and count into partial[task]; args: labels, losses, lse,
    partial (addresses), n, classes, ignore_index, chunk. Returns 0, or 1 where it raised."""
    n, classes, ignore_index, chunk = args[4], args[5], args[6], args[7]
    logits_, labels = carray(logits, (n, classes)), carray(pointer(args[0], np.int64), n)
    losses, lse = carray(pointer(args[1], np.float64), n), carray(pointer(args[2], np.float64), n)
    partial = carray(pointer(args[3], np.float64), ((n + chunk - 1) // chunk, 2))
    i0 = task * chunk
    try:  # only the work (kernels/cpu/_native)
        total, count = _loss_rows(logits_, labels, ignore_index, i0, min(n, i0 + chunk), losses, lse)
    except Exception:  # noqa: BLE001
        return 1
    partial[task, 0], partial[task, 1] = total, count
    return 0


@njit(cache=True)
def _cross_entropy_tasks(logits, labels, ignore_index, losses, lse, partial, chunk, entry, runner):
    """_loss_task for every chunk of rows, on the threads; partial (chunks, 2) takes each chunk's total and
    count. Returns (total, count, failed): the chunks' sums added in order, the same on any number of threads."""
    n, classes = logits.shape
    block, args = task_block(entry, logits.ctypes.data, np.int64(8))
    args[0], args[1], args[2], args[3] = labels.ctypes.data, losses.ctypes.data, lse.ctypes.data, partial.ctypes.data
    args[4], args[5], args[6], args[7] = n, classes, ignore_index, chunk
    failed = run_tasks(runner, block, partial.shape[0])
    total, count = 0.0, 0
    for k in range(partial.shape[0]):
        total += partial[k, 0]
        count += np.int64(partial[k, 1])
    return total, count, failed


def cross_entropy(logits, labels, reduction, ignore_index):
    """(loss, lse): reduction "mean" or "sum", a 0-d array in logits' dtype, "none", (n,); lse (n,) float64,
    each row's logsumexp, which spares the backward two passes over the row."""
    n = logits.shape[0]
    losses = _alloc.empty(n, np.float64)
    lse = _alloc.empty(n, np.float64)
    chunk = _chunk_rows(logits.shape[1])
    if logits.size < _PARALLEL_MIN_ELEMENTS:
        total, count = _cross_entropy_serial(logits, labels, ignore_index, losses, lse, chunk)
    else:
        logits = np.ascontiguousarray(logits)  # the tasks read it by address
        entry = task_entry(_loss_task, logits.dtype)
        total, count, failed = _cross_entropy_tasks(logits, np.ascontiguousarray(labels), ignore_index, losses, lse,
                                                    np.empty((-(-n // chunk), 2)), chunk, entry, runner())
        if failed:
            raise MemoryError("cross_entropy: a chunk of rows failed (out of memory for its exponentials)")
    if reduction == "none":
        return losses.astype(logits.dtype), lse
    if reduction == "mean":
        total = total / count if count else np.nan  # PyTorch's: every label ignored gives NaN
    return np.asarray(total, logits.dtype), lse


@inner(fastmath={"reassoc"})  # reassociation lets the sum vectorize; NaN and inf still propagate
def _softmax_times64(row, lse, scale, out):
    total = 0.0
    for j in range(row.size):
        p = exp_nonpositive(np.float64(row[j]) - lse)
        total += p
        out[j] = p * scale
    return total


@inner  # no fastmath: inlined into the loop below, (v - hi) - lo keeps its order (flags are per instruction)
def _minus_split(v, hi, lo):
    return (v - hi) - lo


@inner(fastmath={"reassoc"})
def _softmax_times_block32(row, hi, lo, scale, out):
    total = np.float32(0.0)
    for j in range(row.size):
        p = exp_nonpositive32(_minus_split(row[j], hi, lo))
        total += p
        out[j] = p * scale
    return total


@inner
def _softmax_times32(row, lse, scale, out):
    """The row minus lse as hi + lo, two float32 numbers (as center subtracts a mean): rounded once."""
    hi = np.float32(lse)
    lo = np.float32(lse - np.float64(hi) if np.isfinite(hi) else 0.0)
    s = np.float32(scale)
    total = 0.0
    for b0 in range(0, row.size, _BLOCK):
        b1 = min(row.size, b0 + _BLOCK)
        total += np.float64(_softmax_times_block32(row[b0:b1], hi, lo, s, out[b0:b1]))
    return total


@inner
def _row_grad(logits, labels, ignore_index, i, scale, lse, grad):
    """Row i of the gradient; lse: the forward's logsumexp per row, or an empty array to compute it here."""
    row, out = logits[i], grad[i]
    label = labels[i]
    if label == ignore_index:
        for j in range(row.size):
            out[j] = 0
        return
    # The forward's logsumexp is used only if the softmax it gives sums to 1: logits written in place since
    # the forward (or NaN) fail that, and the row is done again from its own logsumexp.
    wide = _wide32(row)
    if lse.size > 0:
        total = _softmax_times32(row, lse[i], scale, out) if wide else _softmax_times64(row, lse[i], scale, out)
        if abs(total - 1.0) <= (1e-5 if wide else 1e-9):  # 1 to within the rounding of the exponentials used
            out[label] -= scale
            return
    if wide:
        _softmax_times32(row, _logsumexp(row), scale, out)
    else:
        _softmax_times64(row, _logsumexp(row), scale, out)
    out[label] -= scale


@njit(cache=True)
def _count_used(labels, ignore_index):
    count = 0
    for i in range(labels.size):
        count += labels[i] != ignore_index
    return count


@inner
def _short_rows_grad(logits, labels, ignore_index, i0, i1, scales, stride, lse, grad):
    """_row_grad for rows i0 <= i < i1 of fewer than _SHORT classes: the exponentials of all of them at once.
    The same arithmetic as the forward's _short_rows_lse, so a recomputed logsumexp is the saved one."""
    classes = logits.shape[1]
    shifts = np.empty(i1 - i0, np.float64)
    if lse.size:
        for i in range(i0, i1):
            shifts[i - i0] = lse[i]
    else:
        _short_rows_lse(logits, i0, i1, shifts)
    t = np.empty((i1 - i0) * classes, np.float64)
    _short_rows_shifted(logits, i0, i1, shifts, t)
    _exp_in_place(t)
    for i in range(i0, i1):
        out, label, base = grad[i], labels[i], (i - i0) * classes
        if label == ignore_index:
            for j in range(classes):
                out[j] = 0
            continue
        p = t[base : base + classes]
        total = 0.0
        for j in range(classes):
            total += p[j]
        if not abs(total - 1.0) <= 1e-9:  # a stale logsumexp (logits written since the forward), or NaN
            _short_rows_lse(logits, i, i + 1, shifts[i - i0 : i - i0 + 1])
            _short_rows_shifted(logits, i, i + 1, shifts[i - i0 : i - i0 + 1], p)
            _exp_in_place(p)
        scale = scales[i * stride]
        for j in range(classes):
            out[j] = p[j] * scale
        out[label] -= scale


@njit(cache=True, inline="always")  # one caller, _grad_task: compiled there only
def _grad_rows(logits, labels, ignore_index, i0, i1, scales, lse, grad):
    if logits.shape[1] < _SHORT:
        _short_rows_grad(logits, labels, ignore_index, i0, i1, scales, 1 if scales.size > 1 else 0, lse, grad)
        return
    stride = 1 if scales.size > 1 else 0  # a scale per row ("none"), or one for all
    for i in range(i0, i1):
        _row_grad(logits, labels, ignore_index, i, scales[i * stride], lse, grad)


def _grad_task(grad, args, task):
    """Chunk `task` of the backward (a C callback, _native): its rows of grad (n, classes); args: logits, labels,
    scales, lse (addresses), n, classes, scales.size, lse.size, ignore_index, chunk. Returns 0, or 1 where it
    raised."""
    n, classes, n_scales, n_lse, ignore_index, chunk = args[4], args[5], args[6], args[7], args[8], args[9]
    logits, labels = carray(pointer(args[0], grad), (n, classes)), carray(pointer(args[1], np.int64), n)
    scales, lse = carray(pointer(args[2], np.float64), n_scales), carray(pointer(args[3], np.float64), n_lse)
    i0 = task * chunk
    try:  # only the work (kernels/cpu/_native)
        _grad_rows(logits, labels, ignore_index, i0, min(n, i0 + chunk), scales, lse, carray(grad, (n, classes)))
    except Exception:  # noqa: BLE001
        return 1
    return 0


# The backward runs each chunk of rows through one C callback, _grad_task (kernels/cpu/_native), on this thread
# for small inputs and on the threads for large ones: the rows' code is compiled once for both. The forward's
# small inputs call _loss_rows directly instead: through the callback, under a prange driver, (64, 10)'s first
# call took 2.4 s against 1.8 s; its threads' path runs _loss_task (first call of (4096, 1000) after (64, 10)'s:
# 1.01 s with a prange loop, 0.59 s so; measured with /tmp/cold_ce3.py).


@njit(cache=True)
def _cross_entropy_backward_tasks(logits, labels, ignore_index, scales, lse, grad, chunk, entry, runner):
    """_grad_task (at entry) for every chunk of rows: on the threads where runner is _native.runner(), else on
    this thread. Returns nonzero where a chunk failed."""
    n, classes = logits.shape
    block, args = task_block(entry, grad.ctypes.data, np.int64(10))
    args[0], args[1], args[2], args[3] = logits.ctypes.data, labels.ctypes.data, scales.ctypes.data, lse.ctypes.data
    args[4], args[5], args[6], args[7], args[8], args[9] = n, classes, scales.size, lse.size, ignore_index, chunk
    return run_tasks(runner, block, (n + chunk - 1) // chunk)


_NO_LSE = np.zeros(0, np.float64)


def cross_entropy_backward(grad_y, logits, labels, reduction, ignore_index, lse=None):
    """grad_logits (n, C) = (softmax - onehot) * grad_y (per row for "none"; / count for "mean").

    lse: the forward's logsumexp per row, if the caller has it; else it is recomputed.
    """
    grad = _alloc.empty(logits.shape, logits.dtype)
    if reduction == "none":
        scales = np.ascontiguousarray(grad_y, np.float64).reshape(-1)  # the tasks read it by pointer
    else:
        g = np.float64(grad_y)
        if reduction == "mean":
            count = _count_used(labels, ignore_index)
            g = g / count if count else np.nan
        scales = np.full(1, g)
    lse = _NO_LSE if lse is None else lse
    chunk = _chunk_rows(logits.shape[1])
    threads = runner() if logits.size >= _PARALLEL_MIN_ELEMENTS else 0
    if _cross_entropy_backward_tasks(np.ascontiguousarray(logits), np.ascontiguousarray(labels), ignore_index, scales,
                                     lse, grad, chunk, task_entry(_grad_task, logits.dtype), threads):
        raise MemoryError("cross_entropy_backward: a chunk of rows failed (out of memory for its exponentials)")
    return grad
