"""linear, linear_relu, relu and their gradients on the CPU.

Shapes: x (n, in), w (in, out), b (out,), y and grad_y (n, out); all
C-contiguous and of one float dtype (kernels.api sees to that).

Regimes:
- tiny (the chapter's sizes): one serial Numba loop nest; a BLAS call or a
  thread launch would cost more than the arithmetic.
- on a CPU with AVX-512, where _gemm.suits the shape: our GEMM (kernels.cpu._gemm), the bias and
  ReLU applied to each tile of C while it is in registers; the backward's two products too. Against
  NumPy's OpenBLAS with the AVX2 kernels this project's machines pin, float32, 2 cores, medians of
  15 side by side (fastlayers.bench.timing.median_times, 2026-11-24): g @ w.T at (65536, 64) @
  (64, 64) 1.50 vs 3.20 ms, (4096, 1024) @ (1024, 1024) 19.0 vs 34.5 ms; x.T @ g 1.99 vs 3.13 ms
  and 31.4 vs 37.2 ms.
- otherwise: NumPy's BLAS GEMM (the floor) into the output, then one Numba pass
  adding the bias and applying the ReLU in place (0.3 ms over 16 MiB).

For that BLAS path, one GEMM call, not a panel of rows at a time with the epilogue while each panel is in cache: every call
re-packs w and is a point where BLAS's two threads wait for each other, which with a core busy costs far
more than the epilogue's trip through memory saves. (4096, 1024) @ (1024, 1024), one busy loop beside it
(fastlayers bench --only linear_relu --busy 1, twice each): 0.66x and 0.81x NumPy with panels of 4 MiB,
1.04x and 1.20x as one GEMM; quiet, 256 KiB panels took 39.7 ms, 4 MiB ones 34.1 ms, one GEMM 33.8 ms,
NumPy 38.2 ms. The epilogue in cache still paid at (65536, 64) @ (64, 64), quiet: 2.75-3.07 ms with
4 MiB panels, 3.22-3.37 ms as one GEMM (NumPy 7.3-8.6 ms).
"""

import numpy as np
from numba import njit

from ..cpu import _alloc, _gemm
from ..cpu._inner import inner
from ..cpu._simd import LANES, load, splat, store

_TINY_FLOPS = 1 << 15  # n * in * out up to this: serial loop nest


@njit(cache=True)
def _rows_linear(x, w, b, has_bias, apply_relu, out):
    """out = relu?(x @ w + b?) for tiny sizes: each run of LANES output columns summed over k in one vector
    register (a loop over the output row per k left 8 columns scalar: (2, 64) @ (64, 8) took 0.71 us in
    Numba, 0.43 us this way), the last n_out % LANES columns one at a time."""
    n_in, n_out = w.shape
    whole = n_out - n_out % LANES
    zero = x.dtype.type(0)
    for r in range(x.shape[0]):
        row = out[r]
        for c0 in range(0, whole, LANES):
            acc = splat(zero)
            for k in range(n_in):
                acc = acc + splat(x[r, k]) * load(w[k], c0)
            store(row, c0, acc)
        for c in range(whole, n_out):
            total = zero
            for k in range(n_in):
                total += x[r, k] * w[k, c]
            row[c] = total
    if has_bias or apply_relu:
        _bias_relu_inplace(out, b, has_bias, apply_relu)


@njit(cache=True)
def _bias_relu_inplace(out, b, has_bias, apply_relu):
    n, n_out = out.shape
    for r in range(n):
        row = out[r]
        for c in range(n_out):
            v = row[c] + b[c] if has_bias else row[c]
            row[c] = 0 if apply_relu and v < 0 else v  # NaN fails v < 0 and stays NaN


_NO_BIAS = {np.dtype(np.float32): np.zeros(0, np.float32), np.dtype(np.float64): np.zeros(0, np.float64)}



def _is_tiny(n, n_in, n_out):
    return n * n_in * n_out <= _TINY_FLOPS


def linear(x, w, b, apply_relu):
    """relu?(x @ w + b?) -> (n, out)."""
    n, n_in = x.shape
    n_out = w.shape[1]
    out = _alloc.empty((n, n_out), x.dtype)
    has_bias = b is not None
    bias = b if has_bias else _NO_BIAS[x.dtype]
    if _is_tiny(n, n_in, n_out):
        _rows_linear(x, w, bias, has_bias, apply_relu, out)
        return out
    if _gemm.takes(n, n_in, n_out, x.dtype):
        return _gemm.gemm(x, w, b, apply_relu, out)
    np.matmul(x, w, out=out)
    if has_bias or apply_relu:
        _bias_relu_inplace(out, bias, has_bias, apply_relu)
    return out


