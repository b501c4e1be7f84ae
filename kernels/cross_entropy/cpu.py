"""cross_entropy and its gradient on the CPU (Numba), each one fused pass.

cross_entropy: logits (n, C) float, labels (n,) int64. A row's loss is
logsumexp(row) - row[label], with the max subtracted first (1e4-sized logits stay
exact) and the exponentials summed in float64 by our vectorizing exp (cpu/_math.py). The backward recomputes the row's
logsumexp (the row is still in cache) and writes (softmax - onehot) * scale in the
same pass, as llm.c's fused classifier does. Rows whose label is ignore_index add
nothing and are left out of the mean's count.
"""

import math

import numpy as np
from numba import njit, prange

from ..cpu import _alloc
from ..cpu._math import exp_nonpositive, row_max

_PARALLEL_MIN_ELEMENTS = 1 << 16  # below this the rows go on one thread (waking the team costs more)


@njit(cache=True)
def first_bad_label(labels, classes, ignore_index):
    """Index of the first label outside [0, classes) that is not ignore_index, or -1."""
    for i in range(labels.size):
        label = labels[i]
        if (label < 0 or label >= classes) and label != ignore_index:
            return i
    return -1


@njit(cache=True, fastmath={"reassoc"})  # reassociation lets the sum vectorize; NaN and inf still propagate
def _sum_exp(row, shift):
    total = 0.0
    for j in range(row.size):
        total += exp_nonpositive(np.float64(row[j]) - shift)
    return total


@njit(cache=True)
def _logsumexp(row):
    """log(sum(exp(row))) in float64, the max subtracted first; NaN or +inf anywhere gives NaN, as PyTorch's
    log_softmax has it (+inf - +inf)."""
    shift = np.float64(row_max(row))
    return shift + math.log(_sum_exp(row, shift))


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
def _softmax_times(row, lse, scale, out):
    """out = softmax(row) * scale, given the row's logsumexp; returns the softmax's sum, 1 when lse is right."""
    total = 0.0
    for j in range(row.size):
        p = exp_nonpositive(np.float64(row[j]) - lse)
        total += p
        out[j] = p * scale
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
    if lse.size == 0 or not abs(_softmax_times(row, lse[i], scale, out) - 1.0) <= 1e-9:
        _softmax_times(row, _logsumexp(row), scale, out)
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
