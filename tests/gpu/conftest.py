import numpy as np
import pytest


@pytest.fixture(scope="session")
def cupy():
    """CuPy with a usable GPU, or the test is skipped with the reason."""
    cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'fastlayers[gpu]')")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA GPU")
    except Exception as e:  # no driver, no device
        pytest.skip(f"no usable CUDA GPU ({type(e).__name__})")
    return cp


@pytest.fixture(autouse=True)
def poisoned_gpu_outputs(monkeypatch):
    """Every GPU kernel buffer starts as NaN: a kernel that skips an element fails its test."""
    try:
        import cupy as cp

        import kernels.gpu._alloc as alloc
    except ImportError:  # no CuPy: the cupy fixture skips the test
        return

    def poisoned_empty(shape, dtype):
        return cp.full(shape, np.nan, dtype)

    monkeypatch.setattr(alloc, "empty", poisoned_empty)