# --- relu ---


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


# --- backward ---


@inner
def _mask_rows(grad_y, y, use_mask, r0, r1, g, colsum):
    """g[r] = grad_y[r] * (y[r] > 0) (written only if use_mask); colsum += sum of g[r] over r, in float64."""
    n_out = grad_y.shape[1]
    for r in range(r0, r1):
        for c in range(n_out):
            v = grad_y[r, c]
            if use_mask:
                if not y[r, c] > 0:
                    v = 0
                g[r, c] = v
            colsum[c] += v


# Serial on purpose: a Numba thread team spinning after a parallel region took the cores
# from the BLAS GEMMs that follow it (the backward ran 3x slower, measured); this pass is
# memory-bound and short next to them.
@njit(cache=True)
def _mask_and_bias_grad(grad_y, y, use_mask, g, grad_b):
    """Row blocks of 256 sum into float64 partials: a long float32 batch loses no more than a pairwise sum."""
    n, n_out = grad_y.shape
    blocks = (n + 255) // 256
    partials = np.zeros((blocks, n_out), np.float64)
    for t in range(blocks):
        _mask_rows(grad_y, y, use_mask, t * 256, min(n, (t + 1) * 256), g, partials[t])
    for c in range(n_out):
        s = 0.0
        for t in range(blocks):
            s += partials[t, c]
        grad_b[c] = s


# Reassociation lets grad_x's float64 dot products vectorize: 2.4 -> 1.0 us at (4, 8) @ (8, 128).
@njit(cache=True, fastmath={"reassoc"})
def _tiny_backward(grad_y, x, w, y, use_mask, grad_x, grad_w, grad_b):
    """All of the backward in one serial pass, for the chapter's sizes."""
    n, n_out = grad_y.shape
    n_in = x.shape[1]
    colsum = np.zeros(n_out, np.float64)
    g = np.empty((n, n_out), grad_y.dtype)
    _mask_rows(grad_y, y, use_mask, np.int64(0), n, g, colsum)  # not a literal 0 (kernels/cpu/__init__)
    if not use_mask:  # element by element: `g[:] = grad_y` compiles Numba's shape-error message (1.9 s cold)
        for r in range(n):
            for c in range(n_out):
                g[r, c] = grad_y[r, c]
    for c in range(n_out):
        grad_b[c] = colsum[c]
    for r in range(n):  # grad_x = g @ w.T
        for k in range(n_in):
            s = 0.0
            for c in range(n_out):
                s += g[r, c] * w[k, c]
            grad_x[r, k] = s
    grad_w[:] = 0  # grad_w = x.T @ g
    for r in range(n):
        for k in range(n_in):
            xv = x[r, k]
            for c in range(n_out):
                grad_w[k, c] += xv * g[r, c]


def linear_backward(grad_y, x, w, y, need_x=True):
    """(grad_x (n, in) or None unless need_x, grad_w (in, out), grad_b (out,)); y given → ReLU mask from y > 0."""
    n, n_in = x.shape
    n_out = w.shape[1]
    dtype = x.dtype
    grad_w = _alloc.empty(w.shape, dtype)
    grad_b = _alloc.empty(n_out, dtype)
    use_mask = y is not None
    if _is_tiny(n, n_in, n_out):
        grad_x = _alloc.empty(x.shape, dtype)  # the tiny kernel writes it in the same pass
        _tiny_backward(grad_y, x, w, y if use_mask else grad_y, use_mask, grad_x, grad_w, grad_b)
        return (grad_x if need_x else None), grad_w, grad_b
    # Without a mask nothing writes g (grad_y may be read-only): an empty stand-in takes its place.
    g = _alloc.empty(grad_y.shape, dtype) if use_mask else np.empty((0, 0), dtype)
    _mask_and_bias_grad(grad_y, y if use_mask else grad_y, use_mask, g, grad_b)
    if not use_mask:
        g = grad_y
    grad_x = None
    if need_x:
        grad_x = _alloc.empty(x.shape, dtype)
        _gemm.matmul(g, w.T, grad_x)
    _gemm.matmul(x.T, g, grad_w)
    return grad_x, grad_w, grad_b
