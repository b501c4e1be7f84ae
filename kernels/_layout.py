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
