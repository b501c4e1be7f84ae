"""mse_loss: PyTorch's, the mean (or sum, or each, with reduction="none") of (input - target)^2.

input and target of one shape; the sum accumulates in float64; the backward,
2 (input - target) * grad_y, is one pass, and target's gradient its negative.
"""

from functools import partial

from .._dispatch import Backends, overridable, prepare
from .._op import Op
from .._validate import check_same_shape
from ..cross_entropy import check_loss_grad, check_reduction, reduce_losses

_backends = Backends(__name__)

# --- the NumPy reference ---


def reference_mse_loss(input, target, reduction="mean"):
    return reduce_losses((input - target) ** 2, reduction, input.size)


def reference_mse_loss_backward(grad_y, y, input, target, reduction="mean"):
    scale = grad_y if reduction == "none" else grad_y / (input.size if reduction == "mean" else 1)
    grad = 2 * (input - target) * scale
    return grad, -grad


# --- forward and backward ---


def _check_forward(input, target):
    check_same_shape("mse_loss", "input", input, "target", target)


def _check_backward(reduction, grad_y, input, target):
    check_same_shape("mse_loss_backward", "input", input, "target", target)
    check_loss_grad("mse_loss_backward", grad_y, reduction, input.shape)


@overridable
def mse_loss(input, target, reduction="mean"):
    """Mean (or sum, or elementwise with "none") of (input - target)^2, input and target of one shape."""
    check_reduction("mse_loss", reduction)
    device, (input, target) = prepare("mse_loss", ("input", "target"), (input, target), _check_forward)
    return _backends[device].mse_loss(input, target, reduction)


def _run_backward(device, grad_y, y, input, target, reduction="mean"):
    return _backends[device].mse_loss_backward(grad_y, input, target, reduction)


@overridable
def mse_loss_backward(grad_y, y, input, target, reduction="mean"):
    """(grad_input, grad_target) = (2 (input - target) grad_y [/ size], the negative); y may be None."""
    op = "mse_loss_backward"
    check_reduction(op, reduction)
    device, (grad_y, input, target) = prepare(op, ("grad_y", "input", "target"), (grad_y, input, target),
                                              partial(_check_backward, reduction))
    return _run_backward(device, grad_y, y, input, target, reduction)


# --- what the tests run ---


def _examples(rng):
    return [((rng.standard_normal(shape), rng.standard_normal(shape)), {"reduction": reduction})
            for shape, reduction in [((4, 3), "mean"), ((5,), "sum"), ((2, 3), "none")]]


MSE_LOSS = Op("mse_loss", mse_loss, mse_loss_backward, _run_backward, reference_mse_loss, reference_mse_loss_backward,
              _examples)
