"""kernels.cpu._pool: our own workers run every task once, call after call, beside a second calling thread, in a
forked child, after leaving their caller's core, and while they spin briefly (a caller left waiting on one); quick
calls wake a sleeping worker only back to back; they leave at exit; where the pool cannot start, Numba's threads
run the tasks."""

import math
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from numba import carray, njit

from kernels.cpu import _native, _pool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the pool runs on Linux")


def _tally(dst, args, task):
    """dst[task] += 1: how many times each task ran."""
    carray(dst, args[0])[task] += 1
    return 0


@njit(nogil=True)
def _tally_calls(runner, entry, counts, calls):
    """`calls` calls of _tally over counts, one task per element; returns the number that reported a failure."""
    failed = 0
    for _ in range(calls):
        block, args = _native.task_block(entry, counts.ctypes.data, np.int64(1))
        args[0] = counts.size
        failed += _native.run_tasks(runner, block, counts.size) != 0
    return failed


def _uneven(dst, args, task):
    """dst[task] += 1 after a chain of args[0] square roots, ten times as many for task 1: about 1 and 10 ms."""
    rounds = args[0] * (10 if task == 1 else 1)
    chain = 1.0
    for i in range(rounds):
        chain = math.sqrt(chain + i)
    carray(dst, 2)[task] += 1.0 + 0.0 * chain
    return 0


@njit(nogil=True)
def _uneven_call(runner, entry, counts, rounds):
    """One call of _uneven's two tasks: the caller takes task 0 first, a worker that joins takes task 1."""
    block, args = _native.task_block(entry, counts.ctypes.data, np.int64(1))
    args[0] = rounds
    return _native.run_tasks(runner, block, 2)


def test_every_task_runs_once_call_after_call():
    runner = _native.runner()
    assert runner == _pool.start(2) != 0
    counts = np.zeros(3001)
    assert _tally_calls(runner, _native.task_entry(_tally, np.float64), counts, np.int64(400)) == 0
    np.testing.assert_array_equal(counts, 400)


