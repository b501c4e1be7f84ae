"""fft_half on long rows (kernels/fft_half/_long.py: four-step, and Bluestein on four-step).

References in float64 as a NumPy user writes them: np.fft.fft for the forward, and for the
backward grad_x_t = Re(sum_k conj(g_k) exp(-2 pi i k t / n)) = n Re(ifft(g zero-padded to n)).
"""

import numba
import numpy as np
import pytest

import kernels
from kernels.fft_half import _long
from tests.numerics import TOLERANCE, rel_err

# (rows, n): the four-step split m = m1 m2 for powers of two (2^20, 2^22) and for a mixed radix
# (m = 2^8 3^2 5^3); Bluestein on four-step for a large prime n, for n = 2 * prime (m prime), for an
# odd composite n, and for an even n whose m does not split into multiples of 16 (m = 240240); odd n on
# several rows (each row its own transform).
LONG_CASES = [(3, 2**20), (1, 2**22), (2, 576000), (1, 1048573), (2, 2 * 131071), (1, 3**12), (1, 480480),
              (3, 65537), (2, 99999)]


def _reference_backward(g, n):
    full = np.zeros(g.shape[:-1] + (n,), np.complex128)
    full[..., : g.shape[-1]] = g
    return n * np.fft.ifft(full).real


