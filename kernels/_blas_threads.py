"""BLAS on its threads or on the calling thread alone, chosen call by call by the time each took.

A training step of a small MLP (kernels.MLPStep) is a few GEMMs of tens of microseconds with our own
serial code between them. On a quiet machine OpenBLAS's second thread makes each GEMM faster. With a core
taken by another process it makes the step slower: OpenBLAS's idle thread spins between the GEMMs
(kernels._cores shortens that spin to about 0.2 ms, still longer than the gaps), so three threads want two
cores and ours gets preempted. Measured side by side today (`fastlayers bench --only "train epoch"`'s epoch
through the bench's run_case, digits MLP, Adam, float32): batch 64, 1.01-1.03 ms quiet and 2.07-2.15 ms with
one core busy on BLAS's threads, 1.24-1.26 ms either way on one thread; batch 1024, 1.03-1.06 ms quiet and
1.12-2.05 ms busy against 1.18 ms either way. Neither way is right on both machines, and a process cannot
ask the scheduler what the other core is doing without paying more than a step costs; the time a call took
is the cheap, direct answer.

serial_blas() is the block with every loaded BLAS (threadpoolctl finds them: NumPy's, and SciPy's, which
Numba's np.dot calls) on one thread. Their thread count is the process's, not the calling thread's: nested
and concurrent blocks share one setting, made by the first to enter and put back by the last to leave, and
only where nobody changed it meanwhile (a Dask task's kernels.limit_threads in another thread).
"""

import importlib
import threading
import time

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_depth = 0
_saved = []  # [(BLAS library controller, its thread count before the first block)]
_libraries = None


def _blas_libraries():
    """threadpoolctl's controllers of the loaded BLAS libraries, found once (SciPy's loaded first: Numba's
    np.dot calls it, and a controller made before would not see it)."""
    global _libraries
    if _libraries is None:
        importlib.import_module("scipy.linalg.cython_blas")  # loads SciPy's BLAS

        _libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    return _libraries


def _enter():
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = [(lib, lib.get_num_threads()) for lib in _blas_libraries()]
            for lib, threads in _saved:
                if threads != 1:
                    lib.set_num_threads(1)
        _depth += 1


def _leave():
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0:
            for lib, threads in _saved:
                if threads != 1 and lib.get_num_threads() == 1:  # still ours to put back
                    lib.set_num_threads(threads)


class serial_blas:
    """with serial_blas(): every loaded BLAS runs on the calling thread alone; as before after the block,
    however it ends."""

    __slots__ = ()

    def __enter__(self):
        _enter()

    def __exit__(self, *exc):
        _leave()
        return False


THREADED, SERIAL = 0, 1


class ThreadedOrSerial:
    """Runs fn(*args) with BLAS on its threads or serial_blas(), whichever took less time lately, for calls of
    one key (what the cost depends on: a model's shapes and a batch size).

    A key's calls start with a trial of each way: BURST calls in a row, the first of them untimed (it may
    compile; and a way's first call after the other's pays for waking BLAS's threads or letting them sleep,
    66-87 against 45 us a step at batch 64, measured), the others' mean its cost. Then the faster way runs, its
    cost an average of its recent calls, and now and then the other way gets a trial to see whether the
    machine changed (a core got busy or free). A trial stops at its first call over ABORT times the way in
    use (with a core busy, one threaded step at batch 64 took 16 ms against 45 us serial: a whole trial of
    four would have cost as much as 1400 serial steps). After a lost trial the next waits until the way in use has run
    for twice as long as it waited before, and at least TRIAL_SHARE times as long as the trial took, so
    trials stay a few per cent of the time; after a won one, for 16 of its calls. Where the way in use becomes
    the slower by its own calls' average (a core got busy, or a stall: one threaded step of 3 ms on a quiet
    machine, with PyTorch's and XLA's threads just done), the other way runs, and the first one's trial comes
    after 16 calls.
    """

    BURST, ABORT, FIRST_WAIT_CALLS, TRIAL_SHARE, MAX_WAIT_S = 4, 3.0, 16, 50, 2.0
    MAX_KEYS, WEIGHT = 64, 0.25

    def __init__(self):
        self.costs = {}  # key -> _Costs

    def way(self, key):
        """THREADED or SERIAL, the way in use for key; None while its first trials run."""
        costs = self.costs.get(key)
        return None if costs is None or None in costs.seconds else costs.faster()

    def __call__(self, key, fn, *args):
        costs = self.costs.get(key)
        if costs is None:
            if len(self.costs) >= self.MAX_KEYS:  # keys that keep changing: start over rather than grow
                self.costs.clear()
            costs = self.costs[key] = _Costs(self)
        way = costs.trial
        if way is None:
            way = costs.faster()
            if costs.wait <= 0:
                way = costs.start_trial(1 - way)
        start = time.perf_counter()
        if way == SERIAL:
            with serial_blas():
                result = fn(*args)
        else:
            result = fn(*args)
        costs.record(way, time.perf_counter() - start)
        return result


class _Costs:
    """One key's seconds per call of each way, and where its trials stand."""

    __slots__ = ("rules", "seconds", "trial", "left", "timed", "spent", "wait", "last_wait")

    def __init__(self, rules):
        self.rules, self.seconds = rules, [None, None]
        self.wait = self.last_wait = 0.0
        self.start_trial(THREADED)

    def faster(self):
        return THREADED if self.seconds[THREADED] <= self.seconds[SERIAL] else SERIAL

    def start_trial(self, way):
        self.trial, self.left, self.timed, self.spent = way, self.rules.BURST, 0.0, 0.0
        return way

    def record(self, way, seconds):
        rules = self.rules
        if self.trial is None:
            self.seconds[way] += rules.WEIGHT * (seconds - self.seconds[way])
            self.wait -= seconds
            if self.faster() != way:  # its own calls made it the slower: the other runs, and this one's trial is soon
                self.wait = self.last_wait = rules.FIRST_WAIT_CALLS * self.seconds[1 - way]
            return
        self.left -= 1
        self.spent += seconds
        if self.left < rules.BURST - 1:  # the trial's first call is its warm-up
            self.timed += seconds
        other = self.seconds[1 - way]
        if other is not None and seconds > rules.ABORT * other:
            self._end_trial(way, seconds, other)
        elif not self.left:
            self._end_trial(way, self.timed / (rules.BURST - 1), other)

    def _end_trial(self, way, seconds, other):
        # trial goes None last: a call in another thread that finds it None reads both ways' costs
        self.seconds[way] = seconds
        if other is None:  # the key's first trials: the other way's next
            self.start_trial(1 - way)
            return
        rules = self.rules
        if seconds < other:  # won: the way in use now
            self.last_wait = rules.FIRST_WAIT_CALLS * seconds
        else:
            longer = max(2 * self.last_wait, rules.TRIAL_SHARE * self.spent, rules.FIRST_WAIT_CALLS * other)
            self.last_wait = min(longer, rules.MAX_WAIT_S)
        self.wait = self.last_wait
        self.trial = None
