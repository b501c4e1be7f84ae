"""kernels.cpu._native: a task's code compiled once as a C callback, called by its address from a prange loop;
and the kernels that run their tasks that way raising, not returning half-written results, when a task fails."""

import numpy as np
import pytest
from numba import carray, njit, prange, types

from kernels.cpu import _gemm, _native
from kernels.cross_entropy import cpu as cross_entropy_cpu
from kernels.fft_half import cpu as fft_cpu


def _square(src, dst, n, task):
    """dst[task] = src[task] ** 2; raises (reported as 1) where src[task] < 0."""
    try:
        s, d = carray(src, n), carray(dst, n)
        if s[task] < 0:
            raise ValueError("a negative value")
        d[task] = s[task] * s[task]
    except Exception:  # noqa: BLE001
        return 1
    return 0


_F64 = types.CPointer(types.float64)


@njit(parallel=True)
def _run(entry, src, dst):
    failed = np.zeros(src.size, np.int32)
    for task in prange(src.size):
        failed[task] = _native.call(entry, (src.ctypes.data, dst.ctypes.data, src.size, task))
    return failed


def test_every_task_runs_through_the_address(rng):
    src = np.abs(rng.standard_normal(1001)) + 0.5
    dst = np.full_like(src, np.nan)
    failed = _run(_native.native(_square, (_F64, _F64, types.int64, types.int64)), src, dst)
    assert not failed.any()
    np.testing.assert_array_equal(dst, src * src)


def test_a_task_that_raises_is_reported_and_the_others_run(rng):
    src = np.abs(rng.standard_normal(300)) + 0.5
    src[[7, 250]] *= -1
    dst = np.full_like(src, np.nan)
    failed = _run(_native.native(_square, (_F64, _F64, types.int64, types.int64)), src, dst)
    assert np.flatnonzero(failed).tolist() == [7, 250]
    ok = failed == 0
    np.testing.assert_array_equal(dst[ok], src[ok] ** 2)
    assert np.isnan(dst[~ok]).all()


def test_call_takes_only_integers():
    @njit
    def with_a_float(entry):
        return _native.call(entry, (1.5,))

    with pytest.raises(Exception, match="tuple of integers"):
        with_a_float(0)


# Entries that fail every task, with the kernels' own argument lists.


def _fails_fft(src, dst, ints, floats, rows, n, n_ints, n_floats, tasks, task):
    return 1


def _fails_gemm(a, a_size, a_rs, a_cs, k, b, b_size, b_rs, b_cs, m, pack, packed, panels, nr, bias, parts, k_parts,
                n, chunk_rows, panel_groups, apply_relu, task):
    return 1


def _fails_cross_entropy(logits, labels, scales, lse, grad, n, classes, n_scales, n_lse, ignore_index, chunk, task):
    return 1


@pytest.mark.parametrize("rows", [512, 16])  # the threads' path, and the chunks on this thread
def test_cross_entropy_backward_raises_when_a_task_fails(monkeypatch, rng, rows):
    logits, labels = rng.standard_normal((rows, 300)).astype(np.float32), rng.integers(0, 300, rows)
    assert (logits.size >= cross_entropy_cpu._PARALLEL_MIN_ELEMENTS) == (rows == 512)
    failing = _native.native(_fails_cross_entropy, cross_entropy_cpu.grad_entry_types(np.float32))
    monkeypatch.setattr(cross_entropy_cpu, "_grad_entry", lambda dtype: failing)
    with pytest.raises(MemoryError, match="cross_entropy_backward: a chunk of rows failed"):
        cross_entropy_cpu.cross_entropy_backward(np.float32(1), logits, labels, "mean", -100)


@pytest.mark.parametrize("rows", [64, 3])  # the threads' path, and one task on this thread
def test_fft_raises_when_a_task_fails(monkeypatch, rng, rows):
    x = rng.standard_normal((rows, 1000)).astype(np.float32)
    assert (fft_cpu._tasks(*x.shape) > 1) == (rows == 64)
    monkeypatch.setattr(fft_cpu, "_entry", lambda task_function, dtype: _native.native(_fails_fft,
                                                                                        fft_cpu.entry_types(dtype)))
    with pytest.raises(MemoryError, match="a task of _forward_task failed"):
        fft_cpu.fft_half(x)
    with pytest.raises(MemoryError, match="a task of _backward_task failed"):
        fft_cpu.fft_half_backward(np.ones((rows, 500), np.complex64), 1000)


@pytest.mark.skipif(not _gemm.available(), reason="our GEMM runs where Numba targets AVX-512")
def test_gemm_raises_when_a_task_fails(monkeypatch, rng):
    a, b = rng.standard_normal((300, 200)).astype(np.float32), rng.standard_normal((200, 100)).astype(np.float32)
    monkeypatch.setattr(_gemm, "_entry", lambda dtype: _native.native(_fails_gemm, _gemm.entry_types(dtype)))
    with pytest.raises(MemoryError, match="gemm: a task failed"):
        _gemm.gemm(a, b, None, False, np.empty((300, 100), np.float32))


def test_fft_threads_path_reads_strided_rows_right(rng):
    """The tasks read their arrays by pointer: a strided input is made contiguous first, not read as if it were."""
    x = rng.standard_normal((64, 2000))[:, ::2]
    assert fft_cpu._tasks(*x.shape) > 1 and not x.flags.c_contiguous
    y = fft_cpu.fft_half(x)
    expected = np.fft.fft(x)[:, :500]
    assert np.linalg.norm(y - expected) / np.linalg.norm(expected) <= 1e-12
    g = (rng.standard_normal((64, 1000)) + 1j * rng.standard_normal((64, 1000)))[:, ::2]
    np.testing.assert_array_equal(fft_cpu.fft_half_backward(g, 1000),
                                  fft_cpu.fft_half_backward(np.ascontiguousarray(g), 1000))
