"""center (x - mean over axes) and its gradient on the CPU (Numba).

Any input is viewed as (outer, red, inner): the reduced axes, made adjacent,
in the middle. Two passes over x: block sums, then the subtraction. Sums
accumulate in float64 block by block (4096 elements a block), so float32 data
loses nothing against NumPy's pairwise sum, and the subtraction is done in
float64 and rounded once. Blocks are the unit of work for the threads.
"""

import numpy as np
from numba import njit, prange

from . import _alloc
from ._threads import PARALLEL_MIN_ELEMENTS

_BLOCK_ELEMENTS = 4096


@njit(cache=True, fastmath={"reassoc"})  # reassociation lets the sum vectorize; NaN and inf still propagate
def _block_sum_rows(x2, o, r0, r1):
    acc = 0.0
    for r in range(r0, r1):
        acc += np.float64(x2[o, r])
    return acc


@njit(cache=True)
def _block_sum_columns(x3, o, r0, r1, acc):
    acc[:] = 0.0
    for r in range(r0, r1):
        for i in range(x3.shape[2]):
            acc[i] += np.float64(x3[o, r, i])


@njit(cache=True)
def _subtract_rows(x2, mean, o, r0, r1, out2):
    m = mean[o, 0]
    for r in range(r0, r1):
        out2[o, r] = np.float64(x2[o, r]) - m


@njit(cache=True)
def _subtract_columns(x3, mean, o, r0, r1, out3):
    for r in range(r0, r1):
        for i in range(x3.shape[2]):
            out3[o, r, i] = np.float64(x3[o, r, i]) - mean[o, i]


@njit(cache=True)
def _means(partials, red):
    """partials (outer, blocks, inner) float64 → means (outer, inner)."""
    outer, blocks, inner = partials.shape
    mean = np.zeros((outer, inner), np.float64)
    for o in range(outer):
        for b in range(blocks):
            for i in range(inner):
                mean[o, i] += partials[o, b, i]
    return mean / red


@njit(cache=True)
def _sum_task(x3, t, blocks, rows_per_block, partials):
    outer, red, inner = x3.shape
    o, b = t // blocks, t % blocks
    r0, r1 = b * rows_per_block, min(red, (b + 1) * rows_per_block)
    if inner == 1:
        partials[o, b, 0] = _block_sum_rows(x3.reshape(outer, red), o, r0, r1)
    else:
        _block_sum_columns(x3, o, r0, r1, partials[o, b])


@njit(cache=True)
def _subtract_task(x3, mean, t, blocks, rows_per_block, out3):
    outer, red, inner = x3.shape
    o, b = t // blocks, t % blocks
    r0, r1 = b * rows_per_block, min(red, (b + 1) * rows_per_block)
    if inner == 1:
        _subtract_rows(x3.reshape(outer, red), mean, o, r0, r1, out3.reshape(outer, red))
    else:
        _subtract_columns(x3, mean, o, r0, r1, out3)


# The serial and parallel drivers differ only in range/prange: two functions,
# not one compiled twice, so Numba's on-disk cache keeps them apart.
@njit(cache=True)
def _center3_serial(x3, rows_per_block, out3):
    outer, red, inner = x3.shape
    blocks = (red + rows_per_block - 1) // rows_per_block
    partials = np.empty((outer, blocks, inner), np.float64)
    for t in range(outer * blocks):
        _sum_task(x3, t, blocks, rows_per_block, partials)
    mean = _means(partials, red)
    for t in range(outer * blocks):
        _subtract_task(x3, mean, t, blocks, rows_per_block, out3)


@njit(cache=True, parallel=True)
def _center3_parallel(x3, rows_per_block, out3):
    outer, red, inner = x3.shape
    blocks = (red + rows_per_block - 1) // rows_per_block
    partials = np.empty((outer, blocks, inner), np.float64)
    for t in prange(outer * blocks):
        _sum_task(x3, t, blocks, rows_per_block, partials)
    mean = _means(partials, red)
    for t in prange(outer * blocks):
        _subtract_task(x3, mean, t, blocks, rows_per_block, out3)


def _center3(x3, out3):
    rows_per_block = max(1, _BLOCK_ELEMENTS // x3.shape[2])
    if x3.size >= PARALLEL_MIN_ELEMENTS:
        _center3_parallel(x3, rows_per_block, out3)
    else:
        _center3_serial(x3, rows_per_block, out3)


def center(x, axes):
    """x - x.mean(axes, keepdims=True) for a C-contiguous float array of any shape.

    axes: sorted tuple of distinct axes (empty: nothing is reduced).
    """
    out = _alloc.empty(x.shape, x.dtype)
    if x.size == 0:
        return out
    shape = x.shape
    if not axes or axes[-1] - axes[0] == len(axes) - 1:  # the reduced axes are adjacent
        first, last = (axes[0], axes[-1] + 1) if axes else (x.ndim, x.ndim)
        outer = int(np.prod(shape[:first]))
        red = int(np.prod(shape[first:last]))
        _center3(x.reshape(outer, red, -1), out.reshape(outer, red, -1))
        return out
    # Reduced axes apart from each other: gather them at the end, center, put them back.
    kept = tuple(a for a in range(x.ndim) if a not in axes)
    moved = np.ascontiguousarray(x.transpose(kept + axes))
    red = int(np.prod([shape[a] for a in axes]))
    centered = _alloc.empty(moved.shape, x.dtype)
    _center3(moved.reshape(-1, red, 1), centered.reshape(-1, red, 1))
    out[...] = centered.transpose(np.argsort(kept + axes))
    return out


def center_backward(grad_y, axes):
    # The Jacobian of centering, I - 11^T/m, is symmetric: the gradient is grad_y centered.
    return center(grad_y, axes)
