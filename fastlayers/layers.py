"""The chapter's layers: Linear (MyLinear / MyDense), ReLU, Centered (CenteredLayer),
TensorReduction and FFTHalf (the two exercises), and the lazy layers."""

import math

import numpy as np

from . import functional as F
from .module import Module
from .parameter import Parameter, to_device
from .random import generator


def _uniform(shape, bound, dtype, device="cpu"):
    """U(-bound, bound) drawn on the host from fl.manual_seed's generator (the same numbers on any device)."""
    return to_device(generator().uniform(-bound, bound, shape).astype(dtype), device)


def _check_lazy_input(layer, x):
    """A lazy layer's first input, checked before it decides any shape: a call that fails changes nothing."""
    shape, dtype = np.shape(x), getattr(x, "dtype", None)
    if not shape:
        raise ValueError(f"{type(layer).__name__}: expected an input of shape (..., in_features), got a scalar")
    if dtype is not None and np.dtype(dtype).kind not in "biuf":
        raise TypeError(f"{type(layer).__name__}: expected a real numeric input, got dtype {dtype}")
    return shape[-1]


class Linear(Module):
    """y = activation(x @ weight + bias), PyTorch's Linear with the chapter's MyLinear / MyDense activation.

    x (..., in_features): the batch axes, any number of them, go through one GEMM
    (no copy for a C-contiguous x); weight (in_features, out_features), bias
    (out_features,); y (..., out_features). activation None or "relu" (then the
    fused linear+ReLU kernel). Initialized as PyTorch's Linear:
    U(-1/sqrt(in_features), 1/sqrt(in_features)) for weight and bias.
    """

    def __init__(self, in_features, out_features, activation=None, bias=True, dtype=np.float32):
        super().__init__()
        if activation not in F.LINEAR_OPS:
            raise ValueError(f"Linear: activation must be None or 'relu', got {activation!r}")
        self.out_features, self.activation = out_features, activation
        self.weight = Parameter.uninitialized(("in_features", out_features), dtype)
        self.bias = Parameter.uninitialized((out_features,), dtype) if bias else None
        if in_features is not None:
            self._materialize(in_features)

    def _materialize(self, in_features):
        """Give every parameter still without data its initial values for in_features inputs."""
        bound = 1.0 / math.sqrt(in_features)
        for p, shape in ((self.weight, (in_features, self.out_features)), (self.bias, (self.out_features,))):
            if p is not None and not p.initialized:
                p.data = _uniform(shape, bound, p.dtype, self.device)

    @property
    def in_features(self):
        return self.weight.shape[0] if self.weight.initialized else None

    def forward(self, x):
        return F.LINEAR_OPS[self.activation](x, self.weight, self.bias)

    def extra_repr(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"in_features={self.in_features}, out_features={self.out_features}{act}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """Linear whose in_features is inferred from the first input x (..., in_features), or from a loaded
    checkpoint. Once its parameters exist it is a Linear (``type(m) is fl.Linear``), as PyTorch's.
    """

    cls_to_become = Linear

    def __init__(self, out_features, activation=None, bias=True, dtype=np.float32):
        super().__init__(None, out_features, activation, bias, dtype)

    def forward(self, x):
        in_features = _check_lazy_input(self, x)
        self._materialize(in_features if self.in_features is None else self.in_features)
        self._become_materialized()
        return Linear.forward(self, x)


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Centered(Module):
    """The chapter's CenteredLayer: x - x.mean(axis, keepdims=True).

    x of any shape with axis None (the mean of all of it); with an int or a tuple
    of ints, x needs those axes (an axis out of range is a ValueError).
    """

    def __init__(self, axis=None):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return F.center(x, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class TensorReduction(Module):
    """The chapter's first exercise: y_k = sum_ij weight[i, j, k] x_i x_j.

    x (..., in_features), at least 1-D; weight (in_features, in_features,
    out_features), U(-1/in_features, 1/in_features); y (..., out_features).
    """

    def __init__(self, in_features, out_features, dtype=np.float32):
        super().__init__()
        self.out_features = out_features
        self.weight = Parameter.uninitialized(("in_features", "in_features", out_features), dtype)
        if in_features is not None:
            self._materialize(in_features)

    def _materialize(self, in_features):
        if not self.weight.initialized:
            shape = (in_features, in_features, self.out_features)
            self.weight.data = _uniform(shape, 1.0 / in_features, self.weight.dtype, self.device)

    @property
    def in_features(self):
        return self.weight.shape[0] if self.weight.initialized else None

    def forward(self, x):
        return F.tensor_reduction(x, self.weight)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}"


class LazyTensorReduction(TensorReduction):
    """TensorReduction whose in_features is inferred from the first input x (..., in_features), or from a
    loaded checkpoint; a TensorReduction once its weight exists."""

    cls_to_become = TensorReduction

    def __init__(self, out_features, dtype=np.float32):
        super().__init__(None, out_features, dtype)

    def forward(self, x):
        self._materialize(_check_lazy_input(self, x))
        self._become_materialized()
        return TensorReduction.forward(self, x)


class FFTHalf(Module):
    """The chapter's second exercise: the first half of the Fourier coefficients of x along its last axis.

    x (..., n), real, at least 1-D; y (..., n // 2), complex (complex64 for float32).
    """

    def forward(self, x):
        return F.fft_half(x)


class CrossEntropyLoss(Module):
    """PyTorch's CrossEntropyLoss: criterion(logits (n, classes), labels (n,)) -> the loss.

    Called on a model's output it continues the model's recording, so
    ``fl.backward(criterion(net(x), t))`` reaches every parameter.
    """

    def __init__(self, reduction="mean", ignore_index=-100):
        super().__init__()
        self.reduction, self.ignore_index = reduction, ignore_index

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction, ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"reduction={self.reduction!r}, ignore_index={self.ignore_index}"


class MSELoss(Module):
    """PyTorch's MSELoss: criterion(input, target) -> mean (or sum, or each) of (input - target)^2."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"
