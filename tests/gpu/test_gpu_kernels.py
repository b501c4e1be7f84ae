"""The CPU suite's checks on CuPy inputs: forwards against float64 references, gradients against
finite differences, all compared on the host. Skipped without CuPy or a GPU."""

import numpy as np
import pytest

import kernels
from kernels import reference
from tests.numerics import GRADIENT_TOLERANCE, TOLERANCE, numerical_grad, rel_err

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def _on_gpu(cupy, *arrays):
    return [cupy.asarray(a) for a in arrays]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("n, n_in, n_out", [(0, 3, 2), (1, 5, 3), (37, 64, 8), (300, 130, 70)])
def test_linear_relu_forward_and_backward(cupy, dtype, n, n_in, n_out, rng):
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(n, n_in), (n_in, n_out), (n_out,)])
    gx, gw, gb = _on_gpu(cupy, x, w, b)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    for op in ("linear", "linear_relu"):
        y = getattr(kernels, op)(gx, gw, gb)
        assert isinstance(y, cupy.ndarray) and y.dtype == dtype
        assert rel_err(y.get(), getattr(reference, op)(x64, w64, b64)) <= TOLERANCE[dtype]
    y = kernels.linear_relu(gx, gw, gb)
    grad_y = rng.standard_normal(y.shape).astype(dtype)
    got = kernels.linear_relu_backward(cupy.asarray(grad_y), gx, gw, y)
    expected = reference.linear_relu_backward(grad_y.astype(np.float64), x64, w64, y.get().astype(np.float64))
    for g, e in zip(got, expected):
        assert rel_err(g.get(), e) <= 10 * TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape, axis", [((10**4,), None), ((3, 5, 7), 1), ((3, 5, 7), (0, 2)), ((4096, 64), 0),
                                         ((70000, 3), -1)])
def test_center(cupy, dtype, shape, axis, rng):
    x = (rng.standard_normal(shape) + 3).astype(dtype)
    y = kernels.center(cupy.asarray(x), axis)
    assert y.dtype == dtype
    assert rel_err(y.get(), reference.center(x.astype(np.float64), axis)) <= TOLERANCE[dtype]


def test_center_keeps_the_precision_of_ten_million_float32(cupy):
    x = (1000 + np.random.default_rng(7).standard_normal(10**7)).astype(np.float32)
    expected = reference.center(x.astype(np.float64))
    assert rel_err(kernels.center(cupy.asarray(x)).get(), expected) <= max(rel_err(x - x.mean(), expected), 1e-7)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("n, n_in, n_out", [(0, 3, 2), (1, 4, 3), (50, 24, 5), (300, 64, 16)])
def test_tensor_reduction(cupy, dtype, n, n_in, n_out, rng):
    x, w = rng.standard_normal((n, n_in)).astype(dtype), rng.standard_normal((n_in, n_in, n_out)).astype(dtype)
    y = kernels.tensor_reduction(*_on_gpu(cupy, x, w))
    assert rel_err(y.get(), reference.tensor_reduction(x.astype(np.float64), w.astype(np.float64))) <= TOLERANCE[dtype]
    g = rng.standard_normal((n, n_out)).astype(dtype)
    got = kernels.tensor_reduction_backward(*_on_gpu(cupy, g, x, w))
    expected = reference.tensor_reduction_backward(g.astype(np.float64), x.astype(np.float64), w.astype(np.float64))
    for a, e in zip(got, expected):
        assert rel_err(a.get(), e) <= 10 * TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("n", [1, 2, 3, 8, 97, 1000, 4096, 2**20])
def test_fft_half(cupy, dtype, n, rng):
    rows = max(1, min(4, 2**18 // n))
    x = rng.standard_normal((rows, n)).astype(dtype)
    y = kernels.fft_half(cupy.asarray(x))
    assert y.dtype == (np.complex64 if dtype == F32 else np.complex128)
    assert rel_err(y.get(), reference.fft_half(x.astype(np.float64))) <= (2e-5 if dtype == F32 else 1e-12)


def _fd_check(cupy, forward, backward_grads, inputs, rng, complex_out=False):
    """Gradients computed on the GPU against central differences of L = sum(y * g) run on the GPU, float64."""
    y = forward(*_on_gpu(cupy, *inputs)).get()
    g = rng.standard_normal(y.shape) + (1j * rng.standard_normal(y.shape) if complex_out else 0)
    grads = backward_grads(cupy.asarray(g), *_on_gpu(cupy, *inputs))
    for k, grad in enumerate(grads):
        def loss(v, k=k):
            args = list(inputs)
            args[k] = v
            out = forward(*_on_gpu(cupy, *args)).get()
            return float(np.sum(out.real * g.real + out.imag * np.imag(g)))

        assert rel_err(grad.get(), numerical_grad(loss, inputs[k])) <= GRADIENT_TOLERANCE


def test_gradients_against_finite_differences(cupy, rng):
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    _fd_check(cupy, kernels.linear_relu,
              lambda g, x, w, b: kernels.linear_relu_backward(g, x, w, kernels.linear_relu(x, w, b)), (x, w, b), rng)
    _fd_check(cupy, lambda x: kernels.center(x, 0), lambda g, x: (kernels.center_backward(g, 0),),
              (rng.standard_normal((4, 3)),), rng)
    _fd_check(cupy, kernels.tensor_reduction, kernels.tensor_reduction_backward,
              (rng.standard_normal((3, 4)), rng.standard_normal((4, 4, 2))), rng)
    for n in (5, 8, 9, 12):
        _fd_check(cupy, kernels.fft_half, lambda g, x, n=n: (kernels.fft_half_backward(g, n),),
                  (rng.standard_normal((2, n)),), rng, complex_out=True)


def test_mixing_host_and_device_arrays_is_a_type_error(cupy):
    with pytest.raises(TypeError, match="different devices"):
        kernels.linear(np.ones((2, 3)), cupy.ones((3, 2)))
