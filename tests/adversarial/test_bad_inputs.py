"""Bad input that used to do work before failing, fail with a foreign error, or lose data silently
(issue "Nothing a user does breaks it", items 12, 14, 15 and the ReLU gradient of 13): each a clear
error before any work, or the right result."""

import numpy as np
import pytest

import fastlayers as fl
import kernels
from kernels import reference


def test_shapes_are_checked_before_a_fortran_order_input_is_copied(monkeypatch):
    import kernels._dispatch as dispatch

    def no_copy(*args, **kwargs):
        raise AssertionError("an input was converted before its shapes were checked")

    monkeypatch.setattr(dispatch, "cast_contiguous", no_copy)
    x = np.asfortranarray(np.ones((300, 40), np.float32))  # not C-contiguous: the slow path, which converts
    with pytest.raises(ValueError, match=r"x has 40 features"):
        kernels.linear(x, np.ones((50, 3), np.float32))
    with pytest.raises(ValueError, match=r"x has 40 features"):
        kernels.tensor_reduction(x, np.ones((5, 5, 2)))
    with pytest.raises(ValueError, match=r"input has shape \(300, 40\) but target has shape \(2,\)"):
        kernels.mse_loss(x, np.ones(2))


def test_a_huge_broadcast_input_gets_the_shape_error_not_a_memory_error():
    x = np.broadcast_to(np.float32(1.0), (10**6, 10**5))  # stride 0: 400 GB if copied
    with pytest.raises(ValueError, match=r"x has 100000 features .* but w expects 3"):
        kernels.linear(x, np.ones((3, 2), np.float32))


@pytest.mark.parametrize("dtype, expected", [(">c8", np.float32), (">f4", np.float32), ("<c8", np.float32),
                                             (">c16", np.float64), (">f8", np.float64)])
def test_fft_half_backward_keeps_the_precision_of_a_big_endian_gradient(dtype, expected, rng):
    grad_y = (rng.standard_normal((2, 4)) + (1j * rng.standard_normal((2, 4)) if "c" in dtype else 0)).astype(dtype)
    (grad_x,) = kernels.fft_half_backward(grad_y, None, None, n=8)
    assert grad_x.dtype == expected
    (want,) = reference.fft_half_backward(grad_y.astype(np.complex128), None, None, 8)
    np.testing.assert_allclose(grad_x, want, rtol=1e-5, atol=1e-5)


def test_a_masked_array_is_refused_not_unmasked_silently():
    x = np.ma.masked_array(np.arange(6.0).reshape(2, 3), mask=[[0, 1, 0], [0, 0, 0]])
    with pytest.raises(TypeError, match=r"center: x is a masked array.*x.filled\(value\)"):
        kernels.center(x)
    with pytest.raises(TypeError, match="masked array"):
        kernels.linear(x, np.ones((3, 2)))


@pytest.mark.parametrize("call, message", [
    (lambda: kernels.center(None), "center: x is None; expected an array"),
    (lambda: kernels.linear(None, np.ones((3, 2))), "linear: x is None; expected an array"),
    (lambda: kernels.linear(np.ones((2, 3)), None), "linear: w is None; expected an array"),
    (lambda: kernels.relu_backward(np.ones(3), None, None), "relu_backward: y is None"),
    (lambda: kernels.center(np.ones(3), axis=0.0), r"center: axis must be None, an int or a tuple of ints, got 0.0"),
    (lambda: kernels.center(np.ones(3), axis="0"), r"axis must be None, an int or a tuple of ints, got '0'"),
])
def test_wrong_kinds_of_argument_are_type_errors_naming_it(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_a_scalar_into_a_lazy_layer_and_a_non_mapping_into_load_state_dict():
    with pytest.raises(ValueError, match=r"LazyLinear: expected an input of shape \(\.\.\., in_features\), got a scalar"):
        fl.LazyLinear(3)(2.0)
    with pytest.raises(ValueError, match="got a scalar"):
        fl.LazyTensorReduction(3)(np.float32(1))
    with pytest.raises(TypeError, match="expected a mapping of {name: array}, got list"):
        fl.Linear(2, 2).load_state_dict([1, 2])


def test_relu_backward_gives_0_where_y_is_not_positive_even_for_nan_gradients():
    """The kernels and kernels.reference agree: grad_y where y > 0, else 0 (PyTorch's threshold_backward)."""
    y = np.array([1.0, 0.0, -1.0, 2.0])
    grad_y = np.array([np.nan, np.nan, np.inf, np.inf])
    expected = [np.nan, 0.0, 0.0, np.inf]
    np.testing.assert_array_equal(kernels.relu_backward(grad_y, y, None)[0], expected)
    np.testing.assert_array_equal(reference.relu_backward(grad_y, y, None)[0], expected)


def test_a_failed_first_call_leaves_a_lazy_layer_lazy_and_a_failed_forward_leaves_nothing_to_backward():
    layer = fl.LazyLinear(3)
    with pytest.raises(TypeError):
        layer(np.ones((2, 4), np.complex64))
    assert not layer.weight.initialized
    net = fl.Sequential(fl.Linear(2, 2))
    net(np.ones((1, 2), np.float32))
    with pytest.raises(ValueError):
        net(np.ones((1, 3), np.float32))
    with pytest.raises(RuntimeError, match="the last forward raised"):
        net.backward(np.ones((1, 2), np.float32))
