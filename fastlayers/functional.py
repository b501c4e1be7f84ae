"""Differentiable ops for use inside forward(): every op of kernels (kernels.OPS), its kernel and its
gradient kernel joined by fl.op, under the same name — relu, center, tensor_reduction, fft_half,
cross_entropy, mse_loss, ... — and linear(x, weight, bias, activation), the Linear layer's op.

Inputs are arrays, tracked arrays or Parameters; outputs are tracked arrays inside a forward.
"""

import kernels

from .autograd import op
from .tensor import KERNEL_OPS


def _differentiable(kernel_op):
    # forward: the kernel without its check for tracked arguments (fl.op hands it plain arrays);
    # backward: the tape's route, straight to the kernels for the arrays the forward already checked.
    return op(kernel_op.forward.__wrapped__, kernel_op.fast_backward)


OPS = {kernel_op.name: _differentiable(kernel_op) for kernel_op in kernels.OPS}
globals().update(OPS)

# kernels' own functions called on tracked arrays inside a forward (kernels.center(X)) record these ops.
KERNEL_OPS.update({kernel_op.forward: OPS[kernel_op.name] for kernel_op in kernels.OPS})

# The two ops behind the Linear layer, one per activation: a layer picks its op once, at construction.
LINEAR_OPS = {None: OPS["linear"], "relu": OPS["linear_relu"]}


def linear(x, weight, bias=None, activation=None):
    """x @ weight + bias, then the activation (None or "relu", fused into the GEMM's epilogue).

    x (..., in), weight (in, out), bias (out,) or None -> (..., out).
    """
    if activation not in LINEAR_OPS:
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    return LINEAR_OPS[activation](x, weight, bias)


__all__ = [*OPS, "linear"]
