import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))  # HYPOTHESIS_PROFILE=thorough for a long hunt


@pytest.fixture(autouse=True)
def poisoned_outputs(monkeypatch):
    """Every CPU kernel output starts as NaN: a kernel that skips an element fails its test. So does the scratch that
    kernels keep between calls: the pool keeps nothing here, so every call's scratch comes from the poisoned empty()
    and a kernel that reads scratch before writing it fails (tests of the pool itself give it room)."""
    import kernels.cpu._alloc as alloc

    def poisoned_empty(shape, dtype):
        return np.full(shape, np.nan, dtype)

    monkeypatch.setattr(alloc, "empty", poisoned_empty)
    monkeypatch.setattr(alloc, "scratch", alloc.ScratchPool(max_bytes=0))


@pytest.fixture(autouse=True)
def seeded_initialization(request):
    """fastlayers' default initializations are reproducible per test, like the inputs below."""
    import fastlayers

    fastlayers.manual_seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def rng(request):
    """Fresh random inputs per test, reproducible from the test's name."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def hide_module(monkeypatch):
    """hide_module("cupy"): importing that package (or any of its modules) raises ImportError from now on."""
    import builtins

    real_import = builtins.__import__

    def hide(package):
        def fake_import(name, *args, **kwargs):
            if name == package or name.startswith(package + "."):
                raise ImportError(f"No module named '{package}'")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return hide
