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