def test_two_threads_calling_at_once_each_get_every_task_once():
    """Without the GIL (nogil), one thread's call holds the pool while the other's takes all its own tasks."""
    runner, entry = _native.runner(), _native.task_entry(_tally, np.float64)
    counts = [np.zeros(2000), np.zeros(2000)]
    failures = []
    threads = [threading.Thread(target=lambda c=c: failures.append(_tally_calls(runner, entry, c, np.int64(500))))
               for c in counts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and failures == [0, 0]
    for c in counts:
        np.testing.assert_array_equal(c, 500)


def test_a_caller_left_waiting_on_a_worker_shortens_the_workers_spins():
    """A worker that holds its caller (here: it got the long task) makes the workers spin briefly for a while;
    they still run every task once; the while ends."""
    runner, state = _native.runner(), _pool._state
    if state[_pool._ALIVE] < 1:
        pytest.skip("no worker: one core")
    state[_pool._SHARED_UNTIL], state[_pool._WORKER_SPINS] = 0, _pool._SPINS
    entry, counts = _native.task_entry(_uneven, np.float64), np.zeros(2)
    for calls in range(1, 31):
        assert _uneven_call(runner, entry, counts, np.int64(100_000)) == 0
        if state[_pool._WORKER_SPINS] == _pool._SHARED_SPINS:
            break
    assert state[_pool._WORKER_SPINS] == _pool._SHARED_SPINS and state[_pool._SHARED_UNTIL] > 0
    np.testing.assert_array_equal(counts, calls)
    state[_pool._SHARED_UNTIL] = 1 << 62  # hold it there through these calls
    counts = np.zeros(3001)
    assert _tally_calls(runner, _native.task_entry(_tally, np.float64), counts, np.int64(300)) == 0
    np.testing.assert_array_equal(counts, 300)
    state[_pool._SHARED_UNTIL] = 1  # long past: the next call ends the while
    assert _tally_calls(runner, _native.task_entry(_tally, np.float64), counts, np.int64(1)) == 0
    assert state[_pool._WORKER_SPINS] == _pool._SPINS and state[_pool._SHARED_UNTIL] == 0


def test_quick_calls_take_a_sleeping_worker_only_back_to_back():
    """A quick call (work shorter than a wake) runs alone while the workers sleep, without waking them (the job
    counter stays); one that comes right after another quick call wakes them; every task runs once either way."""
    runner, state = _native.runner(quick=True), _pool._state
    if state[_pool._ALIVE] < 1:
        pytest.skip("no worker: one core")
    entry, counts = _native.task_entry(_tally, np.float64), np.zeros(64)
    state[_pool._SHARED_UNTIL], state[_pool._WORKER_SPINS] = 0, _pool._SPINS
    for _ in range(200):  # until the worker has gone to sleep (it spins about 50 us after its last job)
        if state[_pool._SLEEPERS] == state[_pool._ALIVE]:
            break
        time.sleep(0.001)
    assert state[_pool._SLEEPERS] == state[_pool._ALIVE]
    state[_pool._QUICK_END] = 0  # the last quick call long ago
    jobs = state[_pool._GEN]
    assert _tally_calls(runner, entry, counts, np.int64(1)) == 0
    assert state[_pool._GEN] == jobs and state[_pool._QUICK_END] > 0  # alone: no job published, no wake
    state[_pool._QUICK_END] = 1 << 62  # the last quick call just now (a time ahead reads as back to back)
    assert _tally_calls(runner, entry, counts, np.int64(1)) == 0
    assert state[_pool._GEN] == jobs + 1  # published, the worker woken
    assert _tally_calls(runner, entry, counts, np.int64(300)) == 0  # back to back: the worker awake
    np.testing.assert_array_equal(counts, 302)
    for _ in range(20):  # spaced calls: alone, or with the worker where it is still awake
        time.sleep(0.0005)
        assert _tally_calls(runner, entry, counts, np.int64(1)) == 0
    np.testing.assert_array_equal(counts, 322)


_TRACED = """
import tracemalloc, numpy as np, kernels
from kernels import reference
rng = np.random.default_rng(0)
x, w, g = rng.standard_normal((3000, 40)), rng.standard_normal((40, 40, 64)), rng.standard_normal((3000, 64))
tracemalloc.start()
grad_x, grad_w = kernels.tensor_reduction_backward(g, None, x, w)  # its grad_x tasks allocate
y = kernels.center(rng.standard_normal(1 << 20))
tracemalloc.stop()
expected = reference.tensor_reduction_backward(g, None, x, w)[0]
print(float(np.abs(grad_x - expected).max() / np.abs(expected).max()))
"""


def test_tasks_that_allocate_while_tracemalloc_traces():
    """Numba's allocations go through Python's raw allocator; traced, a worker's take the GIL, which the caller
    must not hold through the call (it hung)."""
    done = subprocess.run([sys.executable, "-c", _TRACED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) <= 1e-12


def test_the_masks_leave_out_one_core_each():
    allowed = os.sched_getaffinity(0)
    masks = _pool._cpu_masks()
    for cpu in range(masks.shape[0]):
        cores = {w * 64 + b for w in range(masks.shape[1]) for b in range(64) if int(masks[cpu, w]) >> b & 1}
        assert cores == allowed - {cpu}


_PINNED_WORKER = """
import os, numpy as np, kernels
from kernels.cpu import _native
x = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
kernels.center(x)
workers = [int(t) for t in os.listdir("/proc/self/task")
           if open(f"/proc/self/task/{t}/comm").read().strip() == "fastlayers"]
core = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {core})
for w in workers:
    os.sched_setaffinity(w, {core})
for _ in range(2000):
    y = kernels.center(x)
    if all(core not in os.sched_getaffinity(w) for w in workers):
        break
expected = x - x.astype(np.float64).mean()
assert np.abs(y - expected).max() <= 1e-6 * np.abs(expected).max()
print(len(workers), sorted(os.sched_getaffinity(workers[0])))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_worker_on_its_callers_core_leaves_it():
    done = subprocess.run([sys.executable, "-c", _PINNED_WORKER], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NUMBA_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    count, cores = done.stdout.split(maxsplit=1)
    core = min(os.sched_getaffinity(0))
    assert int(count) == 1 and eval(cores) == sorted(os.sched_getaffinity(0) - {core})


_FORKED_CHILD = """
import multiprocessing, os, numpy as np, kernels

def workers():
    return sum(open(f"/proc/self/task/{t}/comm").read().strip() == "fastlayers" for t in os.listdir("/proc/self/task"))

def child(queue):
    x = np.random.default_rng(1).standard_normal(1 << 20)
    y = kernels.center(x)
    queue.put((float(np.abs(y - (x - x.mean())).max()), workers()))

if __name__ == "__main__":
    kernels.center(np.random.default_rng(1).standard_normal(1 << 20))  # the parent's pool is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    error, count = queue.get(timeout=60)
    process.join(timeout=60)
    print(process.exitcode, error, count, workers())
"""


def test_a_forked_child_starts_its_own_workers(tmp_path):
    """Forked from a process of its own (this one may hold other libraries' threads, which fork does not copy)."""
    script = tmp_path / "forked_child.py"
    script.write_text(_FORKED_CHILD)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    exitcode, error, child_workers, parent_workers = done.stdout.split()
    assert int(exitcode) == 0 and float(error) <= 1e-12
    assert int(child_workers) == int(parent_workers) >= 1


def test_the_workers_leave_at_exit():
    script = ("import numpy as np, kernels\nfrom kernels.cpu import _pool\n"
              "kernels.center(np.random.default_rng(0).standard_normal(1 << 20))\n"
              "assert _pool._state[_pool._ALIVE] >= 1\n_pool._stop()\nassert _pool._state[_pool._ALIVE] == 0\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_without_the_pool_numbas_threads_run_every_task_once(monkeypatch):
    monkeypatch.setattr(_pool, "start", lambda threads, quick=False: 0)
    monkeypatch.setattr(_native, "_numba_runner", None)
    runner = _native.runner()
    assert runner == _native._numba_runner.ctypes.data
    assert _native.runner(quick=True) == 0  # quick calls run on this thread there
    counts = np.zeros(3001)
    assert _tally_calls(runner, _native.task_entry(_tally, np.float64), counts, np.int64(50)) == 0
    np.testing.assert_array_equal(counts, 50)
