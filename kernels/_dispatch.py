"""The one place that maps arguments to the backend that computes on them.

NumPy arrays (and anything NumPy can turn into one) run the Numba kernels in
``kernels.cpu``; CuPy arrays run the CuPy kernels in ``kernels.gpu``. Both get
their arrays C-contiguous and in one float dtype.
"""

import functools

import numpy as np

from ._validate import as_arrays, cast_contiguous, compute_dtype

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# What every backend module provides (besides `xp`, its array module), called by kernels.api
# with validated, C-contiguous arrays of one float dtype.
BACKEND_OPS = ("linear", "linear_backward", "relu", "relu_backward", "center", "center_backward",
               "tensor_reduction", "tensor_reduction_backward", "fft_half", "fft_half_backward",
               "cross_entropy", "cross_entropy_backward", "first_bad_label", "mse_loss", "mse_loss_backward",
               "adam_update")
_backends = {}


class Deferred(Exception):
    """Raised by backend_for, before any work, for an argument whose type takes kernels' calls over."""

    def __init__(self, override):
        super().__init__("an argument's type takes this call over")
        self.override = override


def overridable(func):
    """Let another array type take over a call of func, as NEP 18's __array_function__ does for NumPy's.

    An argument whose type defines ``__kernels_function__(func, args, kwargs)``
    (fastlayers' tracked arrays and Parameters, which record the call with its
    gradient) gets the call instead: backend_for finds it while checking the
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


def _backend(name):
    module = _backends.get(name)
    if module is None:  # imported at first use: `import kernels` stays free of Numba and CuPy
        if name == "gpu":
            from . import gpu as module
        else:
            from . import cpu as module
        _backends[name] = module
    return module


def _is_cupy(a) -> bool:
    return type(a).__module__.split(".", 1)[0] == "cupy"


def backend_for(op: str, *arrays):
    """The backend module for these arguments (``None`` entries are ignored).

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
    return _backend("gpu" if on_gpu and on_gpu[0] else "cpu")


def _ready_for_cpu(arrays) -> bool:
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
    return dtype in _FLOAT_DTYPES


def cpu_backend_if_ready(*arrays):
    """The CPU backend when these arrays need no conversion for it, else None.

    For callers that already hold arrays a kernel has checked, such as fastlayers'
    tape calling the gradient kernels on the arrays of a recorded forward: they
    may skip kernels.api's checks, but must still match the shapes themselves.
    """
    return _backend("cpu") if _ready_for_cpu(arrays) else None


def prepare(op: str, names: tuple, arrays: tuple):
    """(backend, arrays in their common float dtype, C-contiguous, on the backend's device type).

    The common case — NumPy arrays already fit — costs a few attribute reads.
    """
    if _ready_for_cpu(arrays):
        return _backend("cpu"), arrays
    backend = backend_for(op, *arrays)
    named = as_arrays(backend.xp, op, **dict(zip(names, arrays)))
    dtype = compute_dtype(op, **named)
    return backend, cast_contiguous(backend.xp, dtype, *named.values())
