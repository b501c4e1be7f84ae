"""mse_loss and its gradient on the GPU: CuPy's float64 sum for the loss, one elementwise kernel
(mse_loss.cu beside this file) for the gradient."""

from pathlib import Path

import cupy
import numpy as np

from ..gpu import _alloc
from ..gpu._modules import i64, kernel, launch

_SOURCE = Path(__file__).with_name("mse_loss.cu")  # this op's CUDA kernel, compiled by CuPy per dtype


def mse_loss(y, target, reduction):
    d = y - target
    if reduction == "none":
        return d * d
    total = cupy.sum(d.astype(np.float64) ** 2)
    return (total / y.size if reduction == "mean" else total).astype(y.dtype)


def mse_loss_backward(grad_y, y, target, reduction):
    grad = _alloc.empty(y.shape, y.dtype)
    if reduction == "none":
        scales = cupy.ascontiguousarray(grad_y, y.dtype).reshape(-1)
    else:
        scales = (cupy.asarray(grad_y, np.float64) / (y.size if reduction == "mean" else 1)).astype(y.dtype).reshape(1)
    launch(kernel(_SOURCE, "mse_grad", y.dtype), y.size, y, target, scales, i64(scales.size > 1), grad, i64(y.size))
    return grad, -grad
