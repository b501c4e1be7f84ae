"""NumPy references: each op written as a NumPy user would write it.

These are the chapter's own formulas. Tests and benchmarks compare the
kernels with them (tests in float64); they are deliberately plain, not fast.
Shapes follow the kernels: x (n, in) or (in,), w (in, out), b (out,).
"""

import numpy as np


def linear(x, w, b=None):
    y = x @ w
    return y if b is None else y + b


def relu(x):
    return np.maximum(x, 0)


def linear_relu(x, w, b=None):
    return relu(linear(x, w, b))


def center(x, axis=None):
    return x - x.mean(axis=axis, keepdims=True)


def tensor_reduction(x, w):
    """y[..., k] = sum_ij w[i, j, k] x[..., i] x[..., j]."""
    return np.einsum("ijk,...i,...j->...k", w, x, x)


def fft_half(x):
    """The first half of the Fourier coefficients along the last axis."""
    n = x.shape[-1]
    return np.fft.fft(x, axis=-1)[..., : n // 2]


def linear_backward(grad_y, x, w):
    """(grad_x, grad_w, grad_b) of y = x @ w + b."""
    if x.ndim == 1:
        return grad_y @ w.T, np.outer(x, grad_y), grad_y
    return grad_y @ w.T, x.T @ grad_y, grad_y.sum(axis=0)


def relu_backward(grad_y, y):
    return grad_y * (y > 0)


def linear_relu_backward(grad_y, x, w, y):
    return linear_backward(relu_backward(grad_y, y), x, w)


def center_backward(grad_y, axis=None):
    # The Jacobian of centering, I - 11^T/m, is symmetric: the backward centers grad_y.
    return grad_y - grad_y.mean(axis=axis, keepdims=True)


def tensor_reduction_backward(grad_y, x, w):
    """(grad_x, grad_w) of y = tensor_reduction(x, w)."""
    grad_x = np.einsum("ijk,...j,...k->...i", w, x, grad_y) + np.einsum(
        "ijk,...i,...k->...j", w, x, grad_y
    )
    grad_w = np.einsum("ni,nj,nk->ijk", np.atleast_2d(x), np.atleast_2d(x), np.atleast_2d(grad_y))
    return grad_x, grad_w


def fft_half_backward(grad_y, n):
    """dL/dx for a real loss L, given grad_y = dL/dRe(y) + i dL/dIm(y) of y = fft_half(x)."""
    k = np.arange(grad_y.shape[-1])
    t = np.arange(n)
    basis = np.exp(-2j * np.pi * (np.outer(k, t) % n) / n)  # the first n // 2 rows of the DFT matrix
    return (grad_y.conj() @ basis).real


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _reduce(losses, reduction, count):
    if reduction == "none":
        return losses
    return losses.sum() / (count if reduction == "mean" else 1)


def cross_entropy(logits, labels, reduction="mean", ignore_index=-100):
    used = labels != ignore_index
    picked = np.take_along_axis(log_softmax(logits), np.where(used, labels, 0)[:, None], axis=1)[:, 0]
    return _reduce(np.where(used, -picked, 0), reduction, used.sum())


def cross_entropy_backward(grad_y, y, logits, labels, reduction="mean", ignore_index=-100):
    used = labels != ignore_index
    grad = np.exp(log_softmax(logits))
    grad[np.arange(len(labels))[used], labels[used]] -= 1
    scale = grad_y[:, None] if reduction == "none" else grad_y / (used.sum() if reduction == "mean" else 1)
    return grad * scale * used[:, None], None


def mse_loss(input, target, reduction="mean"):
    return _reduce((input - target) ** 2, reduction, np.size(input))


def mse_loss_backward(grad_y, y, input, target, reduction="mean"):
    grad = 2 * (input - target) * (grad_y if reduction == "none" else grad_y / (input.size if reduction == "mean" else 1))
    return grad, -grad
