"""Argument checks shared by every backend: dtypes, ranks, shapes.

Everything here runs before any kernel, so a bad call raises before any work
and never leaves a half-written result.
"""

import numpy as np


def compute_dtype(op: str, **arrays) -> np.dtype:
    """The float dtype an op computes in for these arguments.

    float32 stays float32, float64 stays float64 (mixed → float64); integers
    and bools compute in float64 as NumPy's ``mean`` does; float16 computes in
    float32. Complex or non-numeric arguments raise TypeError.
    """
    result = None
    for name, a in arrays.items():
        if a is None:
            continue
        dt = np.dtype(a.dtype)
        if dt.kind == "c":
            raise TypeError(f"{op}: {name} is complex ({dt}); {op} works on real arrays")
        if dt.kind in "biu":
            dt = np.dtype(np.float64)
        elif dt.kind == "f":
            dt = np.dtype(np.float32) if dt.itemsize <= 4 else np.dtype(np.float64)
        else:
            raise TypeError(f"{op}: {name} has dtype {dt}; expected a real numeric array")
        result = dt if result is None else np.promote_types(result, dt)
    return result


def as_arrays(xp, op: str, **arrays):
    """Turn every argument into an array of xp (lists and scalars included); None stays None."""
    out = {}
    for name, a in arrays.items():
        if a is None:
            out[name] = None
            continue
        if isinstance(a, np.ma.MaskedArray):
            raise TypeError(
                f"{op}: {name} is a masked array, whose mask the kernels would ignore; "
                f"pass {name}.filled(value) (or {name}.data) for the values you mean"
            )
        try:
            out[name] = xp.asarray(a)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{op}: {name} could not be read as an array ({e})") from None
    return out


def cast_contiguous(xp, dtype, *arrays):
    """C-contiguous copies in ``dtype`` where needed; inputs are never written."""
    # asarray(order="C"), not ascontiguousarray: that one turns 0-d arrays into 1-d.
    return tuple(None if a is None else xp.asarray(a, dtype=dtype, order="C") for a in arrays)


def check_ndim(op: str, name: str, a, allowed, what: str):
    if a.ndim not in allowed:
        raise ValueError(f"{op}: {name} must be {what}, got shape {tuple(a.shape)} ({a.ndim}-D)")


def check_same_shape(op: str, name_a: str, a, name_b: str, b):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{op}: {name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; "
            "they must match"
        )


def normalize_axes(op: str, axis, ndim: int) -> tuple:
    """``axis`` (None, an int or a tuple of ints) as a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, quickly
        return (axis % ndim,)
    if not isinstance(axis, (int, np.integer, tuple, list)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or isinstance(ax, bool):
            raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= ax < ndim:
            raise ValueError(f"{op}: axis {ax} is out of range for an array of {ndim} dimensions")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))
