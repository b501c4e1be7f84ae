"""center and its gradient on the GPU: two passes (kernels/gpu/center.cu), sums in float64."""

import cupy

from .._layout import center_by_layout
from ._modules import THREADS, i64, kernel, launch

_ELEMENTS_PER_BLOCK = 1 << 14  # of one row, or rows * inner for column sums


def _center3(x3, out3):
    outer, red, inner = x3.shape
    rows_per_block = max(1, _ELEMENTS_PER_BLOCK // inner)
    blocks_per_row = (red + rows_per_block - 1) // rows_per_block
    partial = cupy.empty(outer * blocks_per_row * inner, cupy.float64)
    kernel("center", "partial_sums", x3.dtype)(
        (outer * blocks_per_row,), (THREADS,), (x3, partial, i64(red), i64(inner), i64(rows_per_block), i64(blocks_per_row))
    )
    hi = cupy.empty(outer * inner, x3.dtype)
    lo = cupy.empty_like(hi)
    launch(kernel("center", "split_means", x3.dtype), outer * inner,
           partial, hi, lo, i64(outer), i64(inner), i64(blocks_per_row), i64(red))
    launch(kernel("center", "subtract_means", x3.dtype), x3.size, x3, hi, lo, out3, i64(red), i64(inner), i64(x3.size))


def center(x, axes):
    """axes: None (all of them) or a sorted tuple of distinct axes, as on the CPU."""
    out = cupy.empty_like(x)
    if x.size == 0:
        return out
    if axes is None:
        axes = tuple(range(x.ndim))
    return center_by_layout(cupy, x, axes, out, _center3, cupy.empty)


def center_backward(grad_y, axes):
    # The Jacobian of centering, I - 11^T/m, is symmetric: the gradient is grad_y centered.
    return center(grad_y, axes)
