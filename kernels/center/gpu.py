"""center and its gradient on the GPU: two passes (center.cu beside this file), sums in float64.
Also column_sums, the same float64 sums for linear's bias gradient."""

import math
from pathlib import Path

import cupy

from .layout import center_by_layout
from ..gpu import _alloc
from ..gpu._modules import THREADS, columns_by_rows, grid_for, i64, kernel

_SOURCE = Path(__file__).with_name("center.cu")  # this op's CUDA kernels, compiled by CuPy per dtype

_ELEMENTS_PER_BLOCK = 1 << 14  # summed by one block of pass 1: of one row, or rows * inner for column sums
_TILE = 8 * THREADS  # center.cu's TILE: the elements of a row one block of pass 2 covers per step


def _partial_sums(x3):
    """(partial (outer, blocks_per_row, inner) float64, blocks_per_row) for x3 (outer, red, inner)."""
    outer, red, inner = x3.shape
    rows_per_block = max(1, _ELEMENTS_PER_BLOCK // inner)
    blocks_per_row = max(1, math.ceil(red / rows_per_block))
    partial = _alloc.empty((outer, blocks_per_row, inner), cupy.float64)
    kernel(_SOURCE, "partial_sums", x3.dtype)(
        (outer * blocks_per_row,), (THREADS,), (x3, partial, i64(red), i64(inner), i64(rows_per_block), i64(blocks_per_row))
    )
    return partial, blocks_per_row


def _center3(x3, out3):
    outer, red, inner = x3.shape
    partial, blocks_per_row = _partial_sums(x3)
    hi = _alloc.empty(outer * inner, x3.dtype)
    lo = _alloc.empty(outer * inner, x3.dtype)
    kernel(_SOURCE, "split_means", x3.dtype)(
        (grid_for(outer * inner),), (THREADS,), (partial, hi, lo, i64(outer * inner), i64(inner), i64(blocks_per_row), i64(red))
    )
    if inner == 1:
        tiles_per_row = math.ceil(red / _TILE)
        kernel(_SOURCE, "subtract_row_means", x3.dtype)(
            (grid_for(outer * tiles_per_row),), (THREADS,), (x3, hi, lo, out3, i64(outer), i64(red), i64(tiles_per_row))
        )
        return
    grid, block = columns_by_rows(inner, red, outer)  # x walks i, y r, z o
    kernel(_SOURCE, "subtract_column_means", x3.dtype)(grid, block, (x3, hi, lo, out3, i64(outer), i64(red), i64(inner)))


def center(x, axes):
    """axes: None (all of them) or a sorted tuple of distinct axes, as on the CPU."""
    out = _alloc.empty(x.shape, x.dtype)
    if x.size == 0:
        return out
    if axes is None:
        axes = tuple(range(x.ndim))
    return center_by_layout(cupy, x, axes, out, _center3, _alloc.empty)


def center_backward(grad_y, axes):
    # The Jacobian of centering, I - 11^T/m, is symmetric: the gradient is grad_y centered.
    return center(grad_y, axes)


def column_sums(g):
    """g (n, cols) → (cols,) in g's dtype, summed in float64 and rounded once, as on the CPU."""
    n, cols = g.shape
    sums = _alloc.empty(cols, g.dtype)
    if cols == 0:
        return sums
    if n == 0:
        sums.fill(0)
        return sums
    partial, blocks_per_row = _partial_sums(g.reshape(1, n, cols))
    kernel(_SOURCE, "finish_sums", g.dtype)(
        (grid_for(cols),), (THREADS,), (partial, sums, i64(cols), i64(cols), i64(blocks_per_row))
    )
    return sums
