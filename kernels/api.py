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


# --- losses ---

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _labels(op, backend, logits, labels, ignore_index):
    """labels as C-contiguous int64 of the backend's kind, checked against logits (n, C) before any work."""
    check_ndim(op, "logits", logits, (2,), "(n, classes)")
    labels = as_arrays(backend.xp, op, labels=labels)["labels"]
    if np.dtype(labels.dtype).kind not in "iu":
        raise TypeError(f"{op}: labels must be integers (class indices), got dtype {labels.dtype}")
    if tuple(labels.shape) != (logits.shape[0],):
        raise ValueError(
            f"{op}: labels must have shape ({logits.shape[0]},), one class index per row of logits "
            f"{tuple(logits.shape)}, got {tuple(labels.shape)}"
        )
    if logits.shape[1] < 1:
        raise ValueError(f"{op}: logits must have at least one class, got shape {tuple(logits.shape)}")
    if not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    labels = backend.xp.asarray(labels, dtype=np.int64, order="C")
    bad = backend.first_bad_label(labels, logits.shape[1], ignore_index)
    if bad >= 0:
        raise IndexError(
            f"{op}: label {int(labels[bad])} at index {bad} is out of range for {logits.shape[1]} classes "
            f"(expected 0 <= label < {logits.shape[1]}, or ignore_index={ignore_index})"
        )
    return labels


@overridable
def cross_entropy(logits, labels, reduction="mean", ignore_index=-100):
    """Cross-entropy of logits (n, C) against class indices labels (n,), as PyTorch's.

    One fused pass per row: logsumexp(row) - row[label], summed in float64.
    reduction "mean" (over the rows not ignored) or "sum": a 0-d array; "none": (n,).
    Labels equal to ignore_index add nothing; any other label outside [0, C) is an
    IndexError naming the first, before any work. NaN logits propagate.
    """
    backend, (logits,) = prepare("cross_entropy", ("logits",), (logits,))
    _check_reduction("cross_entropy", reduction)
    labels = _labels("cross_entropy", backend, logits, labels, ignore_index)
    return backend.cross_entropy(logits, labels, reduction, int(ignore_index))


def _check_loss_grad(op, grad_y, reduction, n_shape):
    expected = n_shape if reduction == "none" else ()
    if tuple(grad_y.shape) != tuple(expected):
        raise ValueError(f"{op}: grad_y must have the loss's shape {tuple(expected)}, got {tuple(grad_y.shape)}")


@overridable
def cross_entropy_backward(grad_y, y, logits, labels, reduction="mean", ignore_index=-100):
    """(grad_logits (n, C), None) = ((softmax(logits) - onehot(labels)) * grad_y [/ count], None), fused.

    grad_y has the loss's shape; y (the forward's loss) is not needed and may be None.
    """
    op = "cross_entropy_backward"
    backend, (grad_y, logits) = prepare(op, ("grad_y", "logits"), (grad_y, logits))
    _check_reduction(op, reduction)
    labels = _labels(op, backend, logits, labels, ignore_index)
    _check_loss_grad(op, grad_y, reduction, (logits.shape[0],))
    return backend.cross_entropy_backward(grad_y, logits, labels, reduction, int(ignore_index)), None


@overridable
def mse_loss(input, target, reduction="mean"):
    """Mean (or sum, or elementwise with "none") of (input - target)^2, input and target of one shape."""
    backend, (input, target) = prepare("mse_loss", ("input", "target"), (input, target))
    _check_reduction("mse_loss", reduction)
    check_same_shape("mse_loss", "input", input, "target", target)
    return backend.mse_loss(input, target, reduction)


@overridable
def mse_loss_backward(grad_y, y, input, target, reduction="mean"):
    """(grad_input, grad_target) = (2 (input - target) grad_y [/ size], the negative); y may be None."""
    op = "mse_loss_backward"
    backend, (grad_y, input, target) = prepare(op, ("grad_y", "input", "target"), (grad_y, input, target))
    _check_reduction(op, reduction)
    check_same_shape(op, "input", input, "target", target)
    _check_loss_grad(op, grad_y, reduction, input.shape)
    return backend.mse_loss_backward(grad_y, input, target, reduction)


# --- optimizer updates ---


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, decoupled_weight_decay=False):
    """One Adam (or, decoupled_weight_decay, AdamW) step on param, in place, as torch.optim.Adam / AdamW.

    param, grad and the moments exp_avg, exp_avg_sq (and max_exp_avg_sq, for amsgrad) have one shape and
    dtype, on one device; param and the moments are updated in place, in one pass. step counts from 1.
    """
    op = "adam_update"
    arrays = {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
              "max_exp_avg_sq": max_exp_avg_sq}
    backend = backend_for(op, *arrays.values())
    for name, a in arrays.items():
        if a is None:
            continue
        if not isinstance(a, backend.xp.ndarray):
            raise TypeError(f"{op}: {name} must be an array, got {type(a).__name__}")
        if tuple(a.shape) != tuple(param.shape):
            raise ValueError(f"{op}: {name} has shape {tuple(a.shape)}, param has {tuple(param.shape)}")
        if a.dtype != param.dtype or np.dtype(a.dtype).kind != "f":
            raise TypeError(f"{op}: every array must have param's float dtype {param.dtype}; {name} is {a.dtype}")
        if name != "grad" and not a.flags.c_contiguous:
            raise ValueError(f"{op}: {name} is written in place and must be C-contiguous")
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{op}: step must be an int >= 1, got {step!r}")
    beta1, beta2 = betas
    backend.adam_update(param, backend.xp.ascontiguousarray(grad), exp_avg, exp_avg_sq, max_exp_avg_sq, int(step),
                        lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay)
