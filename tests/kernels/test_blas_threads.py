"""kernels._blas_threads: serial_blas() puts every loaded BLAS on one thread and back; ThreadedOrSerial runs
the way that took less time and notices when that changes."""

import importlib
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import kernels

blas_threads = importlib.import_module("kernels._blas_threads")


def _blas_thread_counts():
    blas_threads._blas_libraries()  # SciPy's BLAS loaded, as Numba's np.dot loads it
    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads():
    """Every loaded BLAS on two threads for the test (one thread would make the tests below prove nothing)."""
    blas_threads._blas_libraries()
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_thread_counts()
        assert before and set(before.values()) == {2}, before
        yield before


def _in_four_threads(work):
    """Runs work() in four threads at once; the exceptions they raised (each thread joined within 60 s)."""
    errors = []

    def guarded():
        try:
            work()
        except Exception as e:  # noqa: BLE001 -- returned to the test
            errors.append(e)

    threads = [threading.Thread(target=guarded) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return errors


def test_serial_blas_one_thread_inside_and_back_after(two_blas_threads):
    with blas_threads.serial_blas():
        assert set(_blas_thread_counts().values()) == {1}
        with blas_threads.serial_blas():  # nested: still one thread after the inner block
            pass
        assert set(_blas_thread_counts().values()) == {1}
    assert _blas_thread_counts() == two_blas_threads
    with pytest.raises(ZeroDivisionError):
        with blas_threads.serial_blas():
            1 / 0
    assert _blas_thread_counts() == two_blas_threads


def test_serial_blas_leaves_a_count_someone_else_set(two_blas_threads):
    """A thread count set by other code inside the block (a Dask task's limit_threads) is not overwritten."""
    with blas_threads.serial_blas():
        for lib in blas_threads._blas_libraries():
            lib.set_num_threads(3)
    assert set(_blas_thread_counts().values()) == {3}


def test_serial_blas_from_many_threads_restores_once(two_blas_threads):
    a = np.random.default_rng(0).random((64, 64))

    def work():
        for _ in range(200):
            with blas_threads.serial_blas():
                a @ a

    assert _in_four_threads(work) == []
    assert blas_threads._depth == 0
    assert _blas_thread_counts() == two_blas_threads


class _Clock:
    """perf_counter for ThreadedOrSerial: each call of fn advances it by the current cost of the way it ran
    (serial when a serial_blas block is open)."""

    def __init__(self, threaded, serial):
        self.now, self.cost = 0.0, {blas_threads.THREADED: threaded, blas_threads.SERIAL: serial}
        self.runs = []

    def perf_counter(self):
        return self.now

    def fn(self):
        way = blas_threads.SERIAL if blas_threads._depth else blas_threads.THREADED
        self.runs.append(way)
        self.now += self.cost[way]
        return way


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock(threaded=30e-6, serial=45e-6)
    monkeypatch.setattr(blas_threads, "time", clock)
    monkeypatch.setattr(blas_threads, "_enter", lambda: setattr(blas_threads, "_depth", blas_threads._depth + 1))
    monkeypatch.setattr(blas_threads, "_leave", lambda: setattr(blas_threads, "_depth", blas_threads._depth - 1))
    return clock


def test_chooser_runs_the_faster_way_and_follows_a_change(clock):
    choose = blas_threads.ThreadedOrSerial()
    burst, THREADED, SERIAL = choose.BURST, blas_threads.THREADED, blas_threads.SERIAL
    results = [choose("k", clock.fn) for _ in range(2 * burst)]
    assert results == clock.runs  # fn's result comes back
    assert clock.runs == [THREADED] * burst + [SERIAL] * burst  # the first trials
    assert choose.way("k") == THREADED
    clock.runs.clear()
    start = clock.now
    for _ in range(20000):
        choose("k", clock.fn)
    # the slower way only in its trials, and they grow apart: a few per cent of the time at most
    serial_calls = clock.runs.count(SERIAL)
    assert 0 < serial_calls and serial_calls * 45e-6 <= 0.03 * (clock.now - start)
    # the machine gets busy: threads now cost three times serial; the threaded way's own average shows it
    clock.cost[THREADED] = 135e-6
    clock.runs.clear()
    for _ in range(50):
        choose("k", clock.fn)
    assert choose.way("k") == SERIAL and clock.runs.index(SERIAL) <= 5
    # and quiet again: the serial way's average does not move, a trial of the threaded way finds the change
    clock.cost[THREADED] = 30e-6
    for calls in range(int(choose.MAX_WAIT_S / 45e-6) + 4 * burst):
        choose("k", clock.fn)
        if choose.way("k") == THREADED:
            break
    assert choose.way("k") == THREADED


def test_a_much_slower_trial_stops_at_its_first_call(clock):
    """With a core busy one threaded step took 16 ms against 45 us serial: a trial stops there."""
    choose = blas_threads.ThreadedOrSerial()
    THREADED, SERIAL = blas_threads.THREADED, blas_threads.SERIAL
    clock.cost = {THREADED: 16e-3, SERIAL: 45e-6}
    for _ in range(2 * choose.BURST):
        choose("k", clock.fn)
    assert choose.way("k") == SERIAL
    clock.runs.clear()
    start = clock.now
    for _ in range(50000):
        choose("k", clock.fn)
    runs = clock.runs
    threaded = [i for i, way in enumerate(runs) if way == THREADED]
    assert threaded and all(runs[i + 1] == SERIAL for i in threaded if i + 1 < len(runs))  # one call a trial
    assert len(threaded) * 16e-3 <= 0.05 * (clock.now - start)


def test_chooser_keeps_keys_apart_and_bounded(clock):
    choose = blas_threads.ThreadedOrSerial()
    clock.cost[blas_threads.SERIAL] = 10e-6  # serial faster for every key here
    for key in range(choose.MAX_KEYS):
        for _ in range(2 * choose.BURST):
            choose(key, clock.fn)
    assert all(choose.way(key) == blas_threads.SERIAL for key in range(choose.MAX_KEYS))
    choose("one more", clock.fn)
    assert len(choose.costs) == 1 and choose.way(0) is None


def test_chooser_passes_an_exception_on_and_closes_the_block(clock):
    choose = blas_threads.ThreadedOrSerial()
    for _ in range(choose.BURST):
        choose("k", clock.fn)

    def fails():
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        choose("k", fails)  # the serial trial's first call
    assert blas_threads._depth == 0


def test_chooser_from_many_threads(two_blas_threads):
    """Calls of one key from several threads at once: every result comes back, BLAS's count is put back."""
    choose = blas_threads.ThreadedOrSerial()
    a = np.random.default_rng(1).random((96, 96))
    expected = a @ a

    def work():
        for _ in range(300):
            assert np.allclose(choose("k", np.matmul, a, a), expected, rtol=1e-12, atol=0)

    assert _in_four_threads(work) == []
    assert choose.way("k") in (blas_threads.THREADED, blas_threads.SERIAL)
    assert blas_threads._depth == 0 and _blas_thread_counts() == two_blas_threads


def test_mlp_step_same_update_either_way(two_blas_threads):
    """The step's products on one thread or two give the same parameters (to float rounding)."""
    rng = np.random.default_rng(5)
    params = [rng.standard_normal((20, 256)), rng.standard_normal(256), rng.standard_normal((256, 10)),
              rng.standard_normal(10)]
    x, labels = rng.standard_normal((64, 20)), rng.integers(0, 10, 64)
    results = []
    for serial in (False, True):
        ps = [p.copy() for p in params]
        state = ([np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps])
        step = kernels.MLPStep(ps, [True, False], state=state)
        if serial:
            with blas_threads.serial_blas():
                loss, grads = step(x, labels, step=1, lr=1e-2)
        else:
            loss, grads = step(x, labels, step=1, lr=1e-2)
        results.append((loss, grads, ps))
    (loss0, grads0, ps0), (loss1, grads1, ps1) = results
    assert abs(loss1 - loss0) <= 1e-12 * abs(loss0)
    for a, b in zip(grads0 + ps0, grads1 + ps1):
        assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(a))
