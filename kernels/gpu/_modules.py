"""Our CUDA sources (each op's .cu file, in its folder), compiled by CuPy once per (file, dtype), and how to
launch them."""

from functools import lru_cache
from pathlib import Path

import cupy
import numpy as np

_REAL_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
THREADS = 256  # the block size every .cu file here assumes (its THREADS)
_MAX_BLOCKS = 1 << 16  # grid-stride loops cover the rest
MAX_GRID_YZ = 65535  # CUDA's limit on gridDim.y and gridDim.z


@lru_cache(maxsize=None)
def _module(source: Path, dtype: np.dtype) -> cupy.RawModule:
    return cupy.RawModule(code=source.read_text(), options=("-std=c++17", f"-Dreal_t={_REAL_T[np.dtype(dtype)]}"))


def kernel(source: Path, name: str, dtype):
    """The kernel `name` of the CUDA file source compiled for dtype (float32 or float64)."""
    return _module(source, np.dtype(dtype)).get_function(name)


def grid_for(work_items: int) -> int:
    """Blocks for a grid-stride loop over work_items blocks' worth of work."""
    return max(1, min(work_items, _MAX_BLOCKS))


def columns_by_rows(cols: int, rows: int, outer: int = 1):
    """(grid, block) for a kernel whose x walks cols (coalesced: a block holds a warp of them at
    least), whose y steps through rows and whose z through outer (both grid-stride)."""
    bx = min(THREADS, max(32, 1 << (cols - 1).bit_length()))
    by = THREADS // bx
    gx, gz = -(-cols // bx), min(outer, MAX_GRID_YZ)
    gy = min(-(-rows // by), MAX_GRID_YZ, max(1, _MAX_BLOCKS // (gx * gz)))
    return (gx, gy, gz), (bx, by)


def launch(kern, total: int, *args):
    """A grid-stride kernel over `total` elements, THREADS per block (nothing to do: no launch)."""
    if total <= 0:
        return
    kern((grid_for((total + THREADS - 1) // THREADS),), (THREADS,), args)


def i64(v):
    return np.int64(v)


def i32(v):
    return np.int32(v)
