"""``fastlayers bench --device gpu``: the GPU kernels against CuPy, timed with CUDA events.

The same shape as the CPU report: every case is checked against its CuPy
baseline before it is timed; timings are medians of cupyx.profiler.benchmark's
GPU times (CUDA events), compared as ratios.
"""

import json
import sys
from datetime import date

import numpy as np

import kernels

F32 = np.float32
COPY = "copy (device memcpy)"


def _device_copy(x):
    """x's bytes copied device to device by the copy engine: the device's copy bandwidth."""
    out = type(x)(x.shape, x.dtype)
    out.data.copy_from_device_async(x.data, x.nbytes)
    return out


def _cases(cp, quick):
    """(kernel, shape, make() -> inputs, ours, baseline name, baseline, {other peers})."""
    scale = 4 if quick else 1  # --quick: smaller batches, same shapes otherwise

    def normal(*shape):
        return cp.random.standard_normal(shape, dtype=F32)

    def linear_inputs(n, k, m):
        return lambda: (normal(n // scale, k), normal(k, m) / np.sqrt(k, dtype=F32), normal(m))

    def outer_gemm(x, w):
        n, i = x.shape
        return (x[:, :, None] * x[:, None, :]).reshape(n, i * i) @ w.reshape(i * i, -1)

    cases = []
    for n, k, m in [(8192, 4096, 4096), (262144, 256, 256)]:
        shape = f"({n // scale}, {k}) @ ({k}, {m})"
        make = linear_inputs(n, k, m)
        cases.append(("linear_relu", shape, make, kernels.linear_relu, "cupy.maximum(x @ w + b, 0)",
                      lambda x, w, b: cp.maximum(x @ w + b, 0), {"cupy.matmul alone": lambda x, w, b: cp.matmul(x, w)}))

        def make_backward(make=make):
            x, w, b = make()
            y = kernels.linear_relu(x, w, b)
            return normal(*y.shape), x, w, b, y

        cases.append(("linear_relu_backward", shape, make_backward,
                      lambda g, x, w, b, y: kernels.linear_relu_backward(g, x, w, y), "CuPy formulas",
                      lambda g, x, w, b, y: ((g * (y > 0)) @ w.T, x.T @ (g * (y > 0)), (g * (y > 0)).sum(0)),
                      {"our forward": lambda g, x, w, b, y: kernels.linear_relu(x, w, b)}))
    size = 2**28 // scale
    cases.append(("center", f"({size},)", lambda: (normal(size) + 3,), kernels.center, "x - x.mean()",
                  lambda x: x - x.mean(), {COPY: _device_copy}))
    cases.append(("center_backward", f"({size},)", lambda: (normal(size),), kernels.center_backward,
                  "g - g.mean()", lambda g: g - g.mean(), {"our forward": kernels.center}))
    n = 65536 // scale
    make = lambda: (normal(n, 128), normal(128, 128, 128) / F32(128))  # noqa: E731
    cases.append(("tensor_reduction", f"x ({n}, 128), W (128, 128, 128)", make, kernels.tensor_reduction,
                  "outer product + matmul", outer_gemm, {}))
    cases.append(("tensor_reduction_backward", f"x ({n}, 128), W (128, 128, 128)",
                  lambda make=make: (normal(n, 128), *make()), kernels.tensor_reduction_backward,
                  "our forward", lambda g, x, w: kernels.tensor_reduction(x, w), {}))
    rows = 16384 // scale
    cases.append(("fft_half", f"({rows}, 4096)", lambda: (normal(rows, 4096),), kernels.fft_half,
                  "cupy.fft.fft(x)[:, :L//2]", lambda x: cp.fft.fft(x)[:, : x.shape[1] // 2],
                  {"cupy.fft.rfft alone": lambda x: cp.fft.rfft(x)}))
    cases.append(("fft_half_backward", f"({rows}, 4096)",
                  lambda: ((normal(rows, 2048) + 1j * normal(rows, 2048)).astype(cp.complex64), 4096, normal(rows, 4096)),
                  lambda g, n, x: kernels.fft_half_backward(g, n), "our forward", lambda g, n, x: kernels.fft_half(x), {}))
    return cases


def _check(cp, ours, theirs):
    pairs = zip(ours, theirs) if isinstance(ours, tuple) else [(ours, theirs)]
    worst = 0.0
    for a, b in pairs:
        a, b = cp.asarray(a, dtype=cp.complex128), cp.asarray(b, dtype=cp.complex128)
        worst = max(worst, float(cp.linalg.norm(a - b) / max(float(cp.linalg.norm(b)), 1e-30)))
    return worst


def main(quick=False, json_path=None, chosen=lambda kernel: True):
    import cupy as cp
    from cupyx.profiler import benchmark

    props = cp.cuda.runtime.getDeviceProperties(0)
    info = {"gpu": props["name"].decode(), "cupy": cp.__version__, "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
            "date": date.today().isoformat()}
    print(f"fastlayers bench --device gpu — {info['gpu']}, CuPy {info['cupy']}, CUDA runtime {info['cuda_runtime']}, "
          f"{info['date']}\nfloat32; medians of CUDA-event timings; ratio = their time / ours (> 1: we are faster)\n")
    rows, failed = [], False
    for kernel_name, shape, make, ours, base_name, base, others in _cases(cp, quick):
        if not chosen(kernel_name):
            continue
        args = make()
        row = {"kernel": kernel_name, "shape": shape}
        baseline_is_output = not base_name.startswith("our")
        if baseline_is_output:
            err = _check(cp, ours(*args), base(*args))
            row["rel_err"] = err
            if not err <= 1e-4:
                row["error"] = f"relative error {err:.2e} against {base_name}"
                failed = True
                print(f"{kernel_name:26s} {shape:34s} CHECK FAILED: {row['error']}")
                rows.append(row)
                continue
        fns = {"fastlayers": ours, base_name: base, **others}
        times = {}
        for label, fn in fns.items():
            res = benchmark(fn, args, n_repeat=5 if quick else 20, n_warmup=2)
            times[label] = float(np.median(res.gpu_times[0]))
        row["times"] = times
        row["ratio"] = {label: t / times["fastlayers"] for label, t in times.items() if label != "fastlayers"}
        if COPY in times:
            # Bandwidth: centering moves 3 arrays (2 reads, 1 write); the copy moves 2.
            row["fraction_of_copy_bandwidth"] = (3 / times["fastlayers"]) / (2 / times[COPY])
        rows.append(row)
        peers = "  ".join(f"{k}: {v:.2f}x" for k, v in row["ratio"].items())
        extra = (f"  bandwidth: {row['fraction_of_copy_bandwidth']:.0%} of copy" if "fraction_of_copy_bandwidth" in row else "")
        print(f"{kernel_name:26s} {shape:34s} {times['fastlayers'] * 1e3:9.3f} ms  {peers}{extra}")
        del args
        cp.get_default_memory_pool().free_all_blocks()
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"machine": info, "results": rows}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(quick="--quick" in sys.argv))
