"""kernels.cpu._native: a task's code compiled once as a C callback, run by its address on Numba's threads or on
this thread; and the kernels that run their tasks that way raising, not returning half-written results, when a task
fails."""

import numpy as np
import pytest
from numba import carray, njit

from kernels.cpu import _gemm, _native
from kernels.cross_entropy import cpu as cross_entropy_cpu
from kernels.fft_half import cpu as fft_cpu


def _square(dst, args, task):
    """dst[task] = src[task] ** 2, args = (src, n); raises (reported as 1) where src[task] < 0."""
    s, d = carray(_native.pointer(args[0], dst), args[1]), carray(dst, args[1])
    try:
        if s[task] < 0:
            raise ValueError("a negative value")
        d[task] = s[task] * s[task]
    except Exception:  # noqa: BLE001
        return 1
    return 0


def _tally(dst, args, task):
    """dst[task] += 1: how many times each task ran."""
    carray(dst, args[0])[task] += 1
    return 0


@njit
def _run(runner, entry, src, dst):
    block, args = _native.task_block(entry, dst.ctypes.data, np.int64(2))
    args[0], args[1] = src.ctypes.data, src.size
    return _native.run_tasks(runner, block, src.size)


@pytest.mark.parametrize("threads", [True, False])
def test_every_task_runs_once_through_the_address(rng, threads):
    src = np.abs(rng.standard_normal(1001)) + 0.5
    dst = np.full_like(src, np.nan)
    runner = _native.runner() if threads else 0
    assert _run(runner, _native.task_entry(_square, np.float64), src, dst) == 0
    np.testing.assert_array_equal(dst, src * src)
    counts = np.zeros(5000)
    assert _run(runner, _native.task_entry(_tally, np.float64), counts, counts) == 0
    np.testing.assert_array_equal(counts, 1)


@pytest.mark.parametrize("threads", [True, False])
def test_a_task_that_raises_is_reported_and_the_others_run(rng, threads):
    src = np.abs(rng.standard_normal(300)) + 0.5
    src[[7, 250]] *= -1
    dst = np.full_like(src, np.nan)
    assert _run(_native.runner() if threads else 0, _native.task_entry(_square, np.float64), src,
                dst) != 0
    ok = np.ones(src.size, bool)
    ok[[7, 250]] = False
    np.testing.assert_array_equal(dst[ok], src[ok] ** 2)
    assert np.isnan(dst[~ok]).all()


def test_the_threads_run_under_a_thread_limit(rng):
    src = np.abs(rng.standard_normal(64)) + 0.5
    dst = np.full_like(src, np.nan)
    import kernels

    with kernels.limit_threads(1):
        assert _run(_native.runner(), _native.task_entry(_square, np.float64), src, dst) == 0
    np.testing.assert_array_equal(dst, src * src)


def test_call_takes_only_integers():
    @njit
    def with_a_float(entry):
        return _native.call(entry, (1.5,))

    with pytest.raises(Exception, match="tuple of integers"):
        with_a_float(0)


def test_pointer_takes_an_integer_and_a_pointer_or_dtype():
    @njit
    def from_a_float(address):
        return _native.pointer(address, np.float64)

    with pytest.raises(Exception, match="address must be an integer"):
        from_a_float(1.5)


@njit
def _run_with_solo(runner, entry, counts, solo_counts, tasks):
    """tasks _tally tasks over counts, with a solo block: one _tally task over solo_counts."""
    block, args = _native.task_block(entry, counts.ctypes.data, np.int64(1))
    solo, solo_args = _native.task_block(entry, solo_counts.ctypes.data, np.int64(1))
    args[0], solo_args[0] = counts.size, solo_counts.size
    block[_native._SOLO] = solo.ctypes.data
    failed = _native.run_tasks(runner, block, tasks)
    return max(failed, solo[1])


def test_a_solo_block_runs_in_place_of_the_tasks_on_one_thread_only():
    entry = _native.task_entry(_tally, np.float64)
    counts, solo_counts = np.zeros(2), np.zeros(1)
    assert _run_with_solo(0, entry, counts, solo_counts, 2) == 0  # this thread alone: the solo block
    np.testing.assert_array_equal(counts, 0)
    np.testing.assert_array_equal(solo_counts, 1)
    assert _run_with_solo(_native.runner(), entry, counts, solo_counts, 2) == 0  # the threads: the block's tasks
    np.testing.assert_array_equal(counts, 1)
    np.testing.assert_array_equal(solo_counts, 1)
    failing = _native.task_entry(_fails, np.float64)
    block_failed = _run_with_solo(0, failing, counts, solo_counts, 2)
    assert block_failed != 0  # a failed solo task is the call's failure


