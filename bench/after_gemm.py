"""Why center keeps small inputs on one thread: one thread against two, back to back and right after a GEMM.

Run: python -m bench.after_gemm
Each line: median and 90th percentile of single calls, the two contenders taking
turns; "after linear_relu" runs kernels.linear_relu on (256, 1024) @ (1024, 1024)
before every timed call, as a Centered layer after a Linear would see it.
"""

import importlib
import time

import numpy as np

import kernels

center_module = importlib.import_module("kernels.center.cpu")


def _time_us(contenders, before, calls=200):
    times = {name: [] for name in contenders}
    for _ in range(calls):
        for name, fn in contenders.items():
            if before is not None:
                before()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (1e6 * np.median(t), 1e6 * np.percentile(t, 90)) for name, t in times.items()}


def main():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 1024), dtype=np.float32)
    w = rng.standard_normal((1024, 1024), dtype=np.float32) / np.float32(32)
    b = rng.standard_normal(1024, dtype=np.float32)
    for n in (10**5, 1 << 18):
        x = rng.standard_normal(n, dtype=np.float32) + np.float32(3)
        out = np.empty_like(x)
        contenders = {
            "one thread": lambda x=x, out=out: center_module._center_row(x, out),
            "two threads": lambda x=x, out=out: center_module._center_flat_parallel(x, out, 2),
        }
        for fn in contenders.values():
            fn()  # compile
        for label, before in (("back to back", None), ("after linear_relu", lambda: kernels.linear_relu(a, w, b))):
            times = _time_us(contenders, before)
            cells = "  ".join(f"{name}: {med:6.1f} us (p90 {p90:6.1f})" for name, (med, p90) in times.items())
            print(f"center ({n},) {label:18s} {cells}")


if __name__ == "__main__":
    main()
