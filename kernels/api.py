"""The public kernels: check the arguments once, then run the backend for their array type.

Every function takes NumPy arrays (CPU, Numba) or CuPy arrays (GPU) and
returns arrays of the same kind. float32 computes in float32, float64 in
float64; integers and bools compute in float64. Inputs are never written.
"""

import math

import numpy as np

from ._dispatch import backend_for, overridable, prepare
from ._validate import as_arrays, check_ndim, check_same_shape, normalize_axes


_ANY_RANK = range(1, 65)  # what "(..., features)" admits: NumPy's arrays have at most 64 axes


def _check_linear(op, x, w, b=None):
    if x.ndim >= 1 and w.ndim == 2 and x.shape[-1] == w.shape[0] and (b is None or b.shape == (w.shape[1],)):
        return
    check_ndim(op, "x", x, _ANY_RANK, "(..., in), at least 1-D")
    check_ndim(op, "w", w, (2,), "(in, out)")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"{op}: x has {x.shape[-1]} features (shape {tuple(x.shape)}) "
            f"but w expects {w.shape[0]} (shape {tuple(w.shape)})"
        )
    if b is not None and tuple(b.shape) != (w.shape[1],):
        raise ValueError(
            f"{op}: b must have shape ({w.shape[1]},) to match w {tuple(w.shape)}, got {tuple(b.shape)}"
        )


def _batched(x):
    """x (..., features) as a 2-D batch (rows, features): a view for C-contiguous x, which the kernels get."""
    return x if x.ndim == 2 else x.reshape(-1, x.shape[-1])


def _unbatched(y2, x):
    """A 2-D result (rows, k) back in x's batch shape (..., k)."""
    return y2 if x.ndim == 2 else y2.reshape(x.shape[:-1] + y2.shape[1:])


def _linear(op, apply_relu, x, w, b):
    backend, (x, w, b) = prepare(op, ("x", "w", "b"), (x, w, b))
    _check_linear(op, x, w, b)
    return _unbatched(backend.linear(_batched(x), w, b, apply_relu), x)


@overridable
def linear(x, w, b=None):
    """x @ w + b.  x (..., in) (batch axes flattened into one GEMM), w (in, out), b (out,) or None → (..., out)."""
    return _linear("linear", False, x, w, b)


@overridable
def linear_relu(x, w, b=None):
    """relu(x @ w + b), fused: the bias and ReLU are applied in one pass over the output."""
    return _linear("linear_relu", True, x, w, b)


@overridable
def relu(x):
    """max(x, 0) elementwise, any shape; NaN stays NaN."""
    backend, (x,) = prepare("relu", ("x",), (x,))
    return backend.relu(x)


@overridable
def center(x, axis=None):
    """x - x.mean(axis, keepdims=True); axis None (all), an int or a tuple of ints."""
    backend, (x,) = prepare("center", ("x",), (x,))
    return backend.center(x, None if axis is None else normalize_axes("center", axis, x.ndim))


@overridable
def tensor_reduction(x, w):
    """y[..., k] = sum_ij w[i, j, k] x[..., i] x[..., j].  x (..., I), at least 1-D, w (I, I, K) → (..., K)."""
    backend, (x, w) = prepare("tensor_reduction", ("x", "w"), (x, w))
    _check_tensor_reduction("tensor_reduction", x, w)
    return _unbatched(backend.tensor_reduction(_batched(x), w), x)


def _check_tensor_reduction(op, x, w):
    if x.ndim >= 1 and w.ndim == 3 and x.shape[-1] == w.shape[0] == w.shape[1]:
        return
    check_ndim(op, "x", x, _ANY_RANK, "(..., I), at least 1-D")
    check_ndim(op, "w", w, (3,), "(I, I, K)")
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"{op}: w must be (I, I, K) with equal first two axes, got {tuple(w.shape)}")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"{op}: x has {x.shape[-1]} features (shape {tuple(x.shape)}) "
            f"but w expects {w.shape[0]} (shape {tuple(w.shape)})"
        )


