"""fastlayers' compiled kernels: plain functions on arrays, each forward with its gradient.

NumPy arrays run Numba kernels on the CPU; CuPy arrays run CuPy kernels on the
GPU. ``kernels.reference`` holds the NumPy formulas they are checked against.
Importing this package compiles nothing: each kernel compiles at its first
call and is cached on disk (Numba ``cache=True``). Importing it does limit how
long idle OpenMP and OpenBLAS threads spin (see ``kernels._cores``), so that
Numba's threads and BLAS's take turns on the cores without waiting on each other.
"""

from ._cores import share_cores_with_blas

share_cores_with_blas()  # first: before this process loads OpenMP, if it has not yet

from . import reference
from .api import (
    adam_update,
    center,
    center_backward,
    cross_entropy,
    cross_entropy_backward,
    fft_half,
    fft_half_backward,
    linear,
    linear_backward,
    linear_relu,
    linear_relu_backward,
    mse_loss,
    mse_loss_backward,
    relu,
    relu_backward,
    tensor_reduction,
    tensor_reduction_backward,
)

__all__ = [
    "linear",
    "linear_relu",
    "relu",
    "center",
    "tensor_reduction",
    "fft_half",
    "cross_entropy",
    "mse_loss",
    "linear_backward",
    "linear_relu_backward",
    "relu_backward",
    "center_backward",
    "tensor_reduction_backward",
    "fft_half_backward",
    "cross_entropy_backward",
    "mse_loss_backward",
    "adam_update",
    "reference",
]
