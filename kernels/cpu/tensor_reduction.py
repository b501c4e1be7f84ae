"""tensor_reduction (y_k = sum_ij W_ijk x_i x_j) and its gradient on the CPU.

Shapes: x (n, I), w (I, I, K), y and grad_y (n, K).

y depends only on the symmetric part of W, so the kernel works on the
I(I+1)/2 pairs i <= j: pair weights Wp[p(i,j)] = W_ij + W_ji (W_ii on the
diagonal) and pair products P[r, p(i,j)] = x_ri x_rj. Then y = P @ Wp, one
GEMM with half the work of the full outer product. P is built one panel of
rows at a time, so memory stays at a few MiB whatever n is (the outer product
of the whole batch would not fit).
"""

import numpy as np
from numba import njit

from . import _alloc

_PANEL_BYTES = 1 << 22  # pair products of one panel: 4 MiB


def _panel_rows(n_pairs: int, itemsize: int) -> int:
    return max(8, _PANEL_BYTES // (n_pairs * itemsize))


@njit(cache=True)
def _pack_pair_weights(w, diagonal_scale, wp):
    """wp[p(i,j)] = w[i,j] + w[j,i] for i < j, diagonal_scale * w[i,i] on the diagonal."""
    n_in = w.shape[0]
    p = 0
    for i in range(n_in):
        wp[p] = diagonal_scale * w[i, i]
        p += 1
        for j in range(i + 1, n_in):
            wp[p] = w[i, j] + w[j, i]
            p += 1


def _pair_weights(w, diagonal_scale):
    n_in = w.shape[0]
    wp = np.empty((n_in * (n_in + 1) // 2, w.shape[2]), w.dtype)
    _pack_pair_weights(w, w.dtype.type(diagonal_scale), wp)
    return wp


@njit(cache=True)
def _pair_products(x, r0, r1, pairs):
    """pairs[r - r0, p(i,j)] = x[r, i] * x[r, j] for i <= j."""
    n_in = x.shape[1]
    for r in range(r0, r1):
        row = pairs[r - r0]
        p = 0
        for i in range(n_in):
            xi = x[r, i]
            for j in range(i, n_in):
                row[p + j - i] = xi * x[r, j]
            p += n_in - i


@njit(cache=True)
def _forward(x, wp, panel, out):
    n = x.shape[0]
    pairs = np.empty((min(panel, n), wp.shape[0]), x.dtype)
    for r0 in range(0, n, panel):
        r1 = min(n, r0 + panel)
        _pair_products(x, r0, r1, pairs)
        np.dot(pairs[: r1 - r0], wp, out[r0:r1])
    return out


def tensor_reduction(x, w):
    """y (n, K) = sum_ij w[i, j, :] x[:, i] x[:, j]."""
    wp = _pair_weights(w, 1.0)
    out = _alloc.empty((x.shape[0], w.shape[2]), x.dtype)
    return _forward(x, wp, _panel_rows(wp.shape[0], x.itemsize), out)


@njit(cache=True)
def _scatter_pairs_to_grad_x(x, u, r0, grad_x):
    """grad_x[r, a] = sum_j x[r, j] U[r, p(a, j)] for the symmetric U held as pairs."""
    n_in = x.shape[1]
    for r in range(r0, r0 + u.shape[0]):
        row = u[r - r0]
        acc = np.zeros(n_in, np.float64)
        p = 0
        for i in range(n_in):
            xi = x[r, i]
            s = 0.0
            for j in range(i, n_in):
                v = row[p + j - i]
                s += v * x[r, j]
                if j != i:
                    acc[j] += v * xi
            acc[i] += s
            p += n_in - i
        for a in range(n_in):
            grad_x[r, a] = acc[a]


@njit(cache=True)
def _unpack_pair_grads(gp, grad_w):
    """grad_w[i, j] = grad_w[j, i] = gp[p(i, j)]: the gradient is symmetric in (i, j)."""
    n_in = grad_w.shape[0]
    p = 0
    for i in range(n_in):
        for j in range(i, n_in):
            grad_w[i, j] = gp[p]
            grad_w[j, i] = gp[p]
            p += 1


@njit(cache=True)
def _backward(grad_y, x, wsym, panel, grad_x, grad_w):
    n = x.shape[0]
    n_pairs = wsym.shape[0]
    rows = min(panel, n)
    pairs = np.empty((rows, n_pairs), x.dtype)
    u = np.empty((rows, n_pairs), x.dtype)
    gp = np.zeros((n_pairs, grad_y.shape[1]), x.dtype)
    gp_panel = np.empty_like(gp)
    for r0 in range(0, n, panel):
        r1 = min(n, r0 + panel)
        m = r1 - r0
        # grad_w over pairs: P^T @ grad_y, summed panel by panel.
        _pair_products(x, r0, r1, pairs)
        np.dot(pairs[:m].T, grad_y[r0:r1], gp_panel)
        gp += gp_panel
        # grad_x: U = grad_y @ Wsym^T over pairs, then contracted with x.
        np.dot(grad_y[r0:r1], wsym.T, u[:m])
        _scatter_pairs_to_grad_x(x, u[:m], r0, grad_x)
    _unpack_pair_grads(gp, grad_w)


def tensor_reduction_backward(grad_y, x, w):
    """(grad_x (n, I), grad_w (I, I, K))."""
    # d/dx_a of sum_ij W_ij x_i x_j is sum_j (W_aj + W_ja) x_j: the diagonal counts twice.
    wsym = _pair_weights(w, 2.0)
    grad_x = _alloc.empty(x.shape, x.dtype)
    grad_w = _alloc.empty(w.shape, x.dtype)
    _backward(grad_y, x, wsym, _panel_rows(wsym.shape[0], x.itemsize), grad_x, grad_w)
    return grad_x, grad_w
