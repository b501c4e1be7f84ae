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
from kernels.center import COPY


def _cases(cp, quick):
    """Every op's GPU cases (kernels/<op>/, Op.gpu_cases); --quick: batches a quarter the size."""
    scale = 4 if quick else 1
    return [case for op in kernels.OPS for case in op.gpu_cases(cp, scale)]


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
    for case in _cases(cp, quick):
        kernel_name, shape, make, ours, base_name, base, others = (
            case.kernel, case.shape, case.make, case.ours, case.baseline_name, case.baseline, case.others)
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
