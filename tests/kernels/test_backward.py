"""Backwards beyond what every op's examples cover (tests/kernels/test_ops.py): the FFT's lengths and
precision, and sizes beyond finite differences' reach, against the NumPy formulas."""

import numpy as np
import pytest

import kernels
from kernels import reference
from tests.numerics import GRADIENT_TOLERANCE, numerical_grad, rel_err


# Odd and even lengths, small primes (direct radix) and 37 (Bluestein).
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 9, 12, 17, 37, 64, 74])
def test_fft_half_backward(n, rng):
    x = rng.standard_normal((2, n))
    grad_y = rng.standard_normal((2, n // 2)) + 1j * rng.standard_normal((2, n // 2))

    def loss(v):  # a real loss: sum Re(y) Re(g) + Im(y) Im(g)
        y = kernels.fft_half(v)
        return float(np.sum(y.real * grad_y.real + y.imag * grad_y.imag))

    (grad_x,) = kernels.fft_half_backward(grad_y, None, x)
    assert grad_x.shape == x.shape and grad_x.dtype == np.float64
    assert rel_err(grad_x, numerical_grad(loss, x)) <= GRADIENT_TOLERANCE
    np.testing.assert_array_equal(kernels.fft_half_backward(grad_y, None, None, n=n)[0], grad_x)  # n instead of x


def test_fft_half_backward_float32_matches_reference(rng):
    for n in (1000, 1024, 997):
        grad_y = (rng.standard_normal((3, n // 2)) + 1j * rng.standard_normal((3, n // 2))).astype(np.complex64)
        (grad_x,) = kernels.fft_half_backward(grad_y, None, None, n=n)
        assert grad_x.dtype == np.float32
        (expected,) = reference.fft_half_backward(grad_y.astype(np.complex128), None, None, n)
        assert rel_err(grad_x, expected) <= 2e-5


@pytest.mark.parametrize("rows", [8, 21, 67])
@pytest.mark.parametrize("n", [6, 37, 250, 997, 1000, 1024])
def test_fft_half_backward_many_rows_matches_reference(rows, n, rng):
    """Whole blocks of 8 rows and a partial last one, one thread and two, vs the NumPy formula."""
    grad_y = rng.standard_normal((rows, n // 2)) + 1j * rng.standard_normal((rows, n // 2))
    (expected,) = reference.fft_half_backward(grad_y, None, None, n)
    assert rel_err(kernels.fft_half_backward(grad_y, None, None, n=n)[0], expected) <= 1e-12
    g32 = grad_y.astype(np.complex64)
    assert rel_err(kernels.fft_half_backward(g32, None, None, n=n)[0], expected) <= 2e-5


def test_backward_kernels_match_references_at_larger_sizes(rng):
    """Backwards at sizes beyond finite differences' reach (several GEMM panels), vs the NumPy formulas."""
    x, w, b = rng.standard_normal((2000, 33)), rng.standard_normal((33, 40)), rng.standard_normal(40)
    y = kernels.linear_relu(x, w, b)
    g = rng.standard_normal(y.shape)
    for got, expected in zip(kernels.linear_relu_backward(g, y, x, w, b), reference.linear_relu_backward(g, y, x, w, b)):
        assert rel_err(got, expected) <= 1e-12
    x, w = rng.standard_normal((3000, 40)), rng.standard_normal((40, 40, 7))
    g = rng.standard_normal((3000, 7))
    for got, expected in zip(kernels.tensor_reduction_backward(g, None, x, w),
                             reference.tensor_reduction_backward(g, None, x, w)):
        assert rel_err(got, expected) <= 1e-12
    g = rng.standard_normal((300, 40))
    assert rel_err(kernels.center_backward(g, None, None, 0)[0], reference.center_backward(g, None, None, 0)[0]) <= 1e-12
