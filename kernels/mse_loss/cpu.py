"""mse_loss and its gradient on the CPU (Numba): input and target of one shape, flattened; (input - target)^2
summed in float64, the gradient 2 (input - target) * grad_y in one pass."""

import numpy as np
from numba import njit

from ..cpu import _alloc


@njit(cache=True)
def _squared_error_sum(y, t):
    total = 0.0
    for i in range(y.size):
        d = np.float64(y[i]) - np.float64(t[i])
        total += d * d
    return total


@njit(cache=True)
def _squared_errors(y, t, out):
    for i in range(y.size):
        d = y[i] - t[i]
        out[i] = d * d


def mse_loss(y, target, reduction):
    if reduction == "none":
        out = _alloc.empty(y.shape, y.dtype)
        _squared_errors(y.reshape(-1), target.reshape(-1), out.reshape(-1))
        return out
    total = _squared_error_sum(y.reshape(-1), target.reshape(-1))
    if reduction == "mean":
        total = total / y.size if y.size else np.nan
    return np.asarray(total, y.dtype)


@njit(cache=True)
def _mse_grad(y, t, scales, grad):
    stride = 1 if scales.size > 1 else 0  # a scale per element ("none"), or one for all
    for i in range(y.size):
        grad[i] = 2 * (y[i] - t[i]) * scales[i * stride]


def mse_loss_backward(grad_y, y, target, reduction):
    """(grad_y_input, grad_target) = (2 (y - t) g, -that), g / size for "mean"."""
    grad = _alloc.empty(y.shape, y.dtype)
    if reduction == "none":
        scales = np.ascontiguousarray(grad_y, y.dtype).reshape(-1)
    else:
        g = np.float64(grad_y) / (y.size if reduction == "mean" else 1)
        scales = np.full(1, g, y.dtype)
    _mse_grad(y.reshape(-1), target.reshape(-1), scales, grad.reshape(-1))
    return grad, -grad
