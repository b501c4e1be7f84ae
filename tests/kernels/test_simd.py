"""The CPU kernels' vector type (kernels.cpu._simd) against NumPy on the same data."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from kernels.cpu._simd import (LANES, blend, evens, load, load_pairs, load_tile, load_tile_pairs, odds, reverse, sqrt,
                               store, store_pairs, store_tile, store_tile_pairs, swap_pairs)


@njit
def _expression(a, b, out, c, i, j):
    x, y = load(a, i), load(b, j)
    store(out, i, x * y - c * x + -y * c + (x - y))


@njit
def _quotient_and_root(a, b, out, c, i):
    x, y = load(a, i), load(b, i)
    store(out, i, x / (sqrt(y) + c) + c / x)


@njit
def _tiles_round_trip(x, zr, zi, y_pairs, zreal, y_reals):
    for k in range(0, x.shape[1] // (2 * LANES)):
        load_tile_pairs(x, 2 * LANES * k, zr, zi, LANES * k)
        store_tile_pairs(zr, zi, LANES * k, y_pairs, 2 * LANES * k)
    for k in range(0, x.shape[1] // LANES):
        load_tile(x, LANES * k, zreal, LANES * k)
        store_tile(zreal, LANES * k, y_reals, LANES * k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_arithmetic_matches_numpy_lane_by_lane_and_touches_only_its_lanes(dtype, rng):
    a, b = rng.standard_normal(3 * LANES).astype(dtype), rng.standard_normal(3 * LANES).astype(dtype)
    c = dtype(rng.standard_normal())
    out = np.full(3 * LANES, np.nan, dtype)
    i, j = LANES, 5  # j unaligned
    _expression(a, b, out, c, i, j)
    x, y = a[i : i + LANES].astype(np.float64), b[j : j + LANES].astype(np.float64)
    expected = x * y - c * x - y * c + (x - y)
    tolerance = 1e-6 if dtype == np.float32 else 1e-15
    assert np.abs(out[i : i + LANES] - expected).max() <= tolerance * np.abs(expected).max()
    assert np.isnan(out[:i]).all() and np.isnan(out[i + LANES :]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiles_transpose_exactly_and_round_trip(dtype, rng):
    cols = 6 * LANES
    x = rng.standard_normal((LANES, cols)).astype(dtype)
    zr, zi = np.full(cols // 2 * LANES, np.nan, dtype), np.full(cols // 2 * LANES, np.nan, dtype)
    zreal = np.full(cols * LANES, np.nan, dtype)
    y_pairs, y_reals = np.full_like(x, np.nan), np.full_like(x, np.nan)
    _tiles_round_trip(x, zr, zi, y_pairs, zreal, y_reals)
    assert np.array_equal(zr, x[:, 0::2].T.ravel()) and np.array_equal(zi, x[:, 1::2].T.ravel())
    assert np.array_equal(zreal, x.T.ravel())
    assert np.array_equal(y_pairs, x) and np.array_equal(y_reals, x)


def test_a_scalar_of_another_dtype_is_a_typing_error_not_an_upcast():
    @njit
    def mixed(a, out):
        store(out, 0, load(a, 0) * 0.5)  # 0.5 is float64, a float32

    with pytest.raises(TypingError, match="convert it first"):
        mixed(np.ones(LANES, np.float32), np.ones(LANES, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_division_and_square_root_match_numpy(dtype, rng):
    a, b = rng.standard_normal(2 * LANES).astype(dtype), rng.random(2 * LANES).astype(dtype) + dtype(0.5)
    c = dtype(0.25)
    out = np.full(2 * LANES, np.nan, dtype)
    _quotient_and_root(a, b, out, c, LANES)
    x, y = a[LANES:].astype(np.float64), b[LANES:].astype(np.float64)
    expected = x / (np.sqrt(y) + 0.25) + 0.25 / x
    np.testing.assert_allclose(out[LANES:], expected, rtol=1e-5 if dtype == np.float32 else 1e-14)
    assert np.isnan(out[:LANES]).all()


@njit
def _pairs_and_reverse(x, i, re, im, out, j):
    a, b = load_pairs(x, i)
    store(re, 0, a)
    store(im, 0, reverse(b))
    store_pairs(out, j, reverse(a), b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairs_split_and_join_interleaved_floats_and_reverse_flips_lanes(dtype, rng):
    x = rng.standard_normal(4 * LANES).astype(dtype)
    re, im = np.full(LANES, np.nan, dtype), np.full(LANES, np.nan, dtype)
    out = np.full(4 * LANES, np.nan, dtype)
    i, j = 3, 5  # unaligned
    _pairs_and_reverse(x, i, re, im, out, j)
    np.testing.assert_array_equal(re, x[i : i + 2 * LANES : 2])
    np.testing.assert_array_equal(im, x[i + 1 : i + 2 * LANES : 2][::-1])
    np.testing.assert_array_equal(out[j : j + 2 * LANES : 2], x[i : i + 2 * LANES : 2][::-1])
    np.testing.assert_array_equal(out[j + 1 : j + 2 * LANES : 2], x[i + 1 : i + 2 * LANES : 2])
    assert np.isnan(out[:j]).all() and np.isnan(out[j + 2 * LANES :]).all()  # nothing outside its 2 LANES


@njit
def _lane_pairs(a, b, out):
    x, y = load(a, 0), load(b, 0)
    store(out, 0, blend(x, y))
    store(out, LANES, evens(x, y))
    store(out, 2 * LANES, odds(x, y))
    store(out, 3 * LANES, swap_pairs(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lane_pair_shuffles_pick_the_lanes_they_name(dtype, rng):
    a, b = rng.standard_normal(LANES).astype(dtype), rng.standard_normal(LANES).astype(dtype)
    out = np.full(4 * LANES, np.nan, dtype)
    _lane_pairs(a, b, out)
    even = np.arange(0, LANES, 2)
    np.testing.assert_array_equal(out[:LANES], np.where(np.arange(LANES) % 2 == 0, a, b))  # blend: a0 b1 a2 b3
    np.testing.assert_array_equal(out[LANES : 2 * LANES], np.stack([a[even], b[even]], 1).ravel())  # a0 b0 a2 b2
    np.testing.assert_array_equal(out[2 * LANES : 3 * LANES], np.stack([a[even + 1], b[even + 1]], 1).ravel())
    np.testing.assert_array_equal(out[3 * LANES :], a.reshape(-1, 2)[:, ::-1].ravel())  # a1 a0 a3 a2


def test_lane_pair_shuffles_take_two_vectors_of_one_dtype():
    @njit
    def mixed(a, b):
        return blend(load(a, 0), load(b, 0))

    with pytest.raises(TypingError, match="two Vectors of one dtype"):
        mixed(np.ones(LANES, np.float32), np.ones(LANES))
