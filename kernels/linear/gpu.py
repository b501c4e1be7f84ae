"""linear, linear_relu, relu and their gradients on the GPU: cuBLAS GEMMs (the floor) and our
epilogue kernels (linear.cu beside this file). Shapes as on the CPU: x (n, in), w (in, out), b (out,)."""

from pathlib import Path

import cupy

from ..gpu import _alloc
from ..gpu._modules import columns_by_rows, i32, i64, kernel, launch
from ..center.gpu import column_sums

_SOURCE = Path(__file__).with_name("linear.cu")  # this op's CUDA kernels, compiled by CuPy per dtype


def linear(x, w, b, apply_relu):
    n, cols = x.shape[0], w.shape[1]
    out = _alloc.empty((n, cols), x.dtype)
    cupy.matmul(x, w, out=out)
    if (b is not None or apply_relu) and out.size:
        grid, block = columns_by_rows(cols, n)
        kernel(_SOURCE, "bias_relu_epilogue", x.dtype)(
            grid, block, (out, b if b is not None else out, i64(n), i32(cols), i32(b is not None), i32(apply_relu))
        )
    return out


def relu(x):
    out = _alloc.empty(x.shape, x.dtype)
    launch(kernel(_SOURCE, "relu", x.dtype), x.size, x, out, i64(x.size))
    return out


def relu_backward(grad_y, y):
    grad_x = _alloc.empty(y.shape, y.dtype)
    launch(kernel(_SOURCE, "relu_mask", y.dtype), y.size, grad_y, y, grad_x, i64(y.size))
    return grad_x


def linear_backward(grad_y, x, w, y, need_x=True):
    """(grad_x or None unless need_x, grad_w, grad_b); y given → the ReLU mask y > 0 applies first."""
    g = grad_y if y is None else relu_backward(grad_y, y)
    grad_x = None
    if need_x:
        grad_x = _alloc.empty(x.shape, x.dtype)
        cupy.matmul(g, w.T, out=grad_x)
    grad_w = _alloc.empty(w.shape, w.dtype)
    cupy.matmul(x.T, g, out=grad_w)
    return grad_x, grad_w, column_sums(g)  # float64 sums, as on the CPU
