"""kernels' spin limits for OpenMP and OpenBLAS: set unless the user chose, and BLAS still right after."""

import importlib
import importlib.metadata
import os
import subprocess
import sys
import textwrap

import pytest

_cores = importlib.import_module("kernels._cores")


class _FakeDynlib:
    def __init__(self, calls, filepath, exports):
        for name in exports:
            setattr(self, name, lambda name=name: calls.append((filepath, name)))


class _FakeLib:
    def __init__(self, threading_layer, filepath, exports, calls):
        self.threading_layer, self.dynlib = threading_layer, _FakeDynlib(calls, filepath, exports)


@pytest.fixture
def fake_blas(monkeypatch):
    """Three loaded OpenBLAS builds: pthreads, OpenMP, and pthreads without the restart entry points."""
    calls = []
    both = ("openblas_read_env", "blas_thread_shutdown_")
    libs = [_FakeLib("pthreads", "a.so", both, calls), _FakeLib("openmp", "b.so", both, calls),
            _FakeLib("pthreads", "c.so", ("openblas_read_env",), calls)]

    class Controller:
        def select(self, internal_api):
            assert internal_api == "openblas"
            return type("Selection", (), {"lib_controllers": libs})()

    monkeypatch.setattr(_cores, "ThreadpoolController", Controller)
    return calls


def test_openblas_pools_restart_with_the_short_spin(fake_blas, monkeypatch):
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    _cores.share_cores_with_blas()
    assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == _cores.OPENBLAS_SPIN_LOG2_CYCLES
    # the environment is re-read before the threads stop, so they restart with it; only pthreads builds
    assert fake_blas == [("a.so", "openblas_read_env"), ("a.so", "blas_thread_shutdown_")]


def test_the_users_settings_stand(fake_blas, monkeypatch):
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "28")
    monkeypatch.setenv("GOMP_SPINCOUNT", "300000")
    _cores.share_cores_with_blas()
    assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == "28" and os.environ["GOMP_SPINCOUNT"] == "300000"
    assert fake_blas == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the thread list in /proc")
def test_blas_after_the_restart():
    """In a fresh process with NumPy's BLAS already running: its worker threads are replaced, and it is still right and threaded."""
    script = textwrap.dedent("""
        import os
        os.environ.pop("OPENBLAS_THREAD_TIMEOUT", None)
        import numpy as np
        from threadpoolctl import threadpool_info
        rng = np.random.default_rng(7)
        a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 250))
        exact = np.einsum("ik,kj->ij", a, b)  # no BLAS
        assert np.abs(a @ b - exact).max() < 1e-10
        threads = [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"]
        if not threads:
            raise SystemExit("no OpenBLAS")
        before = set(os.listdir("/proc/self/task"))  # this thread and BLAS's workers
        import kernels
        assert len(before - set(os.listdir("/proc/self/task"))) == max(threads) - 1  # the workers stopped
        assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == kernels._cores.OPENBLAS_SPIN_LOG2_CYCLES
        for _ in range(3):
            assert np.abs(a @ b - exact).max() < 1e-10
        assert [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"] == threads
        print("ok", threads)
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300)
    if "no OpenBLAS" in done.stderr:
        pytest.skip("NumPy's BLAS here is not OpenBLAS")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_import_beside_a_thread_inside_numpys_matrix_product_does_not_deadlock():
    """Issue "Nothing a user does breaks it", item 4: the pool is never restarted under another thread."""
    code = (
        "import threading, numpy as np\n"
        "a = np.random.rand(800, 800)\n"
        "threading.Thread(target=lambda: [a @ a for _ in iter(int, 1)], daemon=True).start()\n"
        "import kernels, os\n"
        "print(os.environ['OPENBLAS_THREAD_TIMEOUT'], flush=True)\n"
        # Leave without finalizing: a process that exits while a daemon thread is inside OpenBLAS can hang in
        # OpenBLAS's own shutdown, kernels imported or not (seen here with only the variable set).
        "os._exit(0)\n"
    )
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"})
        assert out.returncode == 0 and out.stdout.strip() == _cores.OPENBLAS_SPIN_LOG2_CYCLES, out.stderr


def test_numbas_cache_lives_in_a_per_user_folder_not_in_the_package(tmp_path):
    """Issue "Nothing a user does breaks it", item 1: cache files in the package outlived pip uninstall."""
    code = "import kernels, numpy as np, os\nkernels.relu(np.ones(3))\nprint(os.environ['NUMBA_CACHE_DIR'])\n"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    package = os.path.dirname(__import__("kernels").__file__)

    def cache_files_in_package():
        return {os.path.join(d, f) for d, _, files in os.walk(package) for f in files if f.endswith((".nbi", ".nbc"))}

    before = cache_files_in_package()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, check=True)
    cache = out.stdout.strip()
    assert cache == str(tmp_path / "fastlayers" / "numba")
    assert any(name.endswith((".nbi", ".nbc")) for _, _, files in os.walk(cache) for name in files)
    assert cache_files_in_package() <= before  # nothing new inside the installed package


@pytest.mark.parametrize("asked, expected", [(None, "tbb"), ("omp", "omp")])
def test_numba_runs_on_tbb_when_it_is_installed_unless_the_user_chose(asked, expected):
    """Issue "Speed that holds": TBB's work stealing keeps a parallel kernel fast beside a busy core."""
    try:
        importlib.metadata.version("tbb")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("TBB is not installed (a dependency on x86-64 only)")
    code = "import kernels, numpy as np, numba\nkernels.center(np.ones(1 << 20, np.float32))\nprint(numba.threading_layer())"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if asked:
        env["NUMBA_THREADING_LAYER"] = asked
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0 and out.stdout.strip() == expected, out.stderr
