"""The vectorizing exponentials of kernels/cpu/_math.py against NumPy's float64 exp, and row_max."""

import numpy as np
from numba import njit

from kernels.cpu._math import exp_nonpositive, exp_nonpositive32, row_max


@njit
def _apply64(t, out):
    for i in range(t.size):
        out[i] = exp_nonpositive(t[i])


@njit
def _apply32(t, out):
    for i in range(t.size):
        out[i] = exp_nonpositive32(t[i])


def test_float64_exp_against_numpy(rng):
    t = np.concatenate([-rng.random(100_000) * 700, [0.0, -1e-300, -708.0]])
    out = np.full_like(t, np.nan)
    _apply64(t, out)
    expected = np.exp(t)
    assert np.max(np.abs(out - expected) / expected) <= 1e-13


def test_float32_exp_against_float64_numpy(rng):
    t = np.concatenate([-rng.random(200_000) * 87, np.linspace(-1, 0, 1001)]).astype(np.float32)
    out = np.full_like(t, np.nan)
    _apply32(t, out)
    assert out.dtype == np.float32
    expected = np.exp(t.astype(np.float64))
    assert np.max(np.abs(out - expected) / expected) <= 1.2e-7  # 2 float32 ulps


def test_float32_exp_edges():
    t = np.array([0.0, -0.0, -87.0, -88.0, -200.0, -np.inf, np.nan, -1e-30], np.float32)
    out = np.full_like(t, 7.0)
    _apply32(t, out)
    assert out[0] == 1 and out[1] == 1 and out[7] == 1
    assert 0 < out[2] <= np.exp(np.float64(-87.0)) * (1 + 2e-7)
    assert out[3] == 0 and out[4] == 0 and out[5] == 0  # below 2^-126: 0, no subnormals
    assert np.isnan(out[6])


def test_row_max_finds_the_largest_wherever_it_is(rng):
    for n in (1, 7, 8, 9, 17, 1000):
        row = rng.standard_normal(n).astype(np.float32)
        for where in {0, n // 2, n - 1}:
            r = row.copy()
            r[where] = 100.0
            assert row_max(r) == 100.0
