"""The report's peers beside NumPy: PyTorch, JAX, FFTW and MKL, each where it is installed.

``pip install 'fastlayers[peers]'`` installs all four (PyTorch's CPU build, jax, pyfftw, mkl_fft).
A case says what each peer runs, ``Case.peers = {name: fn(module, *inputs) -> result}``, written
as a user of that library writes it; this module gives fn its module and inputs:

- torch: the inputs as tensors sharing NumPy's memory;
- jax: ``jax.numpy``, the function under ``jax.jit`` (compiled before timing), inputs on the CPU device;
- fftw: ``FFTWPlans``, pyFFTW builders planned with FFTW_MEASURE on all cores before timing;
- mkl: the ``mkl_fft`` module, on NumPy arrays.
Each peer's result is checked against NumPy's before it is timed, and each is timed in a pass
of its own against ours: several leave threads spinning after a call that would slow the
next contender.
"""

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np


class FFTWPlans:
    """pyFFTW's builders, one plan per input, made before timing as a pyFFTW user does: planned with
    FFTW_MEASURE (which overwrites its arrays) on an aligned copy, the input copied back afterwards."""

    def __init__(self, pyfftw):
        self._pyfftw = pyfftw
        self._plans = {}

    def rfft(self, x):
        key = (id(x), x.shape, x.dtype.str)
        if key not in self._plans:
            own = self._pyfftw.empty_aligned(x.shape, dtype=x.dtype)
            plan = self._pyfftw.builders.rfft(own, threads=os.cpu_count(), planner_effort="FFTW_MEASURE",
                                              avoid_copy=True)
            own[...] = x
            self._plans[key] = (plan, x)  # x kept alive, so that its id is not reused
        return self._plans[key][0]()


def _import(name):
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # not installed, or installed but broken: no column
        return None


@dataclass(frozen=True)
class Peer:
    name: str
    load: Callable  # () -> the module fn receives, or None
    prepare: Callable  # (module, fn, args) -> zero-argument callable returning a NumPy-comparable result


def _torch_prepare(torch, fn, args):
    inputs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    return lambda: fn(torch, *inputs)


def _jax_load():
    jax = _import("jax")
    if jax is None:
        return None
    jax.config.update("jax_platforms", "cpu")
    return jax


def _jax_prepare(jax, fn, args):
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    static = tuple(i for i in range(len(args)) if i not in arrays)  # sizes and options: part of the compiled program
    compiled = jax.jit(lambda *a: fn(jax.numpy, *a), static_argnums=static)
    inputs = [jax.device_put(a) if isinstance(a, np.ndarray) else a for a in args]

    def run():
        return jax.block_until_ready(compiled(*inputs))

    run()  # compiled here, not in the first timed call
    return run


def _fftw_load():
    pyfftw = _import("pyfftw")
    return None if pyfftw is None else FFTWPlans(pyfftw)


PEERS = {
    "torch": Peer("torch", lambda: _import("torch"), _torch_prepare),
    "jax": Peer("jax", _jax_load, _jax_prepare),
    "fftw": Peer("fftw", _fftw_load, lambda plans, fn, args: (lambda: fn(plans, *args))),
    "mkl": Peer("mkl", lambda: _import("mkl_fft"), lambda mkl_fft, fn, args: (lambda: fn(mkl_fft, *args))),
}


_DISTRIBUTIONS = {"torch": "torch", "jax": "jax", "fftw": "pyfftw", "mkl": "mkl_fft"}


def versions() -> dict:
    """{package: version} of the installed peers' packages (pyfftw for the fftw column), without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for distribution in _DISTRIBUTIONS.values():
        try:
            out[distribution] = version(distribution)
        except PackageNotFoundError:
            pass
    return out


def installed() -> dict:
    """{name: module} for the peers this environment has."""
    out = {}
    for name, peer in PEERS.items():
        module = peer.load()
        if module is not None:
            out[name] = module
    return out


def as_numpy(result):
    """A peer's result (tensor, JAX array, tuple of them) as NumPy arrays."""
    if isinstance(result, (tuple, list)):
        return tuple(as_numpy(r) for r in result)
    if hasattr(result, "detach"):
        return result.detach().numpy()
    return np.asarray(result)
