"""The one place that maps arguments to the device that computes on them.

NumPy arrays (and anything NumPy can turn into one) run on the CPU, each op's Numba
kernels in ``kernels/<op>/cpu.py``; CuPy arrays on the GPU, ``kernels/<op>/gpu.py``.
Both get their arrays C-contiguous and in one float dtype.
"""

import functools
import importlib

import numpy as np

from ._validate import as_arrays, cast_contiguous, compute_dtype

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Deferred(Exception):
    """Raised by device_for, before any work, for an argument whose type takes kernels' calls over."""

    def __init__(self, override):
        super().__init__("an argument's type takes this call over")
        self.override = override


def overridable(func):
    """Let another array type take over a call of func, as NEP 18's __array_function__ does for NumPy's.

    An argument whose type defines ``__kernels_function__(func, args, kwargs)``
    (fastlayers' tracked arrays and Parameters, which record the call with its
    gradient) gets the call instead: device_for finds it while checking the
    arguments and raises Deferred, caught here. A try costs nothing when nothing
    is raised, so NumPy arguments pay one function call (65 ns, measured; a loop
    over the arguments in here cost 140 ns).
    """

    @functools.wraps(func)
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Deferred as d:
            return d.override(call, args, kwargs)

    return call


class Backends:
    """An op's two implementations, ``<package>.cpu`` and ``<package>.gpu``, each imported at first use:
    ``import kernels`` stays free of Numba and CuPy."""

    def __init__(self, package: str):
        self.package = package
        self.modules = {}

    def __getitem__(self, device: str):
        module = self.modules.get(device)
        if module is None:
            module = self.modules[device] = importlib.import_module(f"{self.package}.{device}")
        return module


def _is_cupy(a) -> bool:
    return type(a).__module__.split(".", 1)[0] == "cupy"


def xp_for(device: str):
    """The array module of a device: numpy for "cpu", cupy for "gpu"."""
    if device == "cpu":
        return np
    import cupy

    return cupy


def device_for(op: str, *arrays) -> str:
    """"cpu" or "gpu" for these arguments (``None`` entries are ignored).

    Raises TypeError when NumPy and CuPy arrays are mixed: a kernel never
    copies between host and device behind the caller's back.
    """
    present = [a for a in arrays if a is not None]
    for a in present:
        override = getattr(type(a), "__kernels_function__", None) if type(a) is not np.ndarray else None
        if override is not None:
            raise Deferred(override)
    on_gpu = [_is_cupy(a) for a in present]
    if any(on_gpu) and not all(on_gpu):
        kinds = ", ".join("cupy" if g else type(a).__name__ for a, g in zip(present, on_gpu))
        raise TypeError(
            f"{op}: got arrays on different devices ({kinds}); "
            "move them all to the host (NumPy) or all to the GPU (CuPy) first"
        )
    return "gpu" if on_gpu and on_gpu[0] else "cpu"


def ready_for_cpu(arrays) -> bool:
    """Whether every array is a C-contiguous NumPy array of one dtype, float32 or float64."""
    dtype = None
    for a in arrays:
        if a is None:
            continue
        if type(a) is not np.ndarray or not a.flags.c_contiguous:
            return False
        if dtype is None:
            dtype = a.dtype
        elif a.dtype != dtype:
            return False
    return dtype in FLOAT_DTYPES


def _check_present(op, names, arrays, optional):
    for name, a in zip(names, arrays):
        if a is None and name not in optional:
            raise TypeError(f"{op}: {name} is None; expected an array")


def prepare(op: str, names: tuple, arrays: tuple, check=None, optional=()):
    """(device, arrays in their common float dtype, C-contiguous, of the device's kind).

    check(*arrays), the op's shape checks, runs on the arrays as given (lists read as
    arrays), before any conversion: a mismatched 400 MB Fortran-order input raises at
    once rather than after its copy, and a broadcast (stride-0) view is never
    materialized for an error. Only the names in optional may be None. The common
    case — NumPy arrays already fit — costs a few attribute reads.
    """
    for a in arrays:
        if a is None:
            _check_present(op, names, arrays, optional)
            break
    if ready_for_cpu(arrays):
        if check is not None:
            check(*arrays)
        return "cpu", arrays
    device = device_for(op, *arrays)
    xp = xp_for(device)
    named = as_arrays(xp, op, **dict(zip(names, arrays)))
    dtype = compute_dtype(op, **named)
    if check is not None:
        check(*named.values())
    return device, cast_contiguous(xp, dtype, *named.values())
