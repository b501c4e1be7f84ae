"""tensor_reduction and its gradient on the GPU: pair packing (tensor_reduction.cu beside this file)
around cuBLAS GEMMs, one panel of rows at a time, as on the CPU."""

from functools import lru_cache
from pathlib import Path

import cupy
import numpy as np

from ..gpu import _alloc
from ..gpu._modules import MAX_GRID_YZ, THREADS, grid_for, i32, i64, kernel, launch

_SOURCE = Path(__file__).with_name("tensor_reduction.cu")  # this op's CUDA kernels, compiled by CuPy per dtype

_PANEL_BYTES = 1 << 28  # pair products of one panel: 256 MiB


@lru_cache(maxsize=32)
def _pairs(n_in: int, device: int):
    """(pair_i, pair_j) on the device: the (i, j), i <= j, of each pair in row order."""
    i, j = np.triu_indices(n_in)
    return cupy.asarray(i.astype(np.int32)), cupy.asarray(j.astype(np.int32))


def _pair_weights(w, pair_i, pair_j, diagonal_scale):
    n_in, _, n_out = w.shape
    wp = _alloc.empty((pair_i.size, n_out), w.dtype)
    launch(kernel(_SOURCE, "pack_pair_weights", w.dtype), wp.size,
           w, pair_i, pair_j, wp, i32(n_in), i32(n_out), i64(pair_i.size), w.dtype.type(diagonal_scale))
    return wp


def _panel_rows(n_pairs, itemsize):
    return max(64, _PANEL_BYTES // (n_pairs * itemsize))


def _pair_products(xs, pair_i, pair_j, pairs):
    """pairs[:m] = the i <= j products of each row of xs (m, n_in)."""
    m, n_in = xs.shape
    n_pairs = pair_i.size
    gx = (n_pairs + THREADS - 1) // THREADS
    gy = min(m, MAX_GRID_YZ, max(1, grid_for(1 << 30) // gx))
    kernel(_SOURCE, "pair_products", xs.dtype)(
        (gx, gy), (THREADS,), (xs, pair_i, pair_j, pairs, i64(m), i32(n_in), i64(n_pairs))
    )


def tensor_reduction(x, w):
    n, n_in = x.shape
    pair_i, pair_j = _pairs(n_in, x.device.id)
    wp = _pair_weights(w, pair_i, pair_j, 1.0)
    out = _alloc.empty((n, w.shape[2]), x.dtype)
    panel = _panel_rows(pair_i.size, x.itemsize)
    pairs = _alloc.empty((min(panel, n), pair_i.size), x.dtype)
    for r0 in range(0, n, panel):
        m = min(panel, n - r0)
        _pair_products(x[r0 : r0 + m], pair_i, pair_j, pairs)
        cupy.matmul(pairs[:m], wp, out=out[r0 : r0 + m])
    return out


def tensor_reduction_backward(grad_y, x, w):
    n, n_in = x.shape
    pair_i, pair_j = _pairs(n_in, x.device.id)
    n_pairs = pair_i.size
    wsym = _pair_weights(w, pair_i, pair_j, 2.0)  # d/dx_a: the diagonal counts twice
    grad_x = _alloc.empty(x.shape, x.dtype)
    gp = cupy.zeros((n_pairs, w.shape[2]), x.dtype)
    panel = _panel_rows(n_pairs, x.itemsize)
    pairs = _alloc.empty((min(panel, n), n_pairs), x.dtype)
    u = _alloc.empty(pairs.shape, x.dtype)
    contract = kernel(_SOURCE, "contract_pairs", x.dtype)
    for r0 in range(0, n, panel):
        m = min(panel, n - r0)
        xs, gs = x[r0 : r0 + m], grad_y[r0 : r0 + m]
        _pair_products(xs, pair_i, pair_j, pairs)
        gp += pairs[:m].T @ gs
        cupy.matmul(gs, wsym.T, out=u[:m])
        launch(contract, m * n_in, xs, u, grad_x[r0 : r0 + m], i64(m), i32(n_in), i64(n_pairs))
    grad_w = _alloc.empty(w.shape, w.dtype)
    launch(kernel(_SOURCE, "unpack_pair_grads", x.dtype), gp.size,
           gp, pair_i, pair_j, grad_w, i32(n_in), i32(w.shape[2]), i64(n_pairs))
    return grad_x, grad_w
