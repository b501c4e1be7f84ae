"""inf and NaN: where the kernels follow NumPy's formula exactly, and the two places the README names
where they differ in which non-finite value comes out (issue "Nothing a user does breaks it", item 13)."""

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import kernels
from kernels import reference

NON_FINITE = st.sampled_from([np.inf, -np.inf, np.nan])


@given(n=st.integers(2, 300), bad=st.lists(st.tuples(st.integers(0, 10**6), NON_FINITE), min_size=1, max_size=3),
       seed=st.integers(0, 2**32 - 1))
def test_fft_half_a_row_with_inf_or_nan_is_non_finite_throughout_and_the_others_exact(n, bad, seed):
    x = np.random.default_rng(seed).standard_normal((3, n))
    for position, value in bad:
        x[1, position % n] = value
    y = kernels.fft_half(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = reference.fft_half(x)
    assert not np.isfinite(y[1]).any() and not np.isfinite(expected[1]).any()
    np.testing.assert_allclose(y[[0, 2]], expected[[0, 2]], rtol=1e-10, atol=1e-10)


@given(n_in=st.integers(1, 6), n_out=st.integers(1, 3),
       bad_x=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), NON_FINITE), min_size=1, max_size=3),
       bad_w=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 2),
                                st.sampled_from([np.inf, -np.inf, np.nan, 0.0])), max_size=2),
       seed=st.integers(0, 2**32 - 1))
def test_tensor_reduction_is_non_finite_exactly_where_the_formula_is(n_in, n_out, bad_x, bad_w, seed):
    rng = np.random.default_rng(seed)
    x, w, g = rng.standard_normal((4, n_in)), rng.standard_normal((n_in, n_in, n_out)), rng.standard_normal((4, n_out))
    for r, i, v in bad_x:
        x[r, i % n_in] = v
    for i, j, k, v in bad_w:
        w[i % n_in, j % n_in, k % n_out] = v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pairs = [(kernels.tensor_reduction(x, w), reference.tensor_reduction(x, w)),
                 *zip(kernels.tensor_reduction_backward(g, None, x, w), reference.tensor_reduction_backward(g, None, x, w))]
    for ours, formula in pairs:
        np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(formula))
        np.testing.assert_allclose(ours[np.isfinite(ours)], formula[np.isfinite(formula)], rtol=1e-9, atol=1e-9)


def test_linear_relu_and_center_follow_the_formula_for_inf_and_nan():
    x = np.array([[np.inf, 1.0], [np.nan, 2.0], [-np.inf, 3.0]])
    w = np.array([[1.0, -1.0], [0.5, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(kernels.linear_relu(x, w), reference.linear_relu(x, w))
        np.testing.assert_array_equal(kernels.center(x, axis=0), reference.center(x, axis=0))
        np.testing.assert_array_equal(kernels.center(np.array([1.0, np.inf])), reference.center(np.array([1.0, np.inf])))
