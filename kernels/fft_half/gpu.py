"""fft_half and its gradient on the GPU: cuFFT (the floor) and the backward's half-spectrum
kernel (fft_half.cu beside this file). x (B, n) real; y (B, n // 2) complex."""

from functools import lru_cache
from pathlib import Path

import numpy as np
from cupy.cuda import cufft

from ..gpu import _alloc
from ..gpu._modules import columns_by_rows, i64, kernel

_SOURCE = Path(__file__).with_name("fft_half.cu")  # this op's CUDA kernels, compiled by CuPy per dtype

_TYPES = {  # (real dtype, direction) -> cuFFT transform type
    (np.dtype(np.float32), "R2C"): cufft.CUFFT_R2C,
    (np.dtype(np.float64), "R2C"): cufft.CUFFT_D2Z,
    (np.dtype(np.float32), "C2R"): cufft.CUFFT_C2R,
    (np.dtype(np.float64), "C2R"): cufft.CUFFT_Z2D,
}


@lru_cache(maxsize=8)
def _plan(direction: str, rows: int, n: int, real_dtype: np.dtype, device: int):
    """A cuFFT plan for rows transforms of length n, rows packed one after another (kept: planning costs ms)."""
    return cufft.Plan1d(n, _TYPES[real_dtype, direction], rows)


def fft_half(x):
    """A view (B, n // 2) of cuFFT's R2C output (B, n // 2 + 1): the slice costs no pass of its own.

    Its rows are n // 2 + 1 coefficients apart (not C-contiguous); a copy would move as
    many bytes as the FFT itself.
    """
    rows, n = x.shape
    spectrum = _alloc.empty((rows, n // 2 + 1), np.result_type(x.dtype, np.complex64))
    if rows:
        _plan("R2C", rows, n, x.dtype, x.device.id).fft(x, spectrum, cufft.CUFFT_FORWARD)
    return spectrum[:, : n // 2]


def fft_half_backward(grad_y, n):
    rows, half = grad_y.shape
    n_spec = n // 2 + 1
    real = grad_y.real.dtype
    grad_x = _alloc.empty((rows, n), real)
    if not rows:
        return grad_x
    h = _alloc.empty((rows, n_spec), grad_y.dtype)
    grid, block = columns_by_rows(n_spec, rows)
    kernel(_SOURCE, "backward_spectrum", real)(
        grid, block, (grad_y.view(real), h.view(real), i64(rows), i64(half), i64(n_spec))
    )
    # Unnormalized C2R; it may overwrite h, which is ours to spend.
    _plan("C2R", rows, n, real, grad_y.device.id).fft(h, grad_x, cufft.CUFFT_INVERSE)
    return grad_x