def _fails(out, args, task):
    """An entry that fails every task."""
    return 1


def _failing_entry(task_function, dtype):
    """What a kernel gets in place of its task function's entry: _fails, compiled for the same dtype."""
    return _native.task_entry(_fails, dtype)


@pytest.mark.parametrize("rows", [512, 16])  # the threads' path, and the chunks on this thread
def test_cross_entropy_backward_raises_when_a_task_fails(monkeypatch, rng, rows):
    logits, labels = rng.standard_normal((rows, 300)).astype(np.float32), rng.integers(0, 300, rows)
    assert (logits.size >= cross_entropy_cpu._PARALLEL_MIN_ELEMENTS) == (rows == 512)
    monkeypatch.setattr(cross_entropy_cpu, "task_entry", _failing_entry)
    with pytest.raises(MemoryError, match="cross_entropy_backward: a chunk of rows failed"):
        cross_entropy_cpu.cross_entropy_backward(np.float32(1), logits, labels, "mean", -100)


@pytest.mark.parametrize("rows", [64, 3])  # the threads' path, and one task on this thread
def test_fft_raises_when_a_task_fails(monkeypatch, rng, rows):
    x = rng.standard_normal((rows, 1000)).astype(np.float32)
    assert (fft_cpu._tasks(*x.shape) > 1) == (rows == 64)
    monkeypatch.setattr(fft_cpu, "task_entry", _failing_entry)
    with pytest.raises(MemoryError, match="a task of _forward_task failed"):
        fft_cpu.fft_half(x)
    with pytest.raises(MemoryError, match="a task of _backward_task failed"):
        fft_cpu.fft_half_backward(np.ones((rows, 500), np.complex64), 1000)


def test_fft_split_block_raises_when_a_task_fails(monkeypatch, rng):
    x = rng.standard_normal((8, 4096)).astype(np.float32)
    monkeypatch.setattr(fft_cpu, "task_entry", _failing_entry)
    with pytest.raises(MemoryError, match="a task of _forward_split_task failed"):
        fft_cpu.fft_half(x)


@pytest.mark.skipif(not _gemm.available(), reason="our GEMM runs where Numba targets AVX-512")
def test_gemm_raises_when_a_task_fails(monkeypatch, rng):
    a, b = rng.standard_normal((300, 200)).astype(np.float32), rng.standard_normal((200, 100)).astype(np.float32)
    monkeypatch.setattr(_gemm, "task_entry", _failing_entry)
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


@pytest.mark.parametrize("shape, axis", [((300000,), None), ((600, 1000), 0), ((1000, 600), 1)])  # flat, columns, rows
def test_center_raises_when_a_task_fails(monkeypatch, rng, shape, axis):
    from kernels.center import cpu as center_cpu

    x = rng.standard_normal(shape).astype(np.float32)
    assert x.size >= center_cpu.PARALLEL_MIN_ELEMENTS
    monkeypatch.setattr(center_cpu, "task_entry", _failing_entry)
    with pytest.raises(MemoryError, match="center: a task failed"):
        center_cpu.center(x, None if axis is None else (axis,))


@pytest.mark.parametrize("n", [2**17, 2**17 + 2])  # four-step, and Bluestein on it (m = 65537, prime)
def test_long_rows_raise_when_a_task_fails(monkeypatch, rng, n):
    from kernels.fft_half import _long

    x = rng.standard_normal((2, n)).astype(np.float32)
    assert _long.is_long(n)
    monkeypatch.setattr(_long, "task_entry", _failing_entry)
    with pytest.raises(MemoryError, match="fft_half: a task of a long row's pass failed"):
        fft_cpu.fft_half(x)
    with pytest.raises(MemoryError, match="fft_half_backward: a task of a long row's pass failed"):
        fft_cpu.fft_half_backward(np.ones((2, n // 2), np.complex64), n)
