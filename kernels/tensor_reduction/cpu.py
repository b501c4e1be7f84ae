"""tensor_reduction (y_k = sum_ij W_ijk x_i x_j) and its gradient on the CPU.

Shapes: x (n, I), w (I, I, K), y and grad_y (n, K).

y depends only on the symmetric part of W, so the kernel works on the
I(I+1)/2 pairs i <= j: pair weights Wp[p(i,j)] = W_ij + W_ji (W_ii on the
diagonal) and pair products P[r, p(i,j)] = x_ri x_rj. Then y = P @ Wp, one
GEMM with half the work of the full outer product. P is built
one panel of rows at a time by Numba, so memory stays at a few MiB whatever n
is (the outer product of a whole large batch would not fit).

The GEMMs are ours where they suit it (kernels.cpu._gemm.matmul: AVX-512, K at least one tile wide), on our
workers: x (3000, 120), W (120, 120, 64) float32, 2 cores, 8.5 ms forward and 34 ms backward against 14.3 and
62 ms through NumPy's OpenBLAS, whose kernels here are AVX2's (python /tmp/r/tr.py, 2026-11-25, twice each); with
the backward's panels at 8 MiB (below), 7.6-7.8 ms forward and 20.9-21.2 ms backward (python /tmp/r/trab.py).
The others run on BLAS's threads or on the calling thread alone, whichever took less time lately for the
shapes (kernels._blas_threads): with a core taken by another process, the threaded GEMMs of x (256, 64),
W (64, 64, 32) waited for the thread on that core, 2.16 ms against 214 us quiet.
"""

import numpy as np
from numba import carray, njit

from .._blas_threads import ThreadedOrSerial
from ..cpu import _alloc, _gemm
from ..cpu._native import pointer, run_tasks, runner, task_block, task_entry
from ..cpu._threads import PARALLEL_MIN_ELEMENTS

_PANEL_BYTES = 1 << 22  # pair products of one panel: 4 MiB
# The backward's panel: its pair products and U, two such buffers, stay in a 32 MiB L3 at 8 MiB each; each panel's
# grad_w GEMM also reads and writes all of grad_w's pairs (pairs x K), so a panel is at least twice that. x (3000,
# 120), W (120, 120, 64) float32, in turn in one process (python /tmp/r/trab.py, twice, 2026-11-25): backward 20.9-21.2
# ms at 8 MiB against 29.7-30.4 ms at 16 MiB (forward 7.6-7.8 ms); W (256, 256, 64), grad_w's pairs 8.4 MB, x (2048,
# 256): 99 ms at 16 MiB, 115 ms at 8 MiB.
_BACKWARD_PANEL_BYTES = 1 << 23


_BLAS_THREADS = ThreadedOrSerial()  # the forward's and backward's calls, keyed by their shapes


