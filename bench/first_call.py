"""Import time and each kernel's first call in a fresh process, with Numba's cache cold and warm.

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
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 8), dtype=np.float32)
w = rng.standard_normal((8, 5), dtype=np.float32)
b = rng.standard_normal(5, dtype=np.float32)
wt = rng.standard_normal((8, 8, 5), dtype=np.float32)
g = rng.standard_normal((4, 5), dtype=np.float32)
gf = (rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))).astype(np.complex64)
y = np.maximum(x @ w + b, 0)
calls = {
    "linear_relu": lambda: kernels.linear_relu(x, w, b),
    "linear_relu_backward": lambda: kernels.linear_relu_backward(g, y, x, w, b),
    "center": lambda: kernels.center(x),
    "center axis=0": lambda: kernels.center(x, 0),
    "tensor_reduction": lambda: kernels.tensor_reduction(x, wt),
    "tensor_reduction_backward": lambda: kernels.tensor_reduction_backward(g, None, x, wt),
    "fft_half": lambda: kernels.fft_half(x),
    "fft_half_backward": lambda: kernels.fft_half_backward(gf, None, x),
}
out = {"import": import_s}
for name, call in calls.items():
    t = time.perf_counter()
    call()
    out[name] = time.perf_counter() - t
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
