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
from numba import njit, prange

from ..cpu import _alloc
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


# float64 logits: float64 exponentials. float32 logits (rows of 64 classes or more): float32 exponentials on
# 8 lanes (exp_nonpositive32), summed in float32 over blocks of 256 and the block sums in float64. (4096,
# 1000): forward 1.45 -> 0.75 ms, backward 1.29 -> 0.61 ms (medians, side by side with the float64 path).
# Precision, 5120 rows of 1000 against the float64 formula: losses within 2.6e-7 relative (5.8e-8 before);
# each softmax value within 1.7e-6 (6e-8 before): a float32 x - logsumexp = t is off by up to |t| 2^-24,
# as in PyTorch's float32 softmax; the values that matter (t near 0) are as good as before.
_BLOCK = 256
_SHORT = 64  # rows shorter than this stay on float64 exponentials: their vector loops never start (measured:
# (64, 10) forward and backward took 1.4 and 3.6 us longer on the float32 path). With the choice made per row,
# (64, 10) still costs 0.1 us (forward) and 0.5 us (backward) more than before the float32 path existed.


@njit(cache=True, fastmath={"reassoc"})  # reassociation lets the sum vectorize; NaN and inf still propagate
def _sum_exp64(row, shift):
    total = 0.0
    for j in range(row.size):
        total += exp_nonpositive(np.float64(row[j]) - shift)
    return total


@njit(cache=True, fastmath={"reassoc"})
def _sum_exp_block32(row, shift):
    total = np.float32(0.0)
    for j in range(row.size):
        total += exp_nonpositive32(row[j] - shift)  # shift is the row's max: no reassociation can move it
    return total


@njit(cache=True)
def _sum_exp32(row, shift):
    s = np.float32(shift)  # the row's max, a float32 value
    total = 0.0
    for b0 in range(0, row.size, _BLOCK):
        total += np.float64(_sum_exp_block32(row[b0 : min(row.size, b0 + _BLOCK)], s))
    return total


@njit(cache=True)
def _wide32(row):
    """Whether row takes the float32 exponentials: float32 (itemsize 4; Numba has no dtype test) and at least
    _SHORT long. A plain branch, not a Numba overload per dtype: that kept the per-row functions from being
    inlined and cost (64, 10)'s backward 1.2 us (measured)."""
    return row.itemsize == 4 and row.size >= _SHORT


@njit(cache=True)
def _logsumexp(row):
    """log(sum(exp(row))) in float64, the max subtracted first; NaN or +inf anywhere gives NaN, as PyTorch's
    log_softmax has it (+inf - +inf)."""
    shift = np.float64(row_max(row))
    return shift + math.log(_sum_exp32(row, shift) if _wide32(row) else _sum_exp64(row, shift))


@njit(cache=True)
def _row_loss(logits, labels, ignore_index, i, lse):
    """(row i's loss, 1), or (0, 0) for an ignored row; lse[i] = the row's logsumexp, kept for the backward."""
    label = labels[i]
    if label == ignore_index:
        lse[i] = np.nan
        return 0.0, 0
    row = logits[i]
    lse[i] = _logsumexp(row)
    return lse[i] - np.float64(row[label]), 1


@njit(cache=True)
def _cross_entropy_serial(logits, labels, ignore_index, losses, lse):
    total, count = 0.0, 0
    for i in range(logits.shape[0]):
        loss, used = _row_loss(logits, labels, ignore_index, i, lse)
        losses[i] = loss
        total += loss
        count += used
    return total, count


@njit(cache=True, parallel=True)
def _cross_entropy_parallel(logits, labels, ignore_index, losses, lse):
    total, count = 0.0, 0
    for i in prange(logits.shape[0]):
        loss, used = _row_loss(logits, labels, ignore_index, i, lse)
        losses[i] = loss
        total += loss
        count += used
    return total, count


def cross_entropy(logits, labels, reduction, ignore_index):
    """(loss, lse): reduction "mean" or "sum", a 0-d array in logits' dtype, "none", (n,); lse (n,) float64,
    each row's logsumexp, which spares the backward two passes over the row."""
    n = logits.shape[0]
    losses = _alloc.empty(n, np.float64)
    lse = _alloc.empty(n, np.float64)
    kernel = _cross_entropy_parallel if logits.size >= _PARALLEL_MIN_ELEMENTS else _cross_entropy_serial
    total, count = kernel(logits, labels, ignore_index, losses, lse)
    if reduction == "none":
        return losses.astype(logits.dtype), lse
    if reduction == "mean":
        total = total / count if count else np.nan  # PyTorch's: every label ignored gives NaN
    return np.asarray(total, logits.dtype), lse


@njit(cache=True, fastmath={"reassoc"})  # reassociation lets the sum vectorize; NaN and inf still propagate
def _softmax_times64(row, lse, scale, out):
    total = 0.0
    for j in range(row.size):
        p = exp_nonpositive(np.float64(row[j]) - lse)
        total += p
        out[j] = p * scale
    return total


@njit(cache=True)  # no fastmath: inlined into the loop below, (v - hi) - lo keeps its order (flags are per instruction)
def _minus_split(v, hi, lo):
    return (v - hi) - lo


@njit(cache=True, fastmath={"reassoc"})
def _softmax_times_block32(row, hi, lo, scale, out):
    total = np.float32(0.0)
    for j in range(row.size):
        p = exp_nonpositive32(_minus_split(row[j], hi, lo))
        total += p
        out[j] = p * scale
    return total


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _cross_entropy_backward_serial(logits, labels, ignore_index, scales, lse, grad):
    stride = 1 if scales.size > 1 else 0  # a scale per row ("none"), or one for all
    for i in range(logits.shape[0]):
        _row_grad(logits, labels, ignore_index, i, scales[i * stride], lse, grad)


@njit(cache=True, parallel=True)
def _cross_entropy_backward_parallel(logits, labels, ignore_index, scales, lse, grad):
    stride = 1 if scales.size > 1 else 0
    for i in prange(logits.shape[0]):
        _row_grad(logits, labels, ignore_index, i, scales[i * stride], lse, grad)


_NO_LSE = np.zeros(0, np.float64)


def cross_entropy_backward(grad_y, logits, labels, reduction, ignore_index, lse=None):
    """grad_logits (n, C) = (softmax - onehot) * grad_y (per row for "none"; / count for "mean").

    lse: the forward's logsumexp per row, if the caller has it; else it is recomputed.
    """
    grad = _alloc.empty(logits.shape, logits.dtype)
    if reduction == "none":
        scales = np.asarray(grad_y, np.float64).reshape(-1)
    else:
        g = np.float64(grad_y)
        if reduction == "mean":
            count = _count_used(labels, ignore_index)
            g = g / count if count else np.nan
        scales = np.full(1, g)
    kernel = _cross_entropy_backward_parallel if logits.size >= _PARALLEL_MIN_ELEMENTS else _cross_entropy_backward_serial
    kernel(logits, labels, ignore_index, scales, _NO_LSE if lse is None else lse, grad)
    return grad
