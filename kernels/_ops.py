"""Every op, one line each: kernels' public names, kernels.reference, fastlayers' functional ops, the
benchmark cases and the parametrized tests all come from this list."""

from .center import CENTER
from .cross_entropy import CROSS_ENTROPY
from .fft_half import FFT_HALF
from .linear import LINEAR, LINEAR_RELU, RELU
from .mse_loss import MSE_LOSS
from .tensor_reduction import TENSOR_REDUCTION

OPS = (LINEAR, LINEAR_RELU, RELU, CENTER, TENSOR_REDUCTION, FFT_HALF, CROSS_ENTROPY, MSE_LOSS)
