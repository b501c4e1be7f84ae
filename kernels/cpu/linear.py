"""linear, linear_relu, relu and their gradients on the CPU (Numba + BLAS).

Shapes: x (n, in), w (in, out), b (out,), y and grad_y (n, out); all
C-contiguous and of one float dtype (the public functions in kernels.api see
to that). The GEMMs go to BLAS through Numba's np.dot; the bias and ReLU are
applied panel by panel right after the panel's GEMM, while its output is
still in cache, so the epilogue costs no extra trip through memory.
"""

import numpy as np
from numba import njit

from . import _alloc

# Rows per GEMM panel: aim for a panel of output that fits in L2 (256 KiB).
_PANEL_BYTES = 1 << 18


def _panel_rows(n_out_cols: int, itemsize: int) -> int:
    return max(8, _PANEL_BYTES // max(1, n_out_cols * itemsize))


@njit(cache=True)
def _bias_relu_epilogue(out, b, r0, r1, has_bias, apply_relu):
    """out[r0:r1] = relu?(out[r0:r1] + b?), in place, one pass."""
    cols = out.shape[1]
    for r in range(r0, r1):
        for c in range(cols):
            v = out[r, c]
            if has_bias:
                v += b[c]
            if apply_relu and v < 0:  # NaN fails the test and stays NaN
                v = 0
            out[r, c] = v


@njit(cache=True)
def _linear_forward(x, w, b, has_bias, apply_relu, panel, out):
    n = x.shape[0]
    for r0 in range(0, n, panel):
        r1 = min(n, r0 + panel)
        np.dot(x[r0:r1], w, out[r0:r1])
        if has_bias or apply_relu:
            _bias_relu_epilogue(out, b, r0, r1, has_bias, apply_relu)
    return out


def linear(x, w, b, apply_relu):
    """relu?(x @ w + b?) -> (n, out)."""
    out = _alloc.empty((x.shape[0], w.shape[1]), x.dtype)
    has_bias = b is not None
    bias = b if has_bias else np.empty(0, x.dtype)
    return _linear_forward(x, w, bias, has_bias, apply_relu, _panel_rows(w.shape[1], x.itemsize), out)


@njit(cache=True)
def _relu(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = 0 if v < 0 else v


@njit(cache=True)
def _relu_backward(grad_y, y, grad_x):
    for i in range(y.size):
        grad_x[i] = grad_y[i] if y[i] > 0 else 0


def relu(x):
    out = _alloc.empty(x.shape, x.dtype)
    _relu(x.reshape(-1), out.reshape(-1))
    return out


def relu_backward(grad_y, y):
    grad_x = _alloc.empty(y.shape, y.dtype)
    _relu_backward(grad_y.reshape(-1), y.reshape(-1), grad_x.reshape(-1))
    return grad_x


@njit(cache=True)
def _masked_grad_and_bias_grad(grad_y, y, use_mask, g, grad_b):
    """grad_b = column sums of g, where g = grad_y * (y > 0) is written if use_mask, else g is grad_y.

    The column sums accumulate in float64, block by block, so a long batch in
    float32 loses no more than NumPy's pairwise sum.
    """
    n, cols = grad_y.shape
    total = np.zeros(cols, np.float64)
    block = np.zeros(cols, np.float64)
    for r in range(n):
        for c in range(cols):
            v = grad_y[r, c]
            if use_mask:
                if not y[r, c] > 0:
                    v = 0
                g[r, c] = v
            block[c] += v
        if (r + 1) % 256 == 0 or r == n - 1:
            total += block
            block[:] = 0
    for c in range(cols):
        grad_b[c] = total[c]


@njit(cache=True)
def _linear_grads(g, x, w, grad_x, grad_w):
    np.dot(g, w.T, grad_x)
    np.dot(x.T, g, grad_w)


def linear_backward(grad_y, x, w, y):
    """(grad_x (n, in), grad_w (in, out), grad_b (out,)); y given → ReLU mask from y > 0."""
    dtype = x.dtype
    grad_b = _alloc.empty(w.shape[1], dtype)
    use_mask = y is not None
    # Without a mask the kernel writes no g (grad_y may be read-only): it gets an empty stand-in.
    g = _alloc.empty(grad_y.shape, dtype) if use_mask else np.empty((0, 0), dtype)
    _masked_grad_and_bias_grad(grad_y, y if use_mask else grad_y, use_mask, g, grad_b)
    if not use_mask:
        g = grad_y
    grad_x = _alloc.empty(x.shape, dtype)
    grad_w = _alloc.empty(w.shape, dtype)
    _linear_grads(g, x, w, grad_x, grad_w)
    return grad_x, grad_w, grad_b
