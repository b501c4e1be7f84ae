"""The semantics users rely on: dtypes, precision, read-only and strided inputs, empties, NaN, errors."""

import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest

import kernels
from kernels import reference
from tests.numerics import rel_err


def _all_calls(rng, dtype=np.float64):
    """(name, call) for every public function, on small random inputs of dtype."""
    x = rng.standard_normal((5, 4)).astype(dtype)
    w = rng.standard_normal((4, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    wt = rng.standard_normal((4, 4, 3)).astype(dtype)
    g = rng.standard_normal((5, 3)).astype(dtype)
    gf = (rng.standard_normal((5, 2)) + 1j * rng.standard_normal((5, 2))).astype(np.result_type(dtype, np.complex64))
    y = np.maximum(x @ w + b, 0)
    return [
        ("linear", lambda: kernels.linear(x, w, b), (x, w, b)),
        ("linear_relu", lambda: kernels.linear_relu(x, w, b), (x, w, b)),
        ("relu", lambda: kernels.relu(x), (x,)),
        ("center", lambda: kernels.center(x, 0), (x,)),
        ("tensor_reduction", lambda: kernels.tensor_reduction(x, wt), (x, wt)),
        ("fft_half", lambda: kernels.fft_half(x), (x,)),
        ("linear_backward", lambda: kernels.linear_backward(g, None, x, w, b), (g, x, w, b)),
        ("linear_relu_backward", lambda: kernels.linear_relu_backward(g, y, x, w, b), (g, y, x, w, b)),
        ("relu_backward", lambda: kernels.relu_backward(x, x, x), (x,)),
        ("center_backward", lambda: kernels.center_backward(x, None, None, 1), (x,)),
        ("tensor_reduction_backward", lambda: kernels.tensor_reduction_backward(g, None, x, wt), (g, x, wt)),
        ("fft_half_backward", lambda: kernels.fft_half_backward(gf, None, None, n=4), (gf,)),
    ]


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(dtype, rng):
    for name, call, _ in _all_calls(rng, dtype):
        for out in _as_tuple(call()):
            expected = np.complex64 if dtype == np.float32 else np.complex128
            assert out.dtype == (expected if name == "fft_half" else dtype), name


def test_integer_and_bool_inputs_compute_in_float64():
    y = kernels.center(np.array([1, 2, 3, 4, 5]))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [-2.0, -1.0, 0.0, 1.0, 2.0])
    assert kernels.relu(np.array([True, False])).dtype == np.float64
    assert kernels.linear(np.arange(6).reshape(2, 3), np.ones((3, 2), np.int32)).dtype == np.float64
    assert kernels.fft_half(np.arange(8)).dtype == np.complex128


def test_mixed_float_dtypes_compute_in_float64(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 2))
    assert kernels.linear(x, w).dtype == np.float64


@pytest.mark.parametrize("call", [
    lambda: kernels.center(np.ones(3, np.complex128)),
    lambda: kernels.linear(np.ones((2, 3)), np.ones((3, 2), np.complex64)),
    lambda: kernels.fft_half(np.ones(8, np.complex64)),
    lambda: kernels.relu(np.array(["a", "b"])),
])
def test_complex_or_non_numeric_input_is_a_type_error(call):
    with pytest.raises(TypeError, match="complex|dtype"):
        call()


def test_mean_of_ten_million_float32_is_as_good_as_numpy():
    """A naive float32 running sum of 10^7 values near 1000 is off by percents; ours must match NumPy's pairwise sum."""
    rng = np.random.default_rng(7)
    x = (1000 + rng.standard_normal(10**7)).astype(np.float32)
    expected = reference.center(x.astype(np.float64))
    ours = rel_err(kernels.center(x), expected)
    numpy_float32 = rel_err(x - x.mean(), expected)
    assert ours <= max(numpy_float32, 1e-7)


def test_inputs_are_never_written_and_read_only_inputs_work(rng):
    calls = _all_calls(rng)
    for _, _, args in calls:
        for a in args:
            a.flags.writeable = False
    snapshots = [[a.copy() for a in args] for _, _, args in calls]
    for (name, call, args), before in zip(calls, snapshots):
        call()
        for a, saved in zip(args, before):
            np.testing.assert_array_equal(a, saved, err_msg=name)


