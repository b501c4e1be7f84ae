"""Side-by-side timing: medians of interleaved runs, so machine noise hits every contender alike."""

import time

import numpy as np


def _loops_for(fn, target_s):
    """How many calls make one sample last about target_s (at least one)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, int(target_s / max(once, 1e-9)))


def median_times(fns: dict, samples: int = 15, target_s: float = 0.01) -> dict:
    """{name: median seconds per call}, the contenders' runs interleaved round-robin."""
    for fn in fns.values():  # warm up: compile, fault in memory
        fn()
    loops = {name: _loops_for(fn, target_s) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    for _ in range(samples):
        for name, fn in fns.items():
            n = loops[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - start) / n)
    return {name: float(np.median(t)) for name, t in times.items()}
