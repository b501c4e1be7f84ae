"""The one place that maps an array type to the backend that computes on it.

NumPy arrays (and anything NumPy can turn into one) run the Numba kernels in
``kernels.cpu``; CuPy arrays run the CuPy kernels in ``kernels.gpu``.
"""


def _is_cupy(a) -> bool:
    return type(a).__module__.split(".", 1)[0] == "cupy"


def backend_for(op: str, *arrays):
    """The backend module for these arguments (``None`` entries are ignored).

    Raises TypeError when NumPy and CuPy arrays are mixed: a kernel never
    copies between host and device behind the caller's back.
    """
    present = [a for a in arrays if a is not None]
    on_gpu = [_is_cupy(a) for a in present]
    if any(on_gpu) and not all(on_gpu):
        kinds = ", ".join("cupy" if g else type(a).__name__ for a, g in zip(present, on_gpu))
        raise TypeError(
            f"{op}: got arrays on different devices ({kinds}); "
            "move them all to the host (NumPy) or all to the GPU (CuPy) first"
        )
    if on_gpu and on_gpu[0]:
        from . import gpu

        return gpu
    from . import cpu

    return cpu
