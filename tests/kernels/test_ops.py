"""Every op of kernels.OPS, from its own description: the forward against its float64 NumPy reference
in float64 and float32, the backward against the reference gradient and against central finite
differences, the tape's route (fast_backward) against the checked backward. Outputs start as NaN
(tests/conftest.py), so a kernel that skips an element fails here."""

import numpy as np
import pytest

import kernels
from tests.numerics import GRADIENT_TOLERANCE, TOLERANCE, numerical_grad, rel_err

OPS = {op.name: op for op in kernels.OPS}


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def _cast(values, dtype):
    """The float arrays among values in dtype (labels and options stay as they are)."""
    return tuple(v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v for v in values)


def _random_grad(rng, y):
    g = rng.standard_normal(np.shape(y))
    return g + 1j * rng.standard_normal(np.shape(y)) if np.iscomplexobj(y) else g


def test_every_op_is_public_with_its_backward_and_reference():
    for op in kernels.OPS:
        assert getattr(kernels, op.name) is op.forward
        assert getattr(kernels, f"{op.name}_backward") is op.backward
        assert getattr(kernels.reference, op.name) is op.reference
        assert op.examples(np.random.default_rng(0)), op.name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", OPS)
def test_forward_against_reference(name, dtype, rng):
    op = OPS[name]
    for inputs, options in op.examples(rng):
        y = op.forward(*_cast(inputs, dtype), **options)
        expected = op.reference(*inputs, **options)
        assert np.result_type(y) in (np.dtype(dtype), np.result_type(dtype, np.complex64)), name
        assert rel_err(y, expected) <= TOLERANCE[np.dtype(dtype)], (name, [np.shape(i) for i in inputs], options)


@pytest.mark.parametrize("name", OPS)
def test_backward_against_reference_and_finite_differences(name, rng):
    op = OPS[name]
    for inputs, options in op.examples(rng):
        y = op.forward(*inputs, **options)
        grad_y = _random_grad(rng, y)
        grads = op.backward(grad_y, y, *inputs, **options)
        expected = op.reference_backward(grad_y, y, *inputs, **options)
        assert len(grads) == len(inputs) == len(expected), name
        for i, (got, want, x) in enumerate(zip(grads, expected, inputs)):
            assert (got is None) == (want is None), (name, i)
            if got is None:
                continue
            assert rel_err(got, want) <= TOLERANCE[np.dtype(np.float64)], (name, i, np.shape(x), options)

            def loss(v, i=i):
                out = op.forward(*inputs[:i], v, *inputs[i + 1:], **options)
                return float(np.sum(np.real(out) * grad_y.real + np.imag(out) * np.imag(grad_y)))

            assert rel_err(got, numerical_grad(loss, x)) <= GRADIENT_TOLERANCE, (name, i, np.shape(x), options)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", OPS)
def test_the_tapes_route_gives_the_checked_backwards_gradients(name, dtype, rng):
    op = OPS[name]
    for inputs, options in op.examples(rng):
        inputs = _cast(inputs, dtype)
        y = op.forward(*inputs, **options)
        grad_y = _random_grad(rng, y).astype(np.result_type(y))
        for got, want in zip(op.fast_backward(grad_y, y, *inputs, **options), op.backward(grad_y, y, *inputs, **options)):
            assert (got is None) == (want is None)
            if got is not None:
                assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True), name


@pytest.mark.parametrize("name", OPS)
def test_inputs_are_never_written(name, rng):
    op = OPS[name]
    for inputs, options in op.examples(rng):
        before = [np.copy(x) if isinstance(x, np.ndarray) else x for x in inputs]
        y = op.forward(*inputs, **options)
        op.backward(_random_grad(rng, y), y, *inputs, **options)
        for x, b in zip(inputs, before):
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, b)
