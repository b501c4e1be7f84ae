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
    got = kernels.linear_relu_backward(cupy.asarray(grad_y), y, gx, gw, gb)
    expected = reference.linear_relu_backward(grad_y.astype(np.float64), y.get().astype(np.float64), x64, w64, b64)
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
    got = kernels.tensor_reduction_backward(cupy.asarray(g), None, *_on_gpu(cupy, x, w))
    expected = reference.tensor_reduction_backward(g.astype(np.float64), None, x.astype(np.float64), w.astype(np.float64))
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


def _to_gpu(cupy, values):
    return tuple(cupy.asarray(v) if isinstance(v, np.ndarray) else v for v in values)


def _host(a):
    return None if a is None else a.get()


@pytest.mark.parametrize("name", [op.name for op in kernels.OPS])
def test_every_op_on_the_gpu_against_references_and_finite_differences(cupy, name, rng):
    """Each op's own examples (kernels/<op>/) on CuPy arrays, float64, compared on the host."""
    op = next(op for op in kernels.OPS if op.name == name)
    for inputs, options in op.examples(rng):
        y = op.forward(*_to_gpu(cupy, inputs), **options)
        assert isinstance(y, cupy.ndarray)
        assert rel_err(y.get(), op.reference(*inputs, **options)) <= TOLERANCE[F64]
        g = rng.standard_normal(y.shape) + (1j * rng.standard_normal(y.shape) if cupy.iscomplexobj(y) else 0)
        grads = op.backward(cupy.asarray(g), y, *_to_gpu(cupy, inputs), **options)
        expected = op.reference_backward(g, y.get(), *inputs, **options)
        for i, (got, want) in enumerate(zip(grads, expected)):
            assert (got is None) == (want is None)
            if got is None:
                continue
            assert rel_err(_host(got), want) <= TOLERANCE[F64], (name, i)

            def loss(v, i=i):
                out = op.forward(*_to_gpu(cupy, inputs[:i] + (v,) + inputs[i + 1:]), **options).get()
                return float(np.sum(out.real * g.real + out.imag * np.imag(g)))

            assert rel_err(_host(got), numerical_grad(loss, inputs[i])) <= GRADIENT_TOLERANCE, (name, i)


def test_mixing_host_and_device_arrays_is_a_type_error(cupy):
    with pytest.raises(TypeError, match="different devices"):
        kernels.linear(np.ones((2, 3)), cupy.ones((3, 2)))
