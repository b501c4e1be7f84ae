"""cross_entropy and its gradient on the GPU: one block per row of logits
(cross_entropy.cu beside this file), sums in float64. Shapes as on the CPU: logits (n, C), labels (n,) int64."""

from pathlib import Path

import cupy
import numpy as np

from ..gpu import _alloc
from ..gpu._modules import THREADS, grid_for, i64, kernel

_SOURCE = Path(__file__).with_name("cross_entropy.cu")  # this op's CUDA kernels, compiled by CuPy per dtype


def first_bad_label(labels, classes, ignore_index):
    """Index of the first label outside [0, classes) that is not ignore_index, or -1."""
    bad = cupy.flatnonzero(((labels < 0) | (labels >= classes)) & (labels != ignore_index))
    return int(bad[0]) if bad.size else -1


def cross_entropy(logits, labels, reduction, ignore_index):
    n, classes = logits.shape
    losses = _alloc.empty(n, np.float64)
    if n:
        kernel(_SOURCE, "cross_entropy_rows", logits.dtype)(
            (grid_for(n),), (THREADS,), (logits, labels, losses, i64(n), i64(classes), i64(ignore_index))
        )
    if reduction == "none":
        return losses.astype(logits.dtype), None
    total = losses.sum()
    if reduction == "mean":
        total = total / (labels != ignore_index).sum()  # 0 / 0: NaN, as PyTorch's
    return total.astype(logits.dtype), None  # the backward recomputes each row's logsumexp


def cross_entropy_backward(grad_y, logits, labels, reduction, ignore_index, lse=None):
    n, classes = logits.shape
    grad = _alloc.empty(logits.shape, logits.dtype)
    if reduction == "none":
        scales = cupy.ascontiguousarray(grad_y, np.float64).reshape(-1)
    else:
        scales = cupy.asarray(grad_y, np.float64).reshape(1)
        if reduction == "mean":
            scales = scales / (labels != ignore_index).sum()
    if n:
        kernel(_SOURCE, "cross_entropy_grad_rows", logits.dtype)(
            (grid_for(n),), (THREADS,),
            (logits, labels, scales, i64(scales.size > 1), grad, i64(n), i64(classes), i64(ignore_index)),
        )
    return grad
