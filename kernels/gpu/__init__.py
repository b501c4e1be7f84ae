"""The GPU backend: CuPy kernels on CuPy arrays (imported only when a CuPy array is seen).

kernels.api calls these with validated, C-contiguous float arrays of one dtype
and 2-D batches, as it calls kernels.cpu. cuBLAS and cuFFT do the GEMMs and
FFTs; the .cu files beside this one hold our own kernels for what they cannot
fuse, each compiled by CuPy for float32 and float64 at first use.
"""

import cupy

from .._dispatch import BACKEND_OPS
from .center import center, center_backward
from .fft import fft_half, fft_half_backward
from .linear import linear, linear_backward, relu, relu_backward
from .losses import cross_entropy, cross_entropy_backward, first_bad_label, mse_loss, mse_loss_backward
from .optim import adam_update
from .tensor_reduction import tensor_reduction, tensor_reduction_backward

xp = cupy

__all__ = ["xp", *BACKEND_OPS]