def test_strided_and_transposed_inputs(rng):
    big = rng.standard_normal((12, 10))
    x = big[::2, 1::2]  # (6, 5), non-contiguous
    w = rng.standard_normal((3, 5)).T  # (5, 3), Fortran order
    wt = rng.standard_normal((5, 5, 4))[:, :, ::-1]
    assert rel_err(kernels.linear_relu(x, w), reference.linear_relu(x, w)) <= 1e-12
    assert rel_err(kernels.center(x, 1), reference.center(x, 1)) <= 1e-12
    assert rel_err(kernels.center(big.T, 0), reference.center(big.T, 0)) <= 1e-12
    assert rel_err(kernels.tensor_reduction(x, wt), reference.tensor_reduction(x, wt)) <= 1e-12
    assert rel_err(kernels.fft_half(big.T), reference.fft_half(big.T)) <= 1e-12
    assert rel_err(kernels.relu(x), reference.relu(x)) == 0


def test_empty_batch_gives_empty_result_of_the_right_shape():
    x0 = np.empty((0, 4))
    assert kernels.linear(x0, np.ones((4, 3)), np.ones(3)).shape == (0, 3)
    assert kernels.linear_relu(x0, np.ones((4, 3))).shape == (0, 3)
    assert kernels.tensor_reduction(x0, np.ones((4, 4, 2))).shape == (0, 2)
    assert kernels.fft_half(x0).shape == (0, 2)
    assert kernels.center(x0, 0).shape == (0, 4)
    assert kernels.relu(x0).shape == (0, 4)
    grad_x, grad_w, grad_b = kernels.linear_backward(np.empty((0, 3)), None, x0, np.ones((4, 3)), np.ones(3))
    assert grad_x.shape == (0, 4)
    np.testing.assert_array_equal(grad_w, np.zeros((4, 3)))  # an empty batch contributes nothing
    np.testing.assert_array_equal(grad_b, np.zeros(3))
    grad_x, grad_w = kernels.tensor_reduction_backward(np.empty((0, 2)), None, x0, np.ones((4, 4, 2)))
    assert grad_x.shape == (0, 4)
    np.testing.assert_array_equal(grad_w, np.zeros((4, 4, 2)))
    assert kernels.fft_half_backward(np.empty((0, 2), np.complex128), None, x0)[0].shape == (0, 4)


def test_nan_and_inf_propagate_as_numpys_formula(rng):
    x = rng.standard_normal((4, 6))
    x[1, 2], x[2, 3], x[3, 0] = np.nan, np.inf, -np.inf
    w = rng.standard_normal((6, 5))
    for op in ("linear", "linear_relu"):
        got, expected = getattr(kernels, op)(x, w), getattr(reference, op)(x, w)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=op)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(expected), err_msg=op)
    for axis in (None, 0, 1):
        with np.errstate(invalid="ignore"):  # inf - inf in the reference, as intended
            np.testing.assert_array_equal(np.isnan(kernels.center(x, axis)), np.isnan(reference.center(x, axis)))
    np.testing.assert_array_equal(kernels.relu(x), reference.relu(x))  # NaN stays NaN, inf stays inf
    y = kernels.fft_half(x)
    assert np.isnan(y[1]).all() and np.isfinite(y[0]).all()


def test_shape_mismatch_names_both_shapes(rng):
    with pytest.raises(ValueError, match=r"x has 4 features \(shape \(2, 4\)\) but w expects 5 \(shape \(5, 3\)\)"):
        kernels.linear(np.ones((2, 4)), np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\).*got \(4,\)"):
        kernels.linear_relu(np.ones((2, 5)), np.ones((5, 3)), np.ones(4))
    with pytest.raises(ValueError, match=r"x has 3 features.*w expects 4"):
        kernels.tensor_reduction(np.ones((2, 3)), np.ones((4, 4, 2)))
    with pytest.raises(ValueError, match=r"grad_y must have the output's shape \(2, 3\).*got \(2, 4\)"):
        kernels.linear_backward(np.ones((2, 4)), None, np.ones((2, 5)), np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"grad_y has shape \(2, 3\) but y has shape \(3, 2\)"):
        kernels.relu_backward(np.ones((2, 3)), np.ones((3, 2)), None)
    with pytest.raises(ValueError, match=r"n // 2 = 4 coefficients for n = 8, got shape \(2, 3\)"):
        kernels.fft_half_backward(np.ones((2, 3), np.complex128), None, np.ones((2, 8)))
    with pytest.raises(TypeError, match=r"linear_relu_backward: y, the forward's output, is needed"):
        kernels.linear_relu_backward(np.ones((2, 3)), None, np.ones((2, 5)), np.ones((5, 3)))


