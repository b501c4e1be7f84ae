"""fastlayers' compiled kernels: plain functions on arrays, each forward with its gradient.

NumPy arrays run Numba kernels on the CPU; CuPy arrays run CuPy kernels on the
GPU. Each op lives in a folder of its own, ``kernels/<op>/``: its NumPy reference,
checks, public functions, CPU and GPU kernels, and the inputs its tests and
benchmarks use. ``kernels.OPS`` lists them (``kernels/_ops.py``); every op is
``kernels.<name>(*inputs, **options)`` with ``kernels.<name>_backward(grad_y, y,
*inputs, **options)``, one gradient per input. ``kernels.reference`` holds the NumPy
formulas they are checked against.

Importing this package compiles nothing: each kernel compiles at its first call and
is cached on disk (Numba ``cache=True``). Importing it does limit how long idle
OpenMP and OpenBLAS threads spin (see ``kernels._cores``), so that Numba's threads
and BLAS's take turns on the cores without waiting on each other, and makes TBB, where
installed, Numba's threading layer (its threads steal work: a busy core slows a kernel
far less than OpenMP's static split). ``kernels.limit_threads(n)`` caps both for a block.
"""

from ._cores import cache_outside_the_package, limit_threads, prefer_tbb, share_cores_with_blas

share_cores_with_blas()  # first: before this process loads OpenMP, if it has not yet
cache_outside_the_package()  # before any kernel is compiled
prefer_tbb()  # before Numba starts its threads

from ._op import Case, GpuCase, Op  # noqa: E402
from ._ops import OPS  # noqa: E402
from .adam import AdamStep, adam_update, adam_update_many  # noqa: E402
from .mlp_step import MLPStep  # noqa: E402

for _op in OPS:
    globals()[_op.name] = _op.forward
    globals()[f"{_op.name}_backward"] = _op.backward

from . import reference  # noqa: E402

__all__ = [*(_op.name for _op in OPS), *(f"{_op.name}_backward" for _op in OPS), "adam_update", "adam_update_many",
           "AdamStep", "MLPStep",
           "limit_threads", "reference", "OPS", "Op", "Case", "GpuCase"]
del _op
