"""``fastlayers bench``: every kernel against NumPy over a ladder of sizes, checked, then timed.

Each case is checked against its NumPy baseline before it is timed; a case
that fails its check is reported and makes the command exit non-zero.
Contenders are timed side by side, interleaved, and compared as ratios of
medians (see timing.py). Prints a table; --json saves every number, --plot a
chart of speed-up against size per kernel.
"""

import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from contextlib import contextmanager
from datetime import date

import numpy as np

from . import cases as cases_module
from . import peers
from .overhead import OVERHEAD_CASES
from .timing import median_times


def machine_info() -> dict:
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "date": date.today().isoformat()}
    info["peer_versions"] = peers.versions()
    info["blas"] = blas_info()
    return info


def blas_info() -> list:
    """The BLAS libraries this process loaded (NumPy's GEMM, and ours: linear_relu's product is NumPy's),
    with the kernel set each runs: OpenBLAS picks its kernels for the CPU when it loads, unless
    OPENBLAS_CORETYPE names a set (recorded here as this process's environment has it)."""
    from threadpoolctl import threadpool_info

    return [{"library": lib["internal_api"], "version": lib.get("version"), "kernels": lib.get("architecture"),
             "threads": lib["num_threads"], "package": _package_of(lib["filepath"]),
             "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}
            for lib in threadpool_info() if lib["user_api"] == "blas"]


def _package_of(path: str):
    """The installed package a shared library came with (.../site-packages/numpy.libs/libx.so -> numpy), or None."""
    parts = os.path.normpath(path).split(os.sep)
    if "site-packages" in parts and parts.index("site-packages") + 1 < len(parts) - 1:
        return parts[parts.index("site-packages") + 1].removesuffix(".libs")
    return None


def _blas_line(info) -> str:
    out = []
    for lib in info.get("blas", []):
        details = [f"{lib['kernels']} kernels"] if lib["kernels"] else []
        if lib["library"] == "openblas" and lib["OPENBLAS_CORETYPE"]:
            details.append(f"set by OPENBLAS_CORETYPE={lib['OPENBLAS_CORETYPE']}")
        details.append(f"{lib['threads']} threads")
        owner = f"{lib['package']}'s " if lib["package"] else ""
        out.append(f"{owner}{lib['library']} {lib['version']} ({', '.join(details)})")
    return "BLAS: " + "; ".join(out) if out else "BLAS: none found by threadpoolctl"


def _format_time(seconds: float) -> str:
    """Three significant digits in the largest unit that keeps the value at least 1 once rounded (999.96 us is
    1 ms, not 1e+03 us)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if float(f"{seconds / scale:.3g}") >= 1:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def run_case(case, samples, target_s, peer_modules=None) -> dict:
    """One case checked, then timed against NumPy and its other contenders side by side, then against each
    installed peer (peer_modules: {name: module}, from peers.installed()) in a pass of its own."""
    args = case.make(np.random.default_rng(0))
    row = {"kernel": case.kernel, "shape": case.shape}
    try:
        row["rel_err"] = cases_module.check(case, args)
    except AssertionError as e:
        row["error"] = str(e)
        return row
    fns = {label: (lambda f=f: f(*args)) for label, f in cases_module.contenders(case).items()}
    times = median_times(fns, samples=samples, target_s=target_s)
    ours = times["fastlayers"]
    row["times"] = times
    row["speedup"] = {label: t / ours for label, t in times.items() if label != "fastlayers"}
    for name, module in (peer_modules or {}).items():
        if name not in case.peers:
            continue
        # A pass of its own: PyTorch's and MKL's OpenMP threads, XLA's pool, keep spinning after a
        # call and would slow whatever runs next, so a peer never takes turns with NumPy's contenders.
        try:
            run = peers.PEERS[name].prepare(module, case.peers[name], args)
            cases_module.check_against_numpy(case, args, peers.as_numpy(run()), who=name)
        except Exception as e:  # a peer that fails its check or raises is reported, not timed
            row.setdefault("peer_errors", {})[name] = f"{type(e).__name__}: {e}"
            continue
        pair = median_times({"fastlayers": fns["fastlayers"], name: run}, samples=samples, target_s=target_s)
        row["times"][name] = pair[name]
        row["speedup"][name] = pair[name] / pair["fastlayers"]
    return row


def peak_memory(case) -> dict:
    """Peak bytes allocated while the kernel runs, next to its inputs + output (tracemalloc sees NumPy's buffers)."""
    args = case.make(np.random.default_rng(0))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = case.ours(*args)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    inputs = sum(a.nbytes for a in args if isinstance(a, np.ndarray))
    return {"kernel": case.kernel, "shape": case.shape, "inputs_bytes": inputs, "output_bytes": out.nbytes,
            "peak_bytes": peak, "extra_bytes": peak - out.nbytes}


def module_overhead(samples) -> list:
    """Per-layer cost of the Module machinery over the same kernels called by hand."""
    out = []
    for make in OVERHEAD_CASES:
        name, count, unit, passes = make(np.random.default_rng(0))
        for which, (module_fn, by_hand) in passes.items():
            t = median_times({"module": module_fn, "by hand": by_hand}, samples=samples)
            out.append({"model": name, "pass": which, "module_s": t["module"], "by_hand_s": t["by hand"],
                        "unit": unit, "per_unit_s": (t["module"] - t["by hand"]) / count})
    return out


def print_table(rows, info, file=sys.stdout):
    print(f"fastlayers bench — {info['cpu']}, {info['cores']} cores, NumPy {info['numpy']}, Numba {info['numba']}"
          + "".join(f", {name} {version}" for name, version in info["peer_versions"].items()) + f", {info['date']}"
          + (f"; {info['busy']} busy-loop process(es) running beside it" if info.get("busy") else ""), file=file)
    print(_blas_line(info), file=file)
    print("float32; medians of interleaved runs; speed-up = their time / ours (> 1: we are faster)\n", file=file)
    header = f"{'kernel':26s} {'shape':34s} {'ours':>10s} {'numpy':>10s} {'speed-up':>8s}  {'vs floor / peers (their time / ours)'}"
    print(header, file=file)
    print("-" * len(header), file=file)
    for row in rows:
        if "error" in row:
            print(f"{row['kernel']:26s} {row['shape']:34s} CHECK FAILED: {row['error']}", file=file)
            continue
        t = row["times"]
        others = "  ".join(f"{label}: {ratio:.2f}x" for label, ratio in row["speedup"].items() if label != "numpy")
        failed = "  ".join(f"{name}: check failed" for name in row.get("peer_errors", {}))
        print(f"{row['kernel']:26s} {row['shape']:34s} {_format_time(t['fastlayers']):>10s} "
              f"{_format_time(t['numpy']):>10s} {row['speedup']['numpy']:7.2f}x  {others}  {failed}".rstrip(), file=file)


def _pyplot():
    """matplotlib's pyplot on the Agg backend, or a one-line SystemExit saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("fastlayers bench --plot needs matplotlib: pip install 'fastlayers[plot]'") from None
    return plt


_COARSE_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
_FINE_TICKS = (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10)
REFERENCES = ("our forward",)  # drawn as a reference line on a backward's panel, not as a competitor


def _panel(row) -> str:
    """A row's panel: its kernel, with centering over an axis apart from centering a flat array."""
    axis = row["shape"].partition(" axis=")[2]
    return row["kernel"] + (f" (axis={axis})" if axis else "")


def plot(rows, path, info):
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    plt = _pyplot()
    rows = [r for r in rows if "speedup" in r]
    panels = list(dict.fromkeys(_panel(r) for r in rows))
    cols = 2
    n_rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(n_rows, cols, figsize=(13, 3.0 * n_rows + 0.8), squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        mine = [r for r in rows if _panel(r) == panel]
        xs = range(len(mine))
        for peer in dict.fromkeys(p for r in mine for p in r["speedup"]):
            ys = [r["speedup"].get(peer, np.nan) for r in mine]
            if peer in REFERENCES:
                ax.plot(xs, ys, color="grey", ls="--", lw=1, label=f"{peer} (reference)")
            else:
                ax.plot(xs, ys, marker="o", label=peer)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_yscale("log")
        values = [v for r in mine for v in r["speedup"].values() if v > 0] + [1.0]
        low, high = min(values) / 1.3, max(values) * 1.3
        ax.set_ylim(low, high)
        steps = _COARSE_TICKS if high / low > 8 else _FINE_TICKS  # a narrow range gets more ticks
        ax.yaxis.set_major_locator(FixedLocator([t for t in steps if low <= t <= high]))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel("their time / ours")
        ax.set_xticks(list(xs), [r["shape"].partition(" axis=")[0] for r in mine], rotation=12, fontsize=7)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"fastlayers bench: speed-up over NumPy and peers (> 1: fastlayers is faster) — float32, "
                 f"{info['cpu']}, {info['cores']} cores, {info['date']}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check_output_path(option: str, path) -> None:
    """A one-line SystemExit, before any work, if path cannot be written."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise SystemExit(f"fastlayers bench {option}: {path} is a folder; give a file name")
    if not os.path.isdir(folder):
        raise SystemExit(f"fastlayers bench {option}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise SystemExit(f"fastlayers bench {option}: cannot write {path} (permission denied)")


def _chosen(kernel: str, only) -> bool:
    """Whether --only asks for kernel: "center" matches center and center_backward."""
    return not only or any(kernel in (name, f"{name}_backward") for name in only)


@contextmanager
def busy_loops(n):
    """n processes spinning a plain Python loop at normal priority beside the block: a notebook, a build,
    another Dask task. They are killed when the block ends, however it ends."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        if loops:
            time.sleep(0.2)  # running, not still starting
        yield
    finally:
        for p in loops:
            p.kill()
        for p in loops:
            p.wait()


def main(quick=False, json_path=None, plot_path=None, device="cpu", only=None, busy=0):
    if not 0 <= busy <= 64:
        raise SystemExit(f"fastlayers bench --busy: expected a number of processes from 0 to 64, got {busy}")
    if json_path:
        check_output_path("--json", json_path)
    if plot_path:
        if device == "gpu":
            raise SystemExit("fastlayers bench --plot draws the CPU report; the GPU report has --json")
        check_output_path("--plot", plot_path)
        _pyplot()  # matplotlib is there, before any work
    if device == "gpu":
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError("no CUDA device")
        except Exception as e:  # CuPy missing, no driver, no device
            raise SystemExit(f"fastlayers bench --device gpu needs CuPy and a CUDA GPU ({type(e).__name__}: {e}); "
                             "install with pip install 'fastlayers[gpu]'") from None
        from . import gpu_report

        with busy_loops(busy):
            return gpu_report.main(quick=quick, json_path=json_path, chosen=lambda kernel: _chosen(kernel, only))
    if only and "dask" in only:
        if len(only) > 1:
            raise SystemExit("fastlayers bench --only dask runs the Dask section alone; ask for other kernels separately")
        try:
            from . import dask_report
        except ImportError as e:
            raise SystemExit(f"fastlayers bench --only dask needs the dask extra ({e}); "
                             "install with pip install 'fastlayers[dask]'") from None
        with busy_loops(busy):
            dask_report.main(rounds=3 if quick else 5)
        return 0
    from tqdm import tqdm

    known = {c.kernel for c in cases_module.CASES}
    unknown = sorted(set(only or ()) - known)
    if unknown:
        raise SystemExit(f"fastlayers bench --only: unknown kernel {', '.join(unknown)}; expected one of {', '.join(sorted(known | {'dask'}))}")
    selected = [c for c in cases_module.CASES if (c.quick or not quick) and _chosen(c.kernel, only)]
    peer_modules = peers.installed()
    info = {**machine_info(), "busy": busy, "peers": sorted(peer_modules)}
    samples, target_s = (5, 0.005) if quick else (15, 0.02)
    start = time.perf_counter()
    rows = []
    with busy_loops(busy):
        for case in tqdm(selected, desc="fastlayers bench", unit="case", file=sys.stderr):
            rows.append(run_case(case, samples, target_s, peer_modules))
        memory = [] if quick else [peak_memory(c) for c in cases_module.MEMORY_CASES if _chosen(c.kernel, only)]
        overhead = module_overhead(samples=3 * samples) if not only else []
    print_table(rows, info)
    if overhead:
        print("\nModule overhead (net(x) against the same kernels by hand):")
    for o in overhead:
        print(f"  {o['model']}, {o['pass']}: {_format_time(o['module_s'])} vs {_format_time(o['by_hand_s'])} "
              f"by hand: {o['per_unit_s'] * 1e6:+.2f} µs per {o['unit']}")
    for m in memory:
        print(f"\npeak memory, {m['kernel']} {m['shape']}: {m['peak_bytes'] / 2**20:.1f} MiB allocated at the peak, "
              f"{m['extra_bytes'] / 2**20:.1f} MiB beyond the output (inputs: {m['inputs_bytes'] / 2**20:.1f} MiB)")
    print(f"\n{len(rows)} cases in {time.perf_counter() - start:.0f} s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"machine": info, "results": rows, "memory": memory, "module_overhead": overhead}, f, indent=1)
        print(f"every number: {os.path.abspath(json_path)}")
    if plot_path:
        plot(rows, plot_path, info)
        print(f"plot: {os.path.abspath(plot_path)}")
    failed = [r for r in rows if "error" in r]
    return 1 if failed else 0
