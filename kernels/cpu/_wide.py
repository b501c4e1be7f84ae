"""64-byte vectors (one AVX-512 register: 16 float32 or 8 float64) for the GEMM's micro-kernel.

_simd's vectors are 32 bytes (8 lanes of either dtype), the width its FFT tiles are
written for; a GEMM wants the widest register: with 24 accumulators of 64 bytes a tile
of C keeps both of AVX-512's FMA pipes busy (kernels.cpu._gemm).

    v = load(arr, (i, j))             # arr[i, j : j + lanes(arr.dtype)]
    store(arr, (i, j), v)
    acc = mul_add(splat(s), v, acc)   # s * v + acc, one FMA
    splat_at(arr, (i,))               # splat(arr[i]), the element read without a wraparound check
    at_least(v, floor)                # floor where v < floor, lane by lane (floor = splat(zero): the ReLU); NaN stays NaN

On a CPU without AVX-512 LLVM splits each vector in two, and 48 accumulators no longer
fit in the registers: kernels.cpu._gemm.available() says when these are worth using.
Indices are not checked: callers keep them in bounds.
"""

from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic, models, register_model

from ._simd import _FAST, _broadcast, _element_pointer, _load, _store

BYTES = 64


def lanes(dtype) -> int:
    """How many elements of dtype one vector holds."""
    return BYTES // dtype.itemsize


class Wide(types.Type):
    """BYTES bytes of one float dtype, held in one register."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = BYTES // (dtype.bitwidth // 8)
        super().__init__(name=f"Wide({dtype} x {self.lanes})")


@register_model(Wide)
class _WideModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes))


def _check_indexing(arr, index, what):
    if not (isinstance(arr, types.Array) and isinstance(arr.dtype, types.Float)):
        raise TypingError(f"{what}: expected an array of floats, got {arr}")
    if not (isinstance(index, types.BaseTuple) and len(index) == arr.ndim
            and all(isinstance(i, types.Integer) for i in index)):
        raise TypingError(f"{what}: expected a tuple of {arr.ndim} integers as the index, got {index}")


def _pointer(context, builder, sig, args):
    """A pointer to arr[index] for args (arr, index, ...)."""
    index = [context.cast(builder, builder.extract_value(args[1], i), ty, types.intp)
             for i, ty in enumerate(sig.args[1])]
    return _element_pointer(context, builder, sig.args[0], args[0], index)


@intrinsic
def load(typingctx, arr, index):
    """arr[index] and the lanes after it along the last axis, as one vector."""
    _check_indexing(arr, index, "load")
    vt = Wide(arr.dtype)

    def codegen(context, builder, sig, args):
        return _load(builder, _pointer(context, builder, sig, args), context.get_value_type(vt))

    return vt(arr, index), codegen


@intrinsic
def store(typingctx, arr, index, value):
    """arr[index] and the lanes after it along the last axis = value."""
    _check_indexing(arr, index, "store")
    if not (isinstance(value, Wide) and value.dtype == arr.dtype):
        raise TypingError(f"store: expected a Wide vector of {arr.dtype}, got {value}")

    def codegen(context, builder, sig, args):
        _store(builder, args[2], _pointer(context, builder, sig, args))
        return context.get_dummy_value()

    return types.none(arr, index, value), codegen


@intrinsic
def splat(typingctx, x):
    """A vector with x in every lane."""
    if not isinstance(x, types.Float):
        raise TypingError(f"splat: expected a float, got {x}")
    vt = Wide(x)

    def codegen(context, builder, sig, args):
        return _broadcast(builder, context.get_value_type(vt), args[0])

    return vt(x), codegen


@intrinsic
def splat_at(typingctx, arr, index):
    """A vector with arr[index] in every lane: one broadcast from memory, no check of a negative index."""
    _check_indexing(arr, index, "splat_at")
    vt = Wide(arr.dtype)

    def codegen(context, builder, sig, args):
        return _broadcast(builder, context.get_value_type(vt), builder.load(_pointer(context, builder, sig, args)))

    return vt(arr, index), codegen


@intrinsic
def mul_add(typingctx, a, b, c):
    """a * b + c, lane by lane; LLVM fuses it into one FMA."""
    if not (isinstance(a, Wide) and a == b == c):
        raise TypingError(f"mul_add: expected three Wide vectors of one dtype, got {a}, {b}, {c}")

    def codegen(context, builder, sig, args):
        return builder.fadd(builder.fmul(args[0], args[1], flags=_FAST), args[2], flags=_FAST)

    return c(a, b, c), codegen


@intrinsic
def at_least(typingctx, a, floor):
    """floor where a < floor, else a, lane by lane: max(a, 0) with floor 0, a itself with floor -inf; a NaN
    lane fails a < floor and stays NaN."""
    if not (isinstance(a, Wide) and a == floor):
        raise TypingError(f"at_least: expected two Wide vectors of one dtype, got {a}, {floor}")

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered("<", args[0], args[1]), args[1], args[0])

    return a(a, floor), codegen