def test_wrong_rank_is_a_value_error():
    with pytest.raises(ValueError, match=r"x must be \(\.\.\., in\), at least 1-D, got shape \(\)"):
        kernels.linear(np.float64(2.0), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"x must be \(\.\.\., I\), at least 1-D, got shape \(\)"):
        kernels.tensor_reduction(np.float64(2.0), np.ones((1, 1, 2)))
    with pytest.raises(ValueError, match=r"w must be \(in, out\)"):
        kernels.linear(np.ones((2, 4)), np.ones(4))
    with pytest.raises(ValueError, match=r"w must be \(I, I, K\)"):
        kernels.tensor_reduction(np.ones((2, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match="equal first two axes"):
        kernels.tensor_reduction(np.ones((2, 4)), np.ones((4, 3, 2)))
    with pytest.raises(ValueError, match="at least 1-D"):
        kernels.fft_half(np.float64(3.0))
    with pytest.raises(ValueError, match="out of range"):
        kernels.center(np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="at least one sample"):
        kernels.fft_half(np.ones((3, 0)))


@pytest.mark.parametrize("batch", [(), (3,), (2, 3), (2, 1, 3)])
def test_batch_axes_of_any_rank_go_through_one_call(batch, rng):
    """x (..., in): linear, tensor_reduction and their gradients equal the (n, in) call on the flattened batch."""
    x = rng.standard_normal(batch + (4,))
    w, b, wt = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((4, 4, 2))
    flat = x.reshape(-1, 4)
    y = kernels.linear_relu(x, w, b)
    assert y.shape == batch + (3,)
    assert rel_err(y, reference.linear_relu(x, w, b)) <= 1e-12
    assert rel_err(kernels.tensor_reduction(x, wt), reference.tensor_reduction(x, wt)) <= 1e-12
    g = rng.standard_normal(batch + (3,))
    grads = kernels.linear_relu_backward(g, y, x, w, b)
    flat_grads = kernels.linear_relu_backward(g.reshape(-1, 3), y.reshape(-1, 3), flat, w, b)
    assert grads[0].shape == x.shape
    for got, expected in zip(grads, flat_grads):
        assert rel_err(got.reshape(expected.shape), expected) <= 1e-12
    gt = rng.standard_normal(batch + (2,))
    grad_x, grad_w = kernels.tensor_reduction_backward(gt, None, x, wt)
    expected_x, expected_w = reference.tensor_reduction_backward(gt.reshape(-1, 2), None, flat, wt)
    assert grad_x.shape == x.shape
    assert rel_err(grad_x.reshape(-1, 4), expected_x) <= 1e-12 and rel_err(grad_w, expected_w) <= 1e-12


def test_bad_input_fails_before_any_kernel_runs(monkeypatch, rng):
    import importlib

    def must_not_run(*args, **kwargs):
        raise AssertionError("a kernel ran on invalid input")

    # kernels.linear is the function; its folder's CPU module is kernels/linear/cpu.py
    for module, name in [("linear", "linear"), ("tensor_reduction", "tensor_reduction"), ("linear", "linear_backward"),
                         ("fft_half", "fft_half_backward")]:
        monkeypatch.setattr(importlib.import_module(f"kernels.{module}.cpu"), name, must_not_run)
    with pytest.raises(ValueError):
        kernels.linear(np.ones((2, 4)), np.ones((5, 3)))
    with pytest.raises(ValueError):
        kernels.tensor_reduction(np.ones((2, 3)), np.ones((4, 4, 2)))
    with pytest.raises(ValueError):
        kernels.linear_backward(np.ones((2, 4)), None, np.ones((2, 5)), np.ones((5, 3)))
    with pytest.raises(ValueError):
        kernels.fft_half_backward(np.ones((2, 3), np.complex128), None, np.ones((2, 8)))


def test_mixing_host_and_device_arrays_is_a_type_error():
    FakeCupyArray = type("ndarray", (), {"__module__": "cupy._core.core"})  # what CuPy's arrays report
    with pytest.raises(TypeError, match="different devices"):
        kernels.linear(np.ones((2, 3)), FakeCupyArray())


def test_import_compiles_nothing():
    code = "import sys, kernels; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_op_has_its_folder_with_both_devices():
    """kernels/<op>/: its description, cpu.py (importable here) and gpu.py (importable only with CuPy)."""
    import importlib

    for op in kernels.OPS:
        package = op.forward.__module__
        folder = Path(importlib.import_module(package).__file__).parent
        assert folder.parent == Path(kernels.__file__).parent, op.name
        importlib.import_module(f"{package}.cpu")
        assert (folder / "gpu.py").is_file(), op.name
