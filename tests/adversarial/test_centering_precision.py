"""Centering float32 data is exact for a constant array and never less accurate than NumPy's
x - x.mean() on the same data, at any offset (issue "Nothing a user does breaks it", item 16)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernels

FLOAT32_ROUNDING = 2.0**-24  # a float32 result cannot be closer than this to the exact one, relatively


@pytest.mark.parametrize("value", [54321.123, 1e6 + 0.5, -3.75e5, 1e-3, 0.0])
@pytest.mark.parametrize("n", [1, 7, 256, 1000, 300_000])
def test_a_constant_array_centers_to_exactly_zero(value, n):
    x = np.full(n, value, np.float32)
    np.testing.assert_array_equal(kernels.center(x), 0)
    np.testing.assert_array_equal(kernels.center(x.reshape(-1, 1).repeat(3, axis=1), axis=0), 0)


def _rel_err(got, exact):
    scale = np.linalg.norm(exact)
    return float(np.linalg.norm(got.astype(np.float64) - exact) / (scale if scale > 0 else 1.0))


@given(n=st.integers(1, 3000), offset=st.floats(-1e6, 1e6), spread=st.sampled_from([1e-3, 1.0, 1e3]),
       seed=st.integers(0, 2**32 - 1))
def test_never_less_accurate_than_numpy(n, offset, spread, seed):
    x = (offset + spread * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)
    exact = x.astype(np.float64) - x.astype(np.float64).mean()
    ours, numpys = _rel_err(kernels.center(x), exact), _rel_err(x - x.mean(), exact)
    assert ours <= numpys or ours <= FLOAT32_ROUNDING, (ours, numpys)
