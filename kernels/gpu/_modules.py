"""The CUDA sources beside this file, compiled by CuPy once per (file, dtype), and how to launch them."""

from functools import lru_cache
from pathlib import Path

import cupy
import numpy as np

_SOURCES = Path(__file__).parent
_REAL_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
THREADS = 256  # center.cu's block reduction assumes this many threads per block


@lru_cache(maxsize=None)
def _module(name: str, dtype: np.dtype) -> cupy.RawModule:
    source = (_SOURCES / f"{name}.cu").read_text()
    return cupy.RawModule(code=source, options=("-std=c++17", f"-Dreal_t={_REAL_T[np.dtype(dtype)]}"))


def kernel(source: str, name: str, dtype):
    """The kernel `name` of `source`.cu compiled for dtype (float32 or float64)."""
    return _module(source, np.dtype(dtype)).get_function(name)


def launch(kern, total: int, *args):
    """A grid-stride kernel over `total` elements (nothing to do: no launch)."""
    if total <= 0:
        return
    blocks = min((total + THREADS - 1) // THREADS, 1 << 20)
    kern((blocks,), (THREADS,), args)


def i64(v):
    return np.int64(v)


def i32(v):
    return np.int32(v)
