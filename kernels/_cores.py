"""How Numba's threads and BLAS's threads share the cores.

Numba's OpenMP threads and BLAS's threads take turns on the same cores, and both
spin when idle before they sleep, so whoever comes next can find a core taken.
On this project's 2-core machine (measured):

- GNU OpenMP's idle threads spin about 300,000 rounds: a GEMM right after a Numba
  kernel ran 10x slower. GOMP_SPINCOUNT=10000 removed that and cost small kernels
  nothing measurable. OpenMP reads it once, when it is loaded: by Numba at its
  first parallel kernel, or earlier by another library (PyTorch loads it at import:
  import kernels or fastlayers first, or set GOMP_SPINCOUNT yourself).
- OpenBLAS's idle threads (pthreads builds, as NumPy's wheels ship) spin 2^28
  cycles, about 0.1 s, after every GEMM. A Numba kernel on two threads started in
  that window waits for the spinner to be preempted: the report's linear_relu+center
  took 4.63-4.65 ms with OpenBLAS's spin, 3.23-3.32 ms with the one below
  (OPENBLAS_THREAD_TIMEOUT=28 fastlayers bench --only linear_relu+center, then
  without the variable). With
  OPENBLAS_THREAD_TIMEOUT=19 they spin 2^19 cycles (about 0.2 ms): the stall is gone,
  and a training loop's small GEMMs, a few tens of microseconds apart, still find
  their threads awake. At 2^16 cycles the threads slept between them and each GEMM
  paid for waking them: an epoch of the digits MLP at batch 64 took 4.3-5.3 ms,
  3.1-3.3 ms at 2^19, with linear_relu+center unchanged (0.97-0.99x NumPy at 16, 19
  and 20; fastlayers bench --only linear_relu+center --only "train epoch", twice
  each). OpenBLAS reads the
  variable when it starts its threads, so besides setting it for any OpenBLAS
  loaded later, the pools already running are restarted: their threads stop (as
  OpenBLAS does itself before a fork) and start again, with the short spin, at the
  next BLAS call.

Both are set when kernels is imported, each unless the user set it. The restart only
happens while the importing thread is the process's only Python thread: a pool
stopped under another thread's running GEMM deadlocked (`import kernels` beside a
thread looping over `a @ a` hung in 16 of 20 runs). With other threads about, the
running pool keeps its long spin (set OPENBLAS_THREAD_TIMEOUT=19 in the environment
before Python starts to have the short one from the beginning).

Numba's on-disk cache goes to a per-user folder (NUMBA_CACHE_DIR, unless set): kept
inside the installed package, its files outlived `pip uninstall` and the leftover
folder shadowed a later editable install.
"""

import os
import sys
import threading
from contextlib import contextmanager

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

OPENMP_SPIN_COUNT = "10000"
OPENBLAS_SPIN_LOG2_CYCLES = "19"


def _restart_openblas_pools():
    """Stop the threads of every pthreads OpenBLAS loaded so far; the next BLAS call starts them with the new timeout."""
    for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        if lib.threading_layer != "pthreads":  # an OpenMP build spins as OpenMP does: GOMP_SPINCOUNT covers it
            continue
        read_env = getattr(lib.dynlib, "openblas_read_env", None)  # dynlib: threadpoolctl's handle on the loaded library
        shutdown = getattr(lib.dynlib, "blas_thread_shutdown_", None)
        if read_env is not None and shutdown is not None:
            read_env()
            shutdown()


def share_cores_with_blas():
    """Set the spin limits above, each unless the user chose their own."""
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)
    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_SPIN_LOG2_CYCLES
        if threading.active_count() == 1:  # no other thread can be inside a BLAS call: the pools are idle
            _restart_openblas_pools()


def prefer_tbb():
    """Make Numba's TBB threading layer loadable (it is Numba's first choice when it loads).

    With one core taken by another process, OpenMP's static split of a parallel loop waits
    for the thread that got half a core: x - x.mean() of 10^6 floats took 1.5 ms against
    NumPy's 0.21 ms with a busy loop beside it. TBB's threads steal each other's chunks, and
    the same call took 0.13 ms (fastlayers bench --busy 1 --only center, with each layer).
    The pip wheel of TBB puts libtbb in <prefix>/lib, where the loader does not look, so it
    is loaded here by path before Numba starts its threads. A user's NUMBA_THREADING_LAYER
    is left alone; without TBB installed, Numba falls back to OpenMP as before. On Linux the
    kernels' tasks run on their own workers (kernels.cpu._pool), which share a busy core better
    still; the layer keeps each thread's count (numba.set_num_threads) and runs the tasks elsewhere.
    """
    if os.environ.get("NUMBA_THREADING_LAYER", "default") not in ("default", "tbb"):
        return
    import ctypes

    for folder in {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(sys.executable))}:
        path = os.path.join(folder, "lib", "libtbb.so.12")
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return


def user_cache_dir() -> str:
    """The platform's per-user cache folder for fastlayers' compiled kernels."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "fastlayers", "numba")


def cache_outside_the_package():
    """Point Numba's on-disk cache at user_cache_dir(), unless NUMBA_CACHE_DIR is set."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    os.environ["NUMBA_CACHE_DIR"] = user_cache_dir()
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # Numba already imported: it read the variable at its import
        numba_config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


@contextmanager
def limit_threads(n: int):
    """Run the block with at most n threads for Numba's kernels and for BLAS (n >= 1).

    Numba's count is per calling thread (numba.set_num_threads), so two threads of
    one process may each hold their own; BLAS's is the process's (threadpoolctl), set
    for the block and put back after it. What a Dask worker's task uses to keep its
    kernels to the worker's share of the cores (fastlayers.dask).
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"limit_threads: n must be an int >= 1, got {n!r}")
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=int(n), user_api="blas"):
            yield
    finally:
        numba.set_num_threads(previous)
