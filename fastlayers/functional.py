"""Differentiable ops for use inside forward(): each a kernel and its gradient kernel, joined by fl.op.

Inputs are arrays or Parameters; outputs are arrays.
"""

import numpy as np

import kernels

from .autograd import op


def _linear_grads(grad_y, y, x, weight, bias=None):
    grad_x, grad_w, grad_b = kernels.linear_backward(grad_y, x, weight)
    return grad_x, grad_w, (None if bias is None else grad_b)


def _linear_relu_grads(grad_y, y, x, weight, bias=None):
    grad_x, grad_w, grad_b = kernels.linear_relu_backward(grad_y, x, weight, y)
    return grad_x, grad_w, (None if bias is None else grad_b)


# The two ops behind linear, one per activation: a layer picks its op once, at construction.
LINEAR_OPS = {None: op(kernels.linear, _linear_grads), "relu": op(kernels.linear_relu, _linear_relu_grads)}


def linear(x, weight, bias=None, activation=None):
    """x @ weight + bias, then the activation (None or "relu", fused into the GEMM's epilogue).

    x (n, in) or (in,), weight (in, out), bias (out,) or None.
    """
    if activation not in LINEAR_OPS:
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    return LINEAR_OPS[activation](x, weight, bias)

relu = op(kernels.relu, lambda grad_y, y, x: (kernels.relu_backward(grad_y, y),))
center = op(kernels.center, lambda grad_y, y, x, axis=None: (kernels.center_backward(grad_y, axis),))
tensor_reduction = op(kernels.tensor_reduction, lambda grad_y, y, x, w: kernels.tensor_reduction_backward(grad_y, x, w))
fft_half = op(kernels.fft_half, lambda grad_y, y, x: (kernels.fft_half_backward(grad_y, np.shape(x)[-1]),))

__all__ = ["linear", "relu", "center", "tensor_reduction", "fft_half"]