def _panel_rows(n_pairs: int, itemsize: int, panel_bytes=_PANEL_BYTES) -> int:
    return max(16, panel_bytes // (n_pairs * itemsize))


# Loops run over slices from 0, never over computed offsets: Numba then knows every
# index is non-negative, drops its wraparound check, and the loops vectorize.


@njit(cache=True)
def _pack_pair_weights(w, diagonal_scale, wp):
    """wp[p(i,j)] = w[i,j] + w[j,i] for i < j, diagonal_scale * w[i,i] on the diagonal."""
    n_in, n_out = w.shape[0], w.shape[2]
    p = 0
    for i in range(n_in):
        for j in range(i, n_in):
            upper, lower, out = w[i, j], w[j, i], wp[p]
            for k in range(n_out):  # an explicit loop: a row expression would allocate a temporary per pair
                out[k] = diagonal_scale * upper[k] if i == j else upper[k] + lower[k]
            p += 1


def _pair_weights(w, diagonal_scale):
    n_in = w.shape[0]
    wp = np.empty((n_in * (n_in + 1) // 2, w.shape[2]), w.dtype)
    _pack_pair_weights(w, w.dtype.type(diagonal_scale), wp)
    return wp


@njit(cache=True)
def _pair_products(x, pairs):
    """pairs[r, p(i,j)] = x[r, i] * x[r, j] for i <= j; x is one panel of rows."""
    n_in = x.shape[1]
    for r in range(x.shape[0]):
        xr, row = x[r], pairs[r]
        p = 0
        for i in range(n_in):
            tail, seg = xr[i:], row[p : p + n_in - i]
            xi = xr[i]
            for j in range(seg.size):
                seg[j] = xi * tail[j]
            p += n_in - i


_TINY_FLOPS = 1 << 14  # n * I * I * K up to this: one direct loop nest, no packing, no BLAS call


@njit(cache=True)
def _tiny_forward(x, w, out):
    """Direct sums, accumulated in float64: a single output of many cancelling terms keeps its precision."""
    acc = np.empty(w.shape[2], np.float64)
    for r in range(x.shape[0]):
        xr = x[r]
        acc[:] = 0.0
        for i in range(xr.size):
            for j in range(xr.size):
                xij, wij = np.float64(xr[i]) * xr[j], w[i, j]
                for k in range(acc.size):
                    acc[k] += wij[k] * xij
        for k in range(acc.size):
            out[r, k] = acc[k]


@njit(cache=True)
def _tiny_backward(grad_y, x, w, grad_x, grad_w):
    grad_x[:] = 0
    grad_w[:] = 0
    for r in range(x.shape[0]):
        xr, gr, gxr = x[r], grad_y[r], grad_x[r]
        for i in range(xr.size):
            for j in range(xr.size):
                wij, gwij = w[i, j], grad_w[i, j]
                s = 0.0
                for k in range(gr.size):
                    s += wij[k] * gr[k]
                    gwij[k] += xr[i] * xr[j] * gr[k]
                gxr[i] += s * xr[j]
                gxr[j] += s * xr[i]


def _is_tiny(x, w):
    return x.shape[0] * w.size <= _TINY_FLOPS


def tensor_reduction(x, w):
    """y (n, K) = sum_ij w[i, j, :] x[:, i] x[:, j]."""
    n = x.shape[0]
    if _is_tiny(x, w):
        out = _alloc.empty((n, w.shape[2]), x.dtype)
        _tiny_forward(x, w, out)
        return out
    return _BLAS_THREADS(("forward", x.shape, w.shape, x.dtype.char), _forward_panels, x, w)


def _forward_panels(x, w):
    n = x.shape[0]
    wp = _pair_weights(w, 1.0)
    out = _alloc.empty((n, w.shape[2]), x.dtype)
    panel = _panel_rows(wp.shape[0], x.itemsize)
    pairs = np.empty((min(panel, n), wp.shape[0]), x.dtype)
    # Where a panel's products are not all our GEMM's, its pair products (and grad_x rows) stay on this thread:
    # BLAS's threads, spinning after their GEMM, slowed our threads' (x (256, 64), W (64, 64, 32), forward and
    # backward in turn: 375-388 against 237-242 us forward, python /tmp/r/tr.py, 2026-11-25).
    threaded = _gemm.takes(pairs.shape[0], wp.shape[0], wp.shape[1], x.dtype)
    for r0 in range(0, n, panel):
        m = min(panel, n - r0)
        _panel_pairs(x[r0 : r0 + m], pairs[:m], threaded)
        _gemm.matmul(pairs[:m], wp, out[r0 : r0 + m])
    return out


@njit(cache=True, fastmath={"reassoc"})  # lets the dot product vectorize; NaN and inf still propagate
def _contract_pairs(x, u, grad_x):
    """grad_x[r, a] = sum_j x[r, j] U[r, p(a, j)], U symmetric in (a, j) and stored as pairs."""
    n_in = x.shape[1]
    acc = np.empty(n_in, np.float64)
    for r in range(x.shape[0]):
        xr, row = x[r], u[r]
        acc[:] = 0.0
        p = 0
        for i in range(n_in):
            tail, seg, acc_tail = xr[i:], row[p : p + n_in - i], acc[i:]
            xi = xr[i]
            s = 0.0
            for j in range(seg.size):
                s += seg[j] * tail[j]
                acc_tail[j] += seg[j] * xi
            acc[i] += s - seg[0] * xi  # the diagonal pair was counted in both sums
            p += n_in - i
        for a in range(n_in):
            grad_x[r, a] = acc[a]


# On the threads (kernels/cpu/_native): a task is TASK_ROWS rows of a panel, its pair products (forward and
# backward) or its rows of grad_x (backward); a task gets its out and args: x's address, the panel's rows, I,
# and U's address for grad_x. Panels of fewer than PARALLEL_MIN_ELEMENTS pair products stay on the caller.
TASK_ROWS = 16


def _pairs_task(out, args, task):
    """Pair products of rows [TASK_ROWS task, + TASK_ROWS) of the panel x (rows, I) into out (rows, I(I+1)/2)."""
    rows, n_in = args[1], args[2]
    x, pairs = carray(pointer(args[0], out), (rows, n_in)), carray(out, (rows, n_in * (n_in + 1) // 2))
    r0 = task * TASK_ROWS
    r1 = min(rows, r0 + TASK_ROWS)
    try:
        _pair_products(x[r0:r1], pairs[r0:r1])
    except Exception:  # noqa: BLE001 -- an exception cannot leave a C callback
        return 1
    return 0


def _contract_task(out, args, task):
    """Rows [TASK_ROWS task, + TASK_ROWS) of grad_x (rows, I) into out, from the panel x and U (rows, pairs)."""
    rows, n_in = args[1], args[2]
    x, grad_x = carray(pointer(args[0], out), (rows, n_in)), carray(out, (rows, n_in))
    u = carray(pointer(args[3], out), (rows, n_in * (n_in + 1) // 2))
    r0 = task * TASK_ROWS
    r1 = min(rows, r0 + TASK_ROWS)
    try:
        _contract_pairs(x[r0:r1], u[r0:r1], grad_x[r0:r1])
    except Exception:  # noqa: BLE001
        return 1
    return 0


@njit(cache=True)
def _rows_on_threads(x, out, u, entry, runner):
    """entry's tasks over the panel x's rows (x, out, u C-contiguous; u unused by the pair products) on the
    threads. Returns nonzero where a task failed."""
    block, args = task_block(entry, out.ctypes.data, np.int64(4))
    args[0], args[1], args[2], args[3] = x.ctypes.data, x.shape[0], x.shape[1], u.ctypes.data
    return run_tasks(runner, block, (x.shape[0] + TASK_ROWS - 1) // TASK_ROWS)


def _on_threads(pairs) -> bool:
    return pairs.size >= PARALLEL_MIN_ELEMENTS


def _panel_pairs(x, pairs, threaded):
    """pairs[r, p(i,j)] = x[r, i] x[r, j] for the panel x (rows, I) and pairs (rows, pairs), C-contiguous; on
    the threads where threaded and the panel is large enough."""
    if not (threaded and _on_threads(pairs)):
        _pair_products(x, pairs)
    elif _rows_on_threads(x, pairs, pairs, task_entry(_pairs_task, x.dtype), runner()):
        raise MemoryError("tensor_reduction: a task failed")


def _panel_grad_x(x, u, grad_x, threaded):
    """grad_x (rows, I) of the panel x from U (rows, pairs), C-contiguous; on the threads as _panel_pairs."""
    if not (threaded and _on_threads(u)):
        _contract_pairs(x, u, grad_x)
    elif _rows_on_threads(x, grad_x, u, task_entry(_contract_task, x.dtype), runner()):
        raise MemoryError("tensor_reduction: a task failed")


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


def tensor_reduction_backward(grad_y, x, w):
    """(grad_x (n, I), grad_w (I, I, K)).

    grad_w over pairs is P^T @ grad_y, summed panel by panel; grad_x is
    U = grad_y @ Wsym^T over pairs, contracted with x.
    """
    if _is_tiny(x, w):
        grad_x, grad_w = _alloc.empty(x.shape, x.dtype), _alloc.empty(w.shape, x.dtype)
        _tiny_backward(grad_y, x, w, grad_x, grad_w)
        return grad_x, grad_w
    return _BLAS_THREADS(("backward", x.shape, w.shape, x.dtype.char), _backward_panels, grad_y, x, w)


def _backward_panels(grad_y, x, w):
    n = x.shape[0]
    # d/dx_a of sum_ij W_ij x_i x_j is sum_j (W_aj + W_ja) x_j: the diagonal counts twice.
    wsym = _pair_weights(w, 2.0)
    n_pairs = wsym.shape[0]
    grad_x = _alloc.empty(x.shape, x.dtype)
    grad_w = _alloc.empty(w.shape, x.dtype)
    n_out = w.shape[2]
    panel = _panel_rows(n_pairs, x.itemsize, max(_BACKWARD_PANEL_BYTES, 2 * n_pairs * n_out * x.itemsize))
    rows = min(panel, n)
    pairs = np.empty((rows, n_pairs), x.dtype)
    u = np.empty((rows, n_pairs), x.dtype)
    gp = np.zeros((n_pairs, w.shape[2]), x.dtype)
    gp_panel = np.empty_like(gp) if n > panel else gp  # one panel: its GEMM writes gp directly
    threaded = _gemm.takes(n_pairs, rows, n_out, x.dtype) and _gemm.takes(rows, n_out, n_pairs, x.dtype)  # as above
    for r0 in range(0, n, panel):
        m = min(panel, n - r0)
        xs, gs = x[r0 : r0 + m], grad_y[r0 : r0 + m]
        _panel_pairs(xs, pairs[:m], threaded)
        _gemm.matmul(pairs[:m].T, gs, gp_panel)
        if gp_panel is not gp:
            gp += gp_panel
        _gemm.matmul(gs, wsym.T, u[:m])
        _panel_grad_x(xs, u[:m], grad_x[r0 : r0 + m], threaded)
    _unpack_pair_grads(gp, grad_w)
    return grad_x, grad_w
