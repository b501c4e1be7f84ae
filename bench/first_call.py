"""Import time and each op's first calls (on its test examples) in a fresh process, Numba's cache cold and warm.

Run: python -m bench.first_call
Each measurement runs in its own interpreter; "cold" points NUMBA_CACHE_DIR at
an empty folder, "warm" runs again on the folder the cold run filled.
"""

import json
import os
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, time
t = time.perf_counter()
import kernels
import_s = time.perf_counter() - t
import numpy as np
out = {"import": import_s}
for op in kernels.OPS:  # each op on all its test examples, in float32: forwards, then backwards
    examples = [([a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in inputs],
                 options) for inputs, options in op.examples(np.random.default_rng(0))]
    t = time.perf_counter()
    ys = [op.forward(*inputs, **options) for inputs, options in examples]
    out[op.name] = time.perf_counter() - t
    t = time.perf_counter()
    for y, (inputs, options) in zip(ys, examples):
        op.backward(np.ones_like(y), y, *inputs, **options)
    out[op.name + "_backward"] = time.perf_counter() - t
print(json.dumps(out))
"""


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def main():
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = _run(cache_dir)
        warm = _run(cache_dir)
    print(f"{'':28s} {'cache cold':>12s} {'cache warm':>12s}")
    for name in cold:
        print(f"{name:28s} {cold[name] * 1e3:10.1f} ms {warm[name] * 1e3:10.1f} ms")


if __name__ == "__main__":
    main()