def _inputs(rng, rows, n):
    x = rng.standard_normal((rows, n))
    g = rng.standard_normal((rows, n // 2)) + 1j * rng.standard_normal((rows, n // 2))
    return x, g


@pytest.mark.parametrize("rows, n", LONG_CASES)
def test_long_rows_forward_and_backward(rows, n, rng):
    assert _long.is_long(n)
    x, g = _inputs(rng, rows, n)
    expected, expected_grad = np.fft.fft(x)[:, : n // 2], _reference_backward(g, n)
    assert rel_err(kernels.fft_half(x), expected) <= 1e-12
    assert rel_err(kernels.fft_half_backward(g, None, x)[0], expected_grad) <= 1e-12
    x32, g32 = x.astype(np.float32), g.astype(np.complex64)
    assert rel_err(kernels.fft_half(x32), np.fft.fft(x32.astype(np.float64))[:, : n // 2]) <= 1e-5
    assert rel_err(kernels.fft_half_backward(g32, None, x32)[0], _reference_backward(g32.astype(np.complex128), n)) <= 1e-5


def test_long_rows_gradient_is_the_forward_s_derivative(rng):
    """Central differences along a random direction v: (L(x + e v) - L(x - e v)) / 2e = <grad_x, v>,
    L = Re(sum conj(c) y); a whole finite-difference gradient of 2^20 inputs would take hours."""
    n = 2**20
    x, c = _inputs(rng, 1, n)
    v = rng.standard_normal(x.shape)

    def loss(z):
        return float(np.sum(c.real * kernels.fft_half(z).real + c.imag * kernels.fft_half(z).imag))

    eps = 1e-3  # L is linear in x: the difference has no truncation error, only rounding
    numeric = (loss(x + eps * v) - loss(x - eps * v)) / (2 * eps)
    analytic = float(np.sum(kernels.fft_half_backward(c, None, x)[0] * v))
    assert abs(numeric - analytic) <= 1e-8 * abs(analytic)


def test_long_rows_on_one_thread_equal_the_threaded_result(rng):
    """The passes cut each row into more tasks than threads; on one thread they queue."""
    x, g = _inputs(rng, 2, 2**18)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        y, grad_x = kernels.fft_half(x), kernels.fft_half_backward(g, None, x)[0]
    finally:
        numba.set_num_threads(before)
    assert rel_err(y, np.fft.fft(x)[:, : 2**17]) <= 1e-12
    assert rel_err(grad_x, _reference_backward(g, 2**18)) <= 1e-12


def test_long_rows_on_strided_and_batched_inputs(rng):
    """A (2, 2, n) batch and a view of every other row go through the same path as contiguous rows."""
    n = 2**17
    x = rng.standard_normal((2, 4, n))[:, ::2]
    assert rel_err(kernels.fft_half(x), np.fft.fft(x)[..., : n // 2]) <= 1e-12


def _rows_of_unlike_norms(rng, n):
    """Four rows for odd n's pairs (kernels/fft_half/_long.py): dense at 1e6 beside dense at 1e-6, one spike beside
    dense noise."""
    x = rng.standard_normal((4, n))
    x[0] *= 1e6
    x[1] *= 1e-6
    x[2] = 0
    x[2, rng.integers(n)] = 1.0
    return x


@pytest.mark.parametrize("dtype, ctype", [(np.float64, np.complex128), (np.float32, np.complex64)])
def test_odd_rows_paired_in_one_transform_each_keep_their_own_accuracy(dtype, ctype, rng):
    """Odd n takes two rows through one complex transform, the second scaled to the first's norm: each row's error
    is still within the bound relative to its own norm, whatever the other row's."""
    n = 65537
    x = _rows_of_unlike_norms(rng, n)
    g = x[:, : n // 2] + 1j * _rows_of_unlike_norms(rng, n)[:, 1 : n // 2 + 1]
    y = kernels.fft_half(x.astype(dtype))
    grad_x = kernels.fft_half_backward(g.astype(ctype), None, x.astype(dtype))[0]
    expected = np.fft.fft(x.astype(dtype).astype(np.float64))[:, : n // 2]
    expected_grad = _reference_backward(g.astype(ctype).astype(np.complex128), n)
    bound = TOLERANCE[np.dtype(dtype)]
    for row in range(4):
        assert rel_err(y[row], expected[row]) <= bound, row
        assert rel_err(grad_x[row], expected_grad[row]) <= bound, row


def test_odd_rows_beside_a_zero_or_non_finite_row_are_their_own(rng):
    """A row of zeros has a spectrum of exact zeros, and a row holding NaN or inf spoils only its own spectrum, as
    each row transformed alone: such rows do not share a transform."""
    n = 65537
    x = rng.standard_normal((5, n))
    x[1] = 0
    x[2, 7] = np.nan
    x[3, 11] = np.inf
    y = kernels.fft_half(x)
    g = rng.standard_normal((5, n // 2)) + 1j * rng.standard_normal((5, n // 2))
    g[1] = 0
    g[2, 7] = np.nan
    g[3, 11] = np.inf
    grad_x = kernels.fft_half_backward(g, None, x)[0]
    for row in (0, 4):
        assert rel_err(y[row], np.fft.fft(x[row])[: n // 2]) <= 1e-12
        assert rel_err(grad_x[row], _reference_backward(g[row], n)) <= 1e-12
    assert np.all(y[1] == 0) and np.all(grad_x[1] == 0)
    for row in (2, 3):
        assert not np.isfinite(y[row]).any() and not np.isfinite(grad_x[row]).any()


def test_odd_rows_beside_a_row_whose_transform_overflows_are_their_own(rng):
    """A float32 row of 1e33 overflows in its own transform; the row beside it (1e15, its norm within 2^60 of the
    first's), which a shared transform would scale up to that norm (NaN throughout, measured with the chunks' sums
    kept from overflowing), goes alone and keeps its own accuracy."""
    n = 65537
    x = rng.standard_normal((2, n)).astype(np.float32)
    x[0] *= np.float32(1e33)
    x[1] *= np.float32(1e15)
    y = kernels.fft_half(x)
    assert rel_err(y[1], np.fft.fft(x[1].astype(np.float64))[: n // 2]) <= TOLERANCE[np.dtype(np.float32)]


@pytest.mark.parametrize("m", [2**16, 2**17, 2**19, 2**21, 288000])
def test_split_is_two_multiples_of_16_near_the_square_root(m):
    m1, m2 = _long._split(m)
    assert m1 * m2 == m and m1 % 16 == 0 and m2 % 16 == 0 and m1 <= m2
    assert m2 <= 4 * m1  # as square as the factors allow for these m


def test_split_refuses_lengths_it_cannot_vectorize():
    assert _long._split(131071) is None  # prime
    assert _long._split(240240) is None  # 2^4 * 15015: no two multiples of 16


def test_scratch_kept_between_calls_gives_the_same_results(monkeypatch, rng):
    """With the pool on (the suite's is off: conftest), each call after the first reuses the scratch the one before
    left: forward and backward, float64 and float32, a power of two and Bluestein, in turns."""
    from kernels.cpu import _alloc

    monkeypatch.setattr(_alloc, "scratch", _alloc.ScratchPool(max_bytes=128 << 20))
    cases = [(2, 2**17), (1, 2**17 + 1)]
    inputs = {n: _inputs(rng, rows, n) for rows, n in cases}
    first = {}
    for turn in range(2):
        for dtype, ctype in ((np.float64, np.complex128), (np.float32, np.complex64)):
            for rows, n in cases:
                x, g = (a.astype(t) for a, t in zip(inputs[n], (dtype, ctype)))
                got = (kernels.fft_half(x), kernels.fft_half_backward(g, None, x)[0])
                if turn == 0:
                    first[dtype, n] = got
                else:
                    assert all(np.array_equal(a, b) for a, b in zip(got, first[dtype, n]))
    assert len(_alloc.scratch._free) == 4  # one buffer per (n, dtype): kept, not made anew
