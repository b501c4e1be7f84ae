"""How center sees an array: the reduced axes made adjacent, as (outer, red, inner).

Shared by the CPU and GPU backends, so both reduce exactly the same elements.
"""

import math


def center_layout(shape: tuple, axes: tuple):
    """(perm, outer, red, inner) for x - x.mean(axes).

    perm is None when the reduced axes are already adjacent: x.reshape(outer, red, inner)
    is the view. Otherwise x.transpose(perm) puts them last (inner == 1), and the
    result is transposed back with the inverse permutation.
    """
    if not axes or axes[-1] - axes[0] == len(axes) - 1:
        first, last = (axes[0], axes[-1] + 1) if axes else (len(shape), len(shape))
        return None, math.prod(shape[:first]), math.prod(shape[first:last]), math.prod(shape[last:])
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    red = math.prod(shape[a] for a in axes)
    return kept + axes, math.prod(shape) // red, red, 1


def inverse(perm: tuple) -> tuple:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def center_by_layout(xp, x, axes, out, center3, empty):
    """out = x centered over axes, by center3(x3, out3) on the (outer, red, inner) view.

    xp: the array module (NumPy or CuPy); empty(shape, dtype): where scratch comes from.
    """
    perm, outer, red, inner = center_layout(x.shape, axes)
    if perm is None:
        center3(x.reshape(outer, red, inner), out.reshape(outer, red, inner))
        return out
    # Reduced axes apart from each other: gather them at the end, center, put them back.
    moved = xp.ascontiguousarray(x.transpose(perm))
    centered = empty(moved.shape, x.dtype)
    center3(moved.reshape(outer, red, 1), centered.reshape(outer, red, 1))
    out[...] = centered.transpose(inverse(perm))
    return out