@overridable
def fft_half(x):
    """fft(x, axis=-1)[..., :n // 2] for real x (..., n): complex64 for float32, complex128 for float64."""
    backend, (x,) = prepare("fft_half", ("x",), (x,))
    if x.ndim == 0:
        raise ValueError("fft_half: x must be at least 1-D, (..., n), got a 0-d array")
    n = x.shape[-1]
    if n < 1:
        raise ValueError(f"fft_half: the last axis of x must hold at least one sample, got shape {tuple(x.shape)}")
    if x.ndim == 2:
        return backend.fft_half(x)
    return backend.fft_half(x.reshape(-1, n)).reshape(x.shape[:-1] + (n // 2,))


# --- gradients ---


def _check_grad_y(op, grad_y, x, w):
    expected = tuple(x.shape[:-1]) + (w.shape[-1],)
    if tuple(grad_y.shape) != expected:
        raise ValueError(
            f"{op}: grad_y must have the output's shape {expected} for x {tuple(x.shape)} "
            f"and w {tuple(w.shape)}, got {tuple(grad_y.shape)}"
        )


def _linear_backward(backend, grad_y, x, w, y):
    x2 = _batched(x)
    g2 = grad_y.reshape(x2.shape[0], w.shape[1])
    y2 = None if y is None else y.reshape(g2.shape)
    grad_x, grad_w, grad_b = backend.linear_backward(g2, x2, w, y2)
    return _unbatched(grad_x, x), grad_w, grad_b


@overridable
def linear_backward(grad_y, x, w):
    """(grad_x, grad_w, grad_b) of y = x @ w + b.  grad_y (..., out); shapes as in linear."""
    backend, (grad_y, x, w) = prepare("linear_backward", ("grad_y", "x", "w"), (grad_y, x, w))
    _check_linear("linear_backward", x, w)
    _check_grad_y("linear_backward", grad_y, x, w)
    return _linear_backward(backend, grad_y, x, w, None)


@overridable
def linear_relu_backward(grad_y, x, w, y):
    """(grad_x, grad_w, grad_b) of y = relu(x @ w + b); y is the forward's output (its mask y > 0)."""
    backend, (grad_y, x, w, y) = prepare("linear_relu_backward", ("grad_y", "x", "w", "y"), (grad_y, x, w, y))
    _check_linear("linear_relu_backward", x, w)
    _check_grad_y("linear_relu_backward", grad_y, x, w)
    check_same_shape("linear_relu_backward", "grad_y", grad_y, "y", y)
    return _linear_backward(backend, grad_y, x, w, y)


@overridable
def relu_backward(grad_y, y):
    """grad_x = grad_y where y > 0, else 0; y is relu's output, any shape."""
    backend, (grad_y, y) = prepare("relu_backward", ("grad_y", "y"), (grad_y, y))
    check_same_shape("relu_backward", "grad_y", grad_y, "y", y)
    return backend.relu_backward(grad_y, y)


@overridable
def center_backward(grad_y, axis=None):
    """grad_x of center(x, axis): grad_y minus its mean over the same axes."""
    backend, (grad_y,) = prepare("center_backward", ("grad_y",), (grad_y,))
    return backend.center_backward(grad_y, None if axis is None else normalize_axes("center_backward", axis, grad_y.ndim))


@overridable
def tensor_reduction_backward(grad_y, x, w):
    """(grad_x (..., I), grad_w (I, I, K)) of y = tensor_reduction(x, w)."""
    backend, (grad_y, x, w) = prepare("tensor_reduction_backward", ("grad_y", "x", "w"), (grad_y, x, w))
    _check_tensor_reduction("tensor_reduction_backward", x, w)
    _check_grad_y("tensor_reduction_backward", grad_y, x, w)
    x2 = _batched(x)
    grad_x, grad_w = backend.tensor_reduction_backward(grad_y.reshape(x2.shape[0], w.shape[2]), x2, w)
    return _unbatched(grad_x, x), grad_w


@overridable
def fft_half_backward(grad_y, n):
    """Real grad_x (..., n) of y = fft_half(x), from grad_y (..., n // 2) = dL/dRe(y) + i dL/dIm(y)."""
    op = "fft_half_backward"
    backend = backend_for(op, grad_y)
    xp = backend.xp
    grad_y = as_arrays(xp, op, grad_y=grad_y)["grad_y"]
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{op}: n must be a positive int (the forward input's length), got {n!r}")
    check_ndim(op, "grad_y", grad_y, range(1, 64), "at least 1-D, (..., n // 2)")
    if grad_y.shape[-1] != n // 2:
        raise ValueError(
            f"{op}: grad_y's last axis must hold n // 2 = {n // 2} coefficients for n = {n}, "
            f"got shape {tuple(grad_y.shape)}"
        )
    dt = np.dtype(grad_y.dtype)
    if dt.kind not in "biufc":
        raise TypeError(f"{op}: grad_y has dtype {dt}; expected a complex or real numeric array")
    single_precision = dt in (np.complex64, np.float32, np.float16)
    cdtype = np.complex64 if single_precision else np.complex128
    g = xp.ascontiguousarray(grad_y, dtype=cdtype)
    rows = math.prod(g.shape[:-1])
    grad_x = backend.fft_half_backward(g.reshape(rows, n // 2), int(n))
    return grad_x.reshape(grad_y.shape[:-1] + (n,))
