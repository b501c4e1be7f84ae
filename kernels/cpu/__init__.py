"""The CPU backend: Numba kernels on NumPy arrays.

kernels.api calls these with validated, C-contiguous float arrays of one dtype
and 2-D batches; users call kernels.linear & co., not this module.
"""

import numpy as np

from .._dispatch import BACKEND_OPS
from .center import center, center_backward
from .fft import fft_half, fft_half_backward
from .linear import linear, linear_backward, relu, relu_backward
from .losses import cross_entropy, cross_entropy_backward, first_bad_label, mse_loss, mse_loss_backward
from .optim import adam_update
from .tensor_reduction import tensor_reduction, tensor_reduction_backward

xp = np

__all__ = ["xp", *BACKEND_OPS]
