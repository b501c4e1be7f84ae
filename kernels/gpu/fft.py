"""fft_half and its gradient on the GPU: cuFFT (the floor) and the half-spectrum kernels
(kernels/gpu/fft_half.cu). x (B, n) real; y (B, n // 2) complex."""

import cupy

from ._modules import i64, kernel, launch


def fft_half(x):
    rows, n = x.shape
    half = n // 2
    spectrum = cupy.fft.rfft(x, axis=-1)  # (B, n // 2 + 1), cuFFT R2C
    y = cupy.empty((rows, half), spectrum.dtype)
    launch(kernel("fft_half", "half_spectrum", x.dtype), rows * half,
           spectrum.view(x.dtype), y.view(x.dtype), i64(rows), i64(half + 1), i64(half))
    return y


def fft_half_backward(grad_y, n):
    rows, half = grad_y.shape
    real = grad_y.real.dtype
    h = cupy.empty((rows, n // 2 + 1), grad_y.dtype)
    launch(kernel("fft_half", "backward_spectrum", real), h.size,
           grad_y.view(real), h.view(real), i64(rows), i64(half), i64(n // 2 + 1), real.type(n))
    return cupy.fft.irfft(h, n=n, axis=-1)  # cuFFT C2R
