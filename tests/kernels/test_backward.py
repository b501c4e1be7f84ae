"""Each backward against central finite differences of L = sum(y * grad_y), in float64."""

import numpy as np
import pytest

import kernels
from tests.numerics import GRADIENT_TOLERANCE, numerical_grad, rel_err


def _loss(forward, grad_y):
    return lambda *args: float(np.sum(forward(*args) * grad_y))


@pytest.mark.parametrize("x_shape, n_out", [((3, 5), 4), ((1, 1), 1), ((7, 2), 9), ((5,), 3)])
@pytest.mark.parametrize("op", ["linear", "linear_relu"])
def test_linear_backward(op, x_shape, n_out, rng):
    forward = getattr(kernels, op)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((x_shape[-1], n_out)), rng.standard_normal(n_out)
    y = forward(x, w, b)
    grad_y = rng.standard_normal(y.shape)
    if op == "linear":
        grad_x, grad_w, grad_b = kernels.linear_backward(grad_y, x, w)
    else:
        grad_x, grad_w, grad_b = kernels.linear_relu_backward(grad_y, x, w, y)
    loss = _loss(forward, grad_y)
    assert rel_err(grad_x, numerical_grad(lambda v: loss(v, w, b), x)) <= GRADIENT_TOLERANCE
    assert rel_err(grad_w, numerical_grad(lambda v: loss(x, v, b), w)) <= GRADIENT_TOLERANCE
    assert rel_err(grad_b, numerical_grad(lambda v: loss(x, w, v), b)) <= GRADIENT_TOLERANCE


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 4)])
def test_relu_backward(shape, rng):
    x = rng.standard_normal(shape)
    grad_y = rng.standard_normal(shape)
    grad_x = kernels.relu_backward(grad_y, kernels.relu(x))
    assert rel_err(grad_x, numerical_grad(_loss(kernels.relu, grad_y), x)) <= GRADIENT_TOLERANCE


@pytest.mark.parametrize("shape, axis", [((7,), None), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (1, 2))])
def test_center_backward(shape, axis, rng):
    x = rng.standard_normal(shape)
    grad_y = rng.standard_normal(shape)
    grad_x = kernels.center_backward(grad_y, axis)
    expected = numerical_grad(lambda v: float(np.sum(kernels.center(v, axis) * grad_y)), x)
    assert rel_err(grad_x, expected) <= GRADIENT_TOLERANCE


@pytest.mark.parametrize("x_shape, n_out", [((4, 3), 2), ((1, 5), 3), ((6,), 4), ((3, 1), 1)])
def test_tensor_reduction_backward(x_shape, n_out, rng):
    n_in = x_shape[-1]
    x, w = rng.standard_normal(x_shape), rng.standard_normal((n_in, n_in, n_out))
    grad_y = rng.standard_normal(kernels.tensor_reduction(x, w).shape)
    grad_x, grad_w = kernels.tensor_reduction_backward(grad_y, x, w)
    loss = _loss(kernels.tensor_reduction, grad_y)
    assert rel_err(grad_x, numerical_grad(lambda v: loss(v, w), x)) <= GRADIENT_TOLERANCE
    assert rel_err(grad_w, numerical_grad(lambda v: loss(x, v), w)) <= GRADIENT_TOLERANCE


# Odd and even lengths, small primes (direct radix) and 37 (Bluestein).
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 9, 12, 17, 37, 64, 74])
def test_fft_half_backward(n, rng):
    x = rng.standard_normal((2, n))
    grad_y = rng.standard_normal((2, n // 2)) + 1j * rng.standard_normal((2, n // 2))

    def loss(v):  # a real loss: sum Re(y) Re(g) + Im(y) Im(g)
        y = kernels.fft_half(v)
        return float(np.sum(y.real * grad_y.real + y.imag * grad_y.imag))

    grad_x = kernels.fft_half_backward(grad_y, n)
    assert grad_x.shape == x.shape and grad_x.dtype == np.float64
    assert rel_err(grad_x, numerical_grad(loss, x)) <= GRADIENT_TOLERANCE


def test_fft_half_backward_float32_matches_reference(rng):
    from kernels import reference

    for n in (1000, 1024, 997):
        grad_y = (rng.standard_normal((3, n // 2)) + 1j * rng.standard_normal((3, n // 2))).astype(np.complex64)
        grad_x = kernels.fft_half_backward(grad_y, n)
        assert grad_x.dtype == np.float32
        assert rel_err(grad_x, reference.fft_half_backward(grad_y.astype(np.complex128), n)) <= 2e-5


@pytest.mark.parametrize("rows", [8, 21, 67])
@pytest.mark.parametrize("n", [6, 37, 250, 997, 1000, 1024])
def test_fft_half_backward_many_rows_matches_reference(rows, n, rng):
    """Whole blocks of 8 rows and a partial last one, one thread and two, vs the NumPy formula."""
    from kernels import reference

    grad_y = rng.standard_normal((rows, n // 2)) + 1j * rng.standard_normal((rows, n // 2))
    assert rel_err(kernels.fft_half_backward(grad_y, n), reference.fft_half_backward(grad_y, n)) <= 1e-12
    g32 = grad_y.astype(np.complex64)
    assert rel_err(kernels.fft_half_backward(g32, n), reference.fft_half_backward(g32.astype(np.complex128), n)) <= 2e-5


def test_backward_kernels_match_references_at_larger_sizes(rng):
    """Backwards at sizes beyond finite differences' reach (several GEMM panels), vs the NumPy formulas."""
    from kernels import reference

    x, w = rng.standard_normal((2000, 33)), rng.standard_normal((33, 40))
    y = kernels.linear_relu(x, w)
    g = rng.standard_normal(y.shape)
    for got, expected in zip(kernels.linear_relu_backward(g, x, w, y), reference.linear_relu_backward(g, x, w, y)):
        assert rel_err(got, expected) <= 1e-12
    x, w = rng.standard_normal((3000, 40)), rng.standard_normal((40, 40, 7))
    g = rng.standard_normal((3000, 7))
    for got, expected in zip(kernels.tensor_reduction_backward(g, x, w), reference.tensor_reduction_backward(g, x, w)):
        assert rel_err(got, expected) <= 1e-12
    g = rng.standard_normal((300, 40))
    assert rel_err(kernels.center_backward(g, 0), reference.center_backward(g, 0)) <= 1e-12
