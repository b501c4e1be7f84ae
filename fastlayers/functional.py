"""Differentiable ops for use inside forward(): each a kernel and its gradient kernel, joined by fl.op.

Inputs are arrays or Parameters; outputs are arrays.
"""

import numpy as np

import kernels
from kernels._dispatch import cpu_backend_if_ready
from kernels._validate import normalize_axes

from .autograd import op
from .tensor import KERNEL_OPS


def _plain(kernel):
    """kernel without its check for tracked arguments (kernels' __kernels_function__ hook): an op hands it arrays."""
    return kernel.__wrapped__


def _linear_backward(grad_y, y, x, weight, mask):
    """(grad_x, grad_w, grad_b), with the ReLU's mask from y if mask.

    The forward already checked x, weight and y; when grad_y has y's shape and all
    of them already fit the CPU kernel, it is called directly, without kernels.api's
    second round of checks (0.5-2 us a call at the chapter's sizes, measured).
    """
    cpu = cpu_backend_if_ready(grad_y, x, weight, y)  # None unless all are C-contiguous NumPy, one float dtype
    if cpu is not None and x.ndim == 2 and grad_y.shape == y.shape:
        return cpu.linear_backward(grad_y, x, weight, y if mask else None)
    if mask:
        return kernels.linear_relu_backward(grad_y, x, weight, y)
    return kernels.linear_backward(grad_y, x, weight)


def _linear_grads(grad_y, y, x, weight, bias=None):
    grad_x, grad_w, grad_b = _linear_backward(grad_y, y, x, weight, mask=False)
    return grad_x, grad_w, (None if bias is None else grad_b)


def _linear_relu_grads(grad_y, y, x, weight, bias=None):
    grad_x, grad_w, grad_b = _linear_backward(grad_y, y, x, weight, mask=True)
    return grad_x, grad_w, (None if bias is None else grad_b)


# The two ops behind linear, one per activation: a layer picks its op once, at construction.
LINEAR_OPS = {None: op(_plain(kernels.linear), _linear_grads), "relu": op(_plain(kernels.linear_relu), _linear_relu_grads)}


def linear(x, weight, bias=None, activation=None):
    """x @ weight + bias, then the activation (None or "relu", fused into the GEMM's epilogue).

    x (..., in), weight (in, out), bias (out,) or None -> (..., out).
    """
    if activation not in LINEAR_OPS:
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    return LINEAR_OPS[activation](x, weight, bias)

relu = op(_plain(kernels.relu), lambda grad_y, y, x: (kernels.relu_backward(grad_y, y),))
def _center_grads(grad_y, y, x, axis=None):
    cpu = cpu_backend_if_ready(grad_y)  # as in _linear_backward: checked arrays go straight to the kernel
    if cpu is not None and grad_y.shape == y.shape:
        axes = None if axis is None else normalize_axes("center_backward", axis, grad_y.ndim)
        return (cpu.center_backward(grad_y, axes),)
    return (kernels.center_backward(grad_y, axis),)


center = op(_plain(kernels.center), _center_grads)
tensor_reduction = op(_plain(kernels.tensor_reduction), lambda grad_y, y, x, w: kernels.tensor_reduction_backward(grad_y, x, w))
fft_half = op(_plain(kernels.fft_half), lambda grad_y, y, x: (kernels.fft_half_backward(grad_y, np.shape(x)[-1]),))

cross_entropy = op(_plain(kernels.cross_entropy), kernels.cross_entropy_backward)
cross_entropy.__doc__ = """cross_entropy(logits, labels, reduction="mean", ignore_index=-100): PyTorch's, fused.

logits (n, classes), labels (n,) integer class indices. Outside a forward, on a model's
output, it continues the model's recording: ``fl.backward(F.cross_entropy(net(x), t))``.
"""
mse_loss = op(_plain(kernels.mse_loss), kernels.mse_loss_backward)
mse_loss.__doc__ = """mse_loss(input, target, reduction="mean"): mean of (input - target)^2, PyTorch's."""

# kernels' own functions called on tracked arrays inside a forward (kernels.center(X)) record these ops.
KERNEL_OPS.update({kernels.linear: LINEAR_OPS[None], kernels.linear_relu: LINEAR_OPS["relu"], kernels.relu: relu,
                   kernels.center: center, kernels.tensor_reduction: tensor_reduction, kernels.fft_half: fft_half,
                   kernels.cross_entropy: cross_entropy, kernels.mse_loss: mse_loss})

__all__ = ["linear", "relu", "center", "tensor_reduction", "fft_half", "cross_entropy", "mse_loss"]
