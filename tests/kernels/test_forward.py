"""Each forward against its float64 NumPy reference on fresh random inputs, many shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernels
from kernels import reference
from tests.numerics import TOLERANCE, rel_err

dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)


def _random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@given(n=st.integers(0, 70), n_in=st.integers(1, 50), n_out=st.integers(1, 50), bias=st.booleans(),
       dtype=dtypes, seed=seeds)
def test_linear_and_linear_relu(n, n_in, n_out, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w = _random(rng, (n, n_in), dtype), _random(rng, (n_in, n_out), dtype)
    b = _random(rng, n_out, dtype) if bias else None
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64)
    for op in ("linear", "linear_relu"):
        y = getattr(kernels, op)(x, w, b)
        assert y.dtype == dtype
        assert rel_err(y, getattr(reference, op)(x64, w64, b64)) <= TOLERANCE[np.dtype(dtype)]


@given(shape=st.lists(st.integers(1, 9), min_size=0, max_size=4), dtype=dtypes, seed=seeds)
def test_relu(shape, dtype, seed):
    x = _random(np.random.default_rng(seed), shape, dtype)
    y = kernels.relu(x)
    assert y.dtype == dtype and rel_err(y, reference.relu(x.astype(np.float64))) == 0


@given(data=st.data(), shape=st.lists(st.integers(1, 12), min_size=1, max_size=4), dtype=dtypes, seed=seeds)
def test_center(data, shape, dtype, seed):
    ndim = len(shape)
    axis = data.draw(
        st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple),
        )
    )
    x = (_random(np.random.default_rng(seed), shape, dtype) + 3).astype(dtype)  # a nonzero mean
    y = kernels.center(x, axis)
    assert y.dtype == dtype
    assert rel_err(y, reference.center(x.astype(np.float64), axis)) <= TOLERANCE[np.dtype(dtype)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_relu_over_many_rows(dtype, rng):
    """A GEMM of 30000 rows, and the epilogue over all of them."""
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((30000, 5), (5, 40), (40,)))
    reference_y = reference.linear_relu(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    assert rel_err(kernels.linear_relu(x, w, b), reference_y) <= TOLERANCE[np.dtype(dtype)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", [((2000, 203), 0), ((3, 700, 131), 1), ((96, 4099), 0)])
def test_center_columns_on_the_threaded_path(shape, axis, dtype, rng):
    """Column centering above the one-thread size: many row blocks, widths with a tail past the last vector."""
    x = (rng.standard_normal(shape) * 2 + 5).astype(dtype)
    y = kernels.center(x, axis)
    assert rel_err(y, reference.center(x.astype(np.float64), axis)) <= TOLERANCE[np.dtype(dtype)]
    assert rel_err(kernels.center_backward(x, None, None, axis)[0], reference.center(x.astype(np.float64), axis)) <= (
        TOLERANCE[np.dtype(dtype)])


@given(n=st.integers(0, 40), n_in=st.integers(1, 24), n_out=st.integers(1, 20), dtype=dtypes, seed=seeds)
def test_tensor_reduction(n, n_in, n_out, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w = _random(rng, (n, n_in), dtype), _random(rng, (n_in, n_in, n_out), dtype)
    y = kernels.tensor_reduction(x, w)
    assert y.dtype == dtype
    expected = reference.tensor_reduction(x.astype(np.float64), w.astype(np.float64))
    assert rel_err(y, expected) <= TOLERANCE[np.dtype(dtype)]


@given(batch=st.lists(st.integers(1, 4), max_size=2), n=st.integers(1, 300), dtype=dtypes, seed=seeds)
def test_fft_half(batch, n, dtype, seed):
    x = _random(np.random.default_rng(seed), tuple(batch) + (n,), dtype)
    y = kernels.fft_half(x)
    assert y.dtype == (np.complex64 if dtype == np.float32 else np.complex128)
    assert rel_err(y, reference.fft_half(x.astype(np.float64))) <= TOLERANCE[np.dtype(dtype)]


# Powers of two and not, primes small (direct radix) and large (Bluestein), up to 2^20.
FFT_LENGTHS = [1, 2, 3, 4, 5, 7, 31, 37, 97, 210, 997, 1000, 1024, 4096 * 3, 65536, 65537, 2**20]


@pytest.mark.parametrize("n", FFT_LENGTHS)
def test_fft_half_lengths(n, rng):
    rows = max(1, min(4, 2**18 // n))
    x64 = rng.standard_normal((rows, n))
    expected = reference.fft_half(x64)
    assert rel_err(kernels.fft_half(x64), expected) <= 1e-12
    assert rel_err(kernels.fft_half(x64.astype(np.float32)), reference.fft_half(x64.astype(np.float32).astype(np.float64))) <= 2e-5


# Complex lengths m = n / 2 through each way _plan._factorize cuts 2^k into radices 8, 4 and 2 (k = 3j: 8s;
# 3j + 1: 8s and 4 4, or 2; 3j + 2: 8s and 4), alone and with odd factors; forward and backward in float64.
@pytest.mark.parametrize("m", [2, 4, 8, 16, 32, 64, 128, 256, 1024, 2048, 8192, 8 * 7, 16 * 3 * 5, 128 * 9])
def test_fft_half_radix_8_lengths(m, rng):
    x = rng.standard_normal((3, 2 * m))
    g = rng.standard_normal((3, m)) + 1j * rng.standard_normal((3, m))
    assert rel_err(kernels.fft_half(x), reference.fft_half(x)) <= 1e-12
    (expected,) = reference.fft_half_backward(g, None, x)
    assert rel_err(kernels.fft_half_backward(g, None, x)[0], expected) <= 1e-12


def test_factorize_takes_radix_8_first():
    from kernels.fft_half._plan import _factorize

    assert _factorize(2**11) == [8, 8, 8, 4] and _factorize(2**10) == [8, 8, 4, 4] and _factorize(2**9) == [8] * 3
    assert _factorize(2) == [2] and _factorize(16) == [4, 4] and _factorize(1000) == [8, 5, 5, 5]
    assert _factorize(7 * 9 * 2**7) == [8, 4, 4, 3, 3, 7] and _factorize(1) == []


# Batches of many rows: whole blocks of 8 rows and a partial last one, one thread and two.
@pytest.mark.parametrize("rows", [8, 21, 67])
@pytest.mark.parametrize("n", [6, 37, 250, 997, 1000, 1024])
def test_fft_half_many_rows(rows, n, rng):
    x64 = rng.standard_normal((rows, n))
    assert rel_err(kernels.fft_half(x64), reference.fft_half(x64)) <= 1e-12
    x32 = x64.astype(np.float32)
    assert rel_err(kernels.fft_half(x32), reference.fft_half(x32.astype(np.float64))) <= 2e-5


@pytest.mark.parametrize("rows, n", [(8, 4096), (5, 1024), (7, 2000), (6, 4104)])
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_fft_half_split_block_on_two_threads_and_alone(rows, n, dtype, tolerance, rng):
    """HALF < rows <= LANES rows of n % 8 == 0 samples: each row's halves in a lane pair, two tasks on the
    threads (or on those awake), or the whole block as one task (the solo block, alone); outputs poisoned."""
    from kernels.cpu._native import runner, task_entry
    from kernels.fft_half import cpu
    from kernels.fft_half._plan import plan

    x = rng.standard_normal((rows, n)).astype(dtype)
    expected = reference.fft_half(x.astype(np.float64))
    ints, floats, tables = plan(n, x.dtype)
    assert tables is None and cpu.HALF < rows <= cpu.LANES and n % 8 == 0
    entries = task_entry(cpu._forward_split_task, x.dtype), task_entry(cpu._forward_task, x.dtype)
    for threads in (runner(), runner(quick=True), 0):  # the tasks on the threads; on those awake; the solo block
        y = np.full((rows, n // 2), np.nan, np.complex64 if dtype == np.float32 else np.complex128)
        assert cpu._run_split(x, y.view(x.dtype), n, ints, floats, *plan(n // 2, x.dtype)[:2], *entries, threads) == 0
        assert rel_err(y, expected) <= tolerance
    assert rel_err(kernels.fft_half(x), expected) <= tolerance


def test_fft_half_under_fewer_threads_than_tasks(rng):
    """Work is split into runs for the whole thread pool; under set_num_threads(1) they queue on one."""
    import numba

    x = rng.standard_normal((67, 1000))
    expected = reference.fft_half(x)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        y, (grad_x,) = kernels.fft_half(x), kernels.fft_half_backward(expected, None, x)
    finally:
        numba.set_num_threads(before)
    assert rel_err(y, expected) <= 1e-12
    assert rel_err(grad_x, reference.fft_half_backward(expected, None, x)[0]) <= 1e-12


def test_chapter_sizes(rng):
    """The chapter's layers at the chapter's sizes."""
    x = rng.standard_normal((2, 64)).astype(np.float32)
    w, b = rng.standard_normal((64, 8)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    assert rel_err(kernels.linear_relu(x, w, b), reference.linear_relu(*(a.astype(np.float64) for a in (x, w, b)))) <= 1e-5
    x = rng.standard_normal((4, 8))
    w = rng.standard_normal((8, 128))
    y = kernels.center(kernels.linear(x, w))
    assert rel_err(y, reference.center(x @ w)) <= 1e-12
    assert abs(y.mean()) < 1e-12


def test_single_sample_inputs(rng):
    x, w, b = rng.standard_normal(6), rng.standard_normal((6, 4)), rng.standard_normal(4)
    assert rel_err(kernels.linear_relu(x, w, b), reference.linear_relu(x, w, b)) <= 1e-12
    wt = rng.standard_normal((6, 6, 3))
    assert kernels.tensor_reduction(x, wt).shape == (3,)
    assert rel_err(kernels.tensor_reduction(x, wt), reference.tensor_reduction(x, wt)) <= 1e-12
