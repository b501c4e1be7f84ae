"""In-place initializers on a Parameter (weights are (in, out): fan_in is every axis but the last)."""

import math

import numpy as np

from .parameter import Parameter
from .random import generator


def _fill(p: Parameter, values):
    """Write values (a scalar, or a function of the shape giving host values) into p's data, in place."""
    data = _checked_data(p)
    if callable(values):
        values = values(data.shape)
        if not isinstance(data, np.ndarray):
            import cupy

            values = cupy.asarray(values)
    data[...] = values
    return p


def _checked_data(p):
    if not isinstance(p, Parameter):
        raise TypeError(f"expected a Parameter, got {type(p).__name__}")
    if not p.initialized:
        raise RuntimeError(
            f"cannot initialize {p._label} in place: it is not initialized yet (its lazy layer infers its shape "
            f"{p.shape} at the first call); call the model once or load a checkpoint first"
        )
    return p.data


def _fans(p: Parameter):
    shape = _checked_data(p).shape
    if len(shape) < 2:
        raise ValueError(f"fan-in and fan-out need a parameter of at least 2 dimensions, got shape {shape}")
    return math.prod(shape[:-1]), shape[-1]


def uniform_(p, a=0.0, b=1.0):
    return _fill(p, lambda shape: generator().uniform(a, b, shape))


def normal_(p, mean=0.0, std=1.0):
    return _fill(p, lambda shape: generator().normal(mean, std, shape))


def zeros_(p):
    return _fill(p, 0)


def constant_(p, value):
    return _fill(p, value)


def xavier_uniform_(p, gain=1.0):
    fan_in, fan_out = _fans(p)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(p, -bound, bound)


def kaiming_uniform_(p, a=0.0, nonlinearity="leaky_relu"):
    """U(-bound, bound), bound = gain * sqrt(3 / fan_in); gain sqrt(2 / (1 + a^2)) for (leaky) ReLU, 1 for linear."""
    fan_in, _ = _fans(p)
    gain = {"relu": math.sqrt(2.0), "leaky_relu": math.sqrt(2.0 / (1 + a * a)), "linear": 1.0}.get(nonlinearity)
    if gain is None:
        raise ValueError(f"kaiming_uniform_: nonlinearity must be 'relu', 'leaky_relu' or 'linear', got {nonlinearity!r}")
    bound = gain * math.sqrt(3.0 / fan_in)
    return uniform_(p, -bound, bound)
