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


class Linear(Module):
    """y = activation(x @ weight + bias).  weight (in_units, units), bias (units,).

    activation None or "relu" (then the fused linear+ReLU kernel). Initialized as
    PyTorch's Linear: U(-1/sqrt(in_units), 1/sqrt(in_units)) for weight and bias.
    """

    def __init__(self, in_units, units, activation=None, bias=True, dtype=np.float32):
        super().__init__()
        if activation not in F.LINEAR_OPS:
            raise ValueError(f"Linear: activation must be None or 'relu', got {activation!r}")
        self.units, self.activation = units, activation
        self._op = F.LINEAR_OPS[activation]
        self.weight = Parameter.uninitialized(("in_units", units), dtype)
        self.bias = Parameter.uninitialized((units,), dtype) if bias else None
        if in_units is not None:
            self._materialize(in_units)

    def _materialize(self, in_units):
        """Give every parameter still without data its initial values for in_units inputs."""
        bound = 1.0 / math.sqrt(in_units)
        for p, shape in ((self.weight, (in_units, self.units)), (self.bias, (self.units,))):
            if p is not None and not p.initialized:
                p.data = _uniform(shape, bound, p.dtype, self.device)

    @property
    def in_units(self):
        return self.weight.shape[0] if self.weight.initialized else None

    def forward(self, x):
        return self._op(x, self.weight, self.bias)

    def extra_repr(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"in_units={self.in_units}, units={self.units}{act}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """Linear whose in_units is inferred from the first input (or from a loaded checkpoint)."""

    def __init__(self, units, activation=None, bias=True, dtype=np.float32):
        super().__init__(None, units, activation, bias, dtype)

    def forward(self, x):
        if not (self.weight.initialized and (self.bias is None or self.bias.initialized)):
            self._materialize(np.shape(x)[-1] if self.in_units is None else self.in_units)
        return super().forward(x)


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Centered(Module):
    """The chapter's CenteredLayer: x - x.mean(axis, keepdims=True)."""

    def __init__(self, axis=None):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return F.center(x, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class TensorReduction(Module):
    """y_k = sum_ij weight[i, j, k] x_i x_j.  weight (in_units, in_units, units), U(-1/in_units, 1/in_units)."""

    def __init__(self, in_units, units, dtype=np.float32):
        super().__init__()
        self.units = units
        self.weight = Parameter.uninitialized(("in_units", "in_units", units), dtype)
        if in_units is not None:
            self._materialize(in_units)

    def _materialize(self, in_units):
        if not self.weight.initialized:
            self.weight.data = _uniform((in_units, in_units, self.units), 1.0 / in_units, self.weight.dtype, self.device)

    @property
    def in_units(self):
        return self.weight.shape[0] if self.weight.initialized else None

    def forward(self, x):
        return F.tensor_reduction(x, self.weight)

    def extra_repr(self):
        return f"in_units={self.in_units}, units={self.units}"


class LazyTensorReduction(TensorReduction):
    """TensorReduction whose in_units is inferred from the first input (or from a loaded checkpoint)."""

    def __init__(self, units, dtype=np.float32):
        super().__init__(None, units, dtype)

    def forward(self, x):
        if not self.weight.initialized:
            self._materialize(np.shape(x)[-1])
        return super().forward(x)


class FFTHalf(Module):
    """The first half of the Fourier coefficients of x along its last axis (complex)."""

    def forward(self, x):
        return F.fft_half(x)
