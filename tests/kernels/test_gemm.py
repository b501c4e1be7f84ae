"""Our AVX-512 GEMM (kernels.cpu._gemm) against float64 NumPy, through every path: serial, by chunks
of rows, by rows and panels, k split across threads, tiles cut by the edges of a and out, b's own panel, transposed views."""

import numpy as np
import pytest

from kernels.cpu import _gemm
from tests.numerics import TOLERANCE, rel_err

pytestmark = pytest.mark.skipif(not _gemm.available(), reason="our GEMM runs where Numba targets AVX-512")


def _reference(a, b, bias, apply_relu):
    y = a.astype(np.float64) @ b.astype(np.float64)
    if bias is not None:
        y = y + bias
    return np.maximum(y, 0) if apply_relu else y


def _run(a, b, bias, apply_relu):
    out = np.full((a.shape[0], b.shape[1]), np.nan, a.dtype)  # poison: every element must be written
    _gemm.gemm(a, b, bias, apply_relu, out)
    return out


def _which_path(n, k, m):
    chunk_rows, panel_groups, k_parts = _gemm.sharing(n, k, m, -(-m // _gemm.panel_width(np.float32)))
    if k_parts > 1:
        return "k parts"
    if panel_groups > 1:
        return "rows and panels"
    return "row chunks" if chunk_rows < n else "serial"


# (n, k, m): edges in every direction, several k-blocks, each of the three paths
SHAPES = [(1, 1, 1), (5, 3, 7), (6, 64, 64), (13, 300, 70), (7, 1100, 129),   # serial
          (1000, 64, 64), (2000, 700, 97), (1537, 64, 300),                     # by chunks of rows
          (200, 1100, 300), (100, 600, 520),                                     # by rows and panels
          (64, 2048, 64), (70, 5000, 33)]                                        # k parts


def test_the_shapes_cover_every_path():
    assert {_which_path(*s) for s in SHAPES} == {"serial", "row chunks", "rows and panels", "k parts"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, k, m", SHAPES)
def test_matches_float64_numpy_with_and_without_bias_and_relu(n, k, m, dtype, rng):
    a = rng.standard_normal((n, k)).astype(dtype)
    b = (rng.standard_normal((k, m)) / np.sqrt(k)).astype(dtype)
    bias = rng.standard_normal(m).astype(dtype)
    for with_bias, apply_relu in [(False, False), (True, True), (True, False)]:
        got = _run(a, b, bias if with_bias else None, apply_relu)
        expected = _reference(a, b, bias if with_bias else None, apply_relu)
        assert rel_err(got, expected) < TOLERANCE[np.dtype(dtype)], (with_bias, apply_relu)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, k, m", [(100, 40, 70), (1030, 1030, 64), (64, 3000, 100)])
def test_transposed_views_as_the_backward_passes_them(n, k, m, dtype, rng):
    """g @ w.T and x.T @ g: a and b arrive as transposed views, never copied."""
    a_t = rng.standard_normal((k, n)).astype(dtype)
    b_t = rng.standard_normal((m, k)).astype(dtype)
    assert rel_err(_run(a_t.T, b_t.T, None, False), _reference(a_t.T, b_t.T, None, False)) < TOLERANCE[np.dtype(dtype)]


def test_b_that_is_one_whole_panel_is_used_in_place_and_a_strided_one_is_packed(rng):
    nr = _gemm.panel_width(np.float32)
    b = rng.standard_normal((50, nr)).astype(np.float32)
    packed, to_pack = _gemm._panels(b, nr)
    assert np.shares_memory(packed, b) and not to_pack
    wide = rng.standard_normal((50, 2 * nr)).astype(np.float32)
    packed, to_pack = _gemm._panels(wide[:, ::2], nr)  # every other column: not C-contiguous
    assert not np.shares_memory(packed, wide) and to_pack
    a = rng.standard_normal((40, 50)).astype(np.float32)
    assert rel_err(_run(a, wide[:, ::2], None, False), _reference(a, wide[:, ::2], None, False)) < TOLERANCE[np.dtype(np.float32)]


def test_nan_and_inf_propagate_as_in_numpy_and_relu_keeps_nan(rng):
    n, k, m = 20, 30, 70
    a = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal((k, m)).astype(np.float32)
    a[3, 4] = np.nan
    a[11, 0] = np.inf
    b[:, 5] = np.abs(b[:, 5])  # row 11, column 5: +inf
    with np.errstate(invalid="ignore"):
        expected = _reference(a, b, None, True)
    got = _run(a, b, None, True)
    assert np.isnan(got[3]).all()
    assert np.isposinf(got[11, 5])
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert rel_err(got[finite], expected[finite]) < TOLERANCE[np.dtype(np.float32)]


def test_relu_is_applied_once_after_every_k_block(rng):
    """With k over several blocks, the ReLU must see the whole sum: a partial sum clipped early differs."""
    n, k, m = 30, 3 * _gemm.KC + 5, 64
    a = rng.standard_normal((n, k)).astype(np.float64)
    b = rng.standard_normal((k, m)).astype(np.float64)
    got = _run(a, b, None, True)
    assert rel_err(got, _reference(a, b, None, True)) < TOLERANCE[np.dtype(np.float64)]
    assert (got == 0).any() and (got > 0).any()


def test_suits_the_products_on_one_thread_where_blas_would_wake_its_threads():
    """The digits MLP's first layer at batch 64 is ours (one thread, where OpenBLAS wakes its second); its last
    batch of 29 rows (OpenBLAS on one thread itself), a classifier's 10 outputs and (256, 64) @ (64, 128) (ours
    on threads, too few tasks to share a busy core) are BLAS's; large products ours."""
    assert _gemm.suits(64, 64, 128, np.float32) and _gemm.suits(64, 128, 64, np.float32)
    assert not _gemm.suits(29, 64, 128, np.float32)
    assert not _gemm.suits(64, 128, 10, np.float32)
    assert not _gemm.suits(256, 64, 128, np.float32)
    assert _gemm.suits(4096, 1024, 1024, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_relu_and_backward_at_the_digits_first_layer(dtype, rng):
    """kernels.linear_relu and its backward at (64, 64) @ (64, 128): every product through our GEMM on one
    thread, the bias taken as it is (a whole number of panels)."""
    import kernels

    assert _gemm.suits(64, 64, 128, dtype) and _gemm.suits(64, 128, 64, dtype)
    x = rng.standard_normal((64, 64)).astype(dtype)
    w = (rng.standard_normal((64, 128)) / 8).astype(dtype)
    b = rng.standard_normal(128).astype(dtype)
    g = rng.standard_normal((64, 128)).astype(dtype)
    y = kernels.linear_relu(x, w, b)
    grad_x, grad_w, grad_b = kernels.linear_relu_backward(g, y, x, w, b)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y64 = np.maximum(x64 @ w64 + b, 0)
    g64 = np.where(y64 > 0, g, 0)
    for got, expected in [(y, y64), (grad_x, g64 @ w64.T), (grad_w, x64.T @ g64), (grad_b, g64.sum(axis=0))]:
        assert rel_err(got, expected) < TOLERANCE[np.dtype(dtype)]


@pytest.mark.parametrize("dtype, n, n_in, n_out", [(np.float32, 700, 40, 64), (np.float64, 600, 48, 40),
                                                    (np.float32, 1200, 96, 64)])
def test_tensor_reduction_and_backward_through_our_gemm(dtype, n, n_in, n_out, rng):
    """kernels.tensor_reduction and its backward where their products (pairs @ Wp, P^T @ grad_y, grad_y @ Wsym^T)
    suit our GEMM, against the float64 formulas (kernels.reference); at (1200, 96, 64) in several panels of rows
    each way (grad_w summed over the backward's panels), the last one shorter."""
    import kernels
    from kernels import reference

    pairs = n_in * (n_in + 1) // 2
    assert _gemm.suits(n, pairs, n_out, dtype) and _gemm.suits(pairs, n, n_out, dtype)
    assert _gemm.suits(n, n_out, pairs, dtype)
    x = rng.standard_normal((n, n_in)).astype(dtype)
    w = rng.standard_normal((n_in, n_in, n_out)).astype(dtype)
    g = rng.standard_normal((n, n_out)).astype(dtype)
    x64, w64, g64 = x.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    assert rel_err(kernels.tensor_reduction(x, w), reference.tensor_reduction(x64, w64)) < TOLERANCE[np.dtype(dtype)]
    for got, expected in zip(kernels.tensor_reduction_backward(g, None, x, w),
                             reference.tensor_reduction_backward(g64, None, x64, w64)):
        assert rel_err(got, expected) < TOLERANCE[np.dtype(dtype)]
