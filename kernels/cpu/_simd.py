"""Vectors of LANES floats for Numba kernels, written as LLVM vector IR.

LLVM's loop vectorizer needs loops of unknown length and proof that arrays do not
overlap; an FFT stage over 8 rows is a loop of exactly 8 that it fully unrolls and
then leaves scalar (measured: scalar code, 4-8x slower than these vectors). With
this type a kernel says what it means:

    a = load(src, i)                  # src[i : i + LANES] as one vector
    re, im = load_pairs(src, i)       # src[i : i + 2 LANES] as (even, odd) vectors; store_pairs: back
    store(dst, j, a * w + b)          # w, b vectors, or scalars of the same dtype

`+ - * /`, unary `-` and `sqrt` work on vectors and on a vector with a scalar of its dtype (a
float64 scalar meeting float32 vectors is a typing error, not a silent upcast).
Multiplies and adds may fuse into FMAs ("contract"); nothing else is reassociated.

Tiles move an 8 x 8 block between 8 rows of a 2-D array and the transposed,
split layout of the FFT (element (k, row) at LANES * k + row), with shuffles:
- load_tile_pairs(x, col, zr, zi, k): zr/zi[LANES (k + j) + t] = x[t, col + 2j (+1)]
- load_tile(x, col, zr, k):           zr[LANES (k + j) + t] = x[t, col + j]
- store_tile_pairs(zr, zi, k, y, col) and store_tile(zr, k, y, col): the inverses.
Indices are not checked: callers keep them in bounds.

Numba's on-disk cache keys a function on its own file only: after editing this
module, empty Numba's cache folder (NUMBA_CACHE_DIR: kernels._cores.user_cache_dir()
unless you set it), or the kernels built on it keep their old compiled code.
"""

import operator

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, models, overload, register_model

LANES = 8
_FAST = ("contract",)  # let mul + add become an FMA; no other reassociation


class Vector(types.Type):
    """LANES floats of one dtype, held in registers."""

    def __init__(self, dtype):
        self.dtype = dtype
        super().__init__(name=f"Vector({dtype} x {LANES})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), LANES))


def _element_pointer(context, builder, arrty, arr, indices):
    ary = context.make_array(arrty)(context, builder, arr)
    return cgutils.get_item_pointer(context, builder, arrty, ary, indices, wraparound=False)


def _vector_pointer(builder, pointer, vector_type):
    return builder.bitcast(pointer, vector_type.as_pointer())


def _load(builder, pointer, vector_type):
    return builder.load(_vector_pointer(builder, pointer, vector_type), align=1)


def _store(builder, value, pointer):
    builder.store(value, _vector_pointer(builder, pointer, value.type), align=1)


def _shuffle(builder, a, b, mask):
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), len(mask)), mask))


def _broadcast(builder, vector_type, value):
    """A vector of vector_type with value in every lane."""
    one = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    return _shuffle(builder, one, ir.Constant(vector_type, ir.Undefined), [0] * vector_type.count)


def _transpose(builder, rows):
    """8 vectors rows[t][j] → 8 vectors out[j][t]: unpack, shuffle, swap 128-bit halves."""
    lo, hi = [0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]
    low_pairs, high_pairs = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
    low_halves, high_halves = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
    t = []
    for i in range(0, 8, 2):
        t += [_shuffle(builder, rows[i], rows[i + 1], lo), _shuffle(builder, rows[i], rows[i + 1], hi)]
    tt = []
    for a, b in ((0, 2), (1, 3), (4, 6), (5, 7)):
        tt += [_shuffle(builder, t[a], t[b], low_pairs), _shuffle(builder, t[a], t[b], high_pairs)]
    return [_shuffle(builder, tt[i], tt[i + 4], low_halves) for i in range(4)] + [
        _shuffle(builder, tt[i], tt[i + 4], high_halves) for i in range(4)
    ]


assert LANES == 8, "the tiles' transpose is written for 8 lanes"
_EVEN, _ODD = list(range(0, 16, 2)), list(range(1, 16, 2))
_FIRST, _SECOND = [0, 8, 1, 9, 2, 10, 3, 11], [4, 12, 5, 13, 6, 14, 7, 15]


def _vector_type(context, arrty):
    return ir.VectorType(context.get_value_type(arrty.dtype), LANES)


def _check_float_array(arr, what):
    if not (isinstance(arr, types.Array) and isinstance(arr.dtype, types.Float)):
        raise TypingError(f"{what}: expected an array of floats, got {arr}")


# --- loads, stores, splats ---


@intrinsic
def load(typingctx, arr, index):
    """arr[index : index + LANES] as a Vector."""
    _check_float_array(arr, "load")
    vt = Vector(arr.dtype)

    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], [args[1]])
        return _load(builder, pointer, context.get_value_type(vt))

    return vt(arr, index), codegen


@intrinsic
def store(typingctx, arr, index, value):
    """arr[index : index + LANES] = value."""
    _check_float_array(arr, "store")
    if not (isinstance(value, Vector) and value.dtype == arr.dtype):
        raise TypingError(f"store: expected a Vector of {arr.dtype}, got {value}")

    def codegen(context, builder, sig, args):
        _store(builder, args[2], _element_pointer(context, builder, sig.args[0], args[0], [args[1]]))
        return context.get_dummy_value()

    return types.none(arr, index, value), codegen


@intrinsic
def splat(typingctx, x):
    """A Vector with x in every lane."""
    if not isinstance(x, types.Float):
        raise TypingError(f"splat: expected a float, got {x}")
    vt = Vector(x)

    def codegen(context, builder, sig, args):
        return _broadcast(builder, context.get_value_type(vt), args[0])

    return vt(x), codegen


@intrinsic
def load_pairs(typingctx, arr, index):
    """(arr[index : index + 2 LANES : 2], arr[index + 1 : index + 2 LANES : 2]): interleaved (re, im) pairs split."""
    _check_float_array(arr, "load_pairs")
    vt = Vector(arr.dtype)

    def codegen(context, builder, sig, args):
        ll = context.get_value_type(vt)
        at = sig.args[0]
        first = _load(builder, _element_pointer(context, builder, at, args[0], [args[1]]), ll)
        later = builder.add(args[1], ir.Constant(args[1].type, LANES))
        second = _load(builder, _element_pointer(context, builder, at, args[0], [later]), ll)
        pair = (_shuffle(builder, first, second, _EVEN), _shuffle(builder, first, second, _ODD))
        return context.make_tuple(builder, sig.return_type, pair)

    return types.UniTuple(vt, 2)(arr, index), codegen


@intrinsic
def store_pairs(typingctx, arr, index, re, im):
    """arr[index : index + 2 LANES : 2] = re, arr[index + 1 : index + 2 LANES : 2] = im."""
    _check_float_array(arr, "store_pairs")
    if not (isinstance(re, Vector) and re == im and re.dtype == arr.dtype):
        raise TypingError(f"store_pairs: expected two Vectors of {arr.dtype}, got {re} and {im}")

    def codegen(context, builder, sig, args):
        at = sig.args[0]
        arr_, index, re_, im_ = args
        later = builder.add(index, ir.Constant(index.type, LANES))
        _store(builder, _shuffle(builder, re_, im_, _FIRST), _element_pointer(context, builder, at, arr_, [index]))
        _store(builder, _shuffle(builder, re_, im_, _SECOND), _element_pointer(context, builder, at, arr_, [later]))
        return context.get_dummy_value()

    return types.none(arr, index, re, im), codegen


@intrinsic
def reverse(typingctx, a):
    """The lanes of a in reverse order."""
    if not isinstance(a, Vector):
        raise TypingError(f"reverse: expected a Vector, got {a}")

    def codegen(context, builder, sig, args):
        return _shuffle(builder, args[0], args[0], list(range(LANES - 1, -1, -1)))

    return a(a), codegen


def _two_vector_shuffle(name, mask, doc):
    """An intrinsic name(a, b): the lanes of a (0 .. LANES - 1) and b (LANES ..) that mask picks."""

    def typer(typingctx, a, b):
        if not isinstance(a, Vector) or a != b:
            raise TypingError(f"{name}: expected two Vectors of one dtype, got {a} and {b}")

        def codegen(context, builder, sig, args):
            return _shuffle(builder, args[0], args[1], mask)

        return a(a, b), codegen

    typer.__name__, typer.__doc__ = name, doc
    return intrinsic(typer)


# Lane pairs (2u, 2u + 1), for a block whose lanes hold two halves of LANES / 2 rows (fft_half's split blocks).
blend = _two_vector_shuffle("blend", [t + LANES * (t % 2) for t in range(LANES)],
                            "The even lanes of a and the odd lanes of b: (a0, b1, a2, b3, ...).")
evens = _two_vector_shuffle("evens", [t // 2 * 2 + LANES * (t % 2) for t in range(LANES)],
                            "Each pair's even lane of a, then of b: (a0, b0, a2, b2, ...).")
odds = _two_vector_shuffle("odds", [t // 2 * 2 + 1 + LANES * (t % 2) for t in range(LANES)],
                           "Each pair's odd lane of a, then of b: (a1, b1, a3, b3, ...).")


@intrinsic
def swap_pairs(typingctx, a):
    """The lanes of a with each pair swapped: (a1, a0, a3, a2, ...)."""
    if not isinstance(a, Vector):
        raise TypingError(f"swap_pairs: expected a Vector, got {a}")

    def codegen(context, builder, sig, args):
        return _shuffle(builder, args[0], args[0], [t ^ 1 for t in range(LANES)])

    return a(a), codegen


# --- arithmetic ---


def _binary(instruction):
    @intrinsic
    def op(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return getattr(builder, instruction)(args[0], args[1], flags=_FAST)

        return a(a, b), codegen

    return op


_add, _sub, _mul, _div = _binary("fadd"), _binary("fsub"), _binary("fmul"), _binary("fdiv")


def _register(python_op, vector_op):
    @overload(python_op)
    def implementation(a, b):
        if isinstance(a, Vector) and isinstance(b, Vector):
            if a.dtype != b.dtype:
                raise TypingError(f"vectors of {a.dtype} and {b.dtype} mixed")
            return lambda a, b: vector_op(a, b)
        if isinstance(a, Vector) and isinstance(b, types.Float):
            if b != a.dtype:
                raise TypingError(f"a {b} scalar with vectors of {a.dtype}: convert it first")
            return lambda a, b: vector_op(a, splat(b))
        if isinstance(a, types.Float) and isinstance(b, Vector):
            if a != b.dtype:
                raise TypingError(f"a {a} scalar with vectors of {b.dtype}: convert it first")
            return lambda a, b: vector_op(splat(a), b)


_register(operator.add, _add)
_register(operator.sub, _sub)
_register(operator.mul, _mul)
_register(operator.truediv, _div)


@intrinsic
def sqrt(typingctx, a):
    """The square root of each lane (LLVM's llvm.sqrt: vsqrtps)."""
    if not isinstance(a, Vector):
        raise TypingError(f"sqrt: expected a Vector, got {a}")

    def codegen(context, builder, sig, args):
        vector = args[0].type
        element = "f32" if vector.element == ir.FloatType() else "f64"
        name = f"llvm.sqrt.v{vector.count}{element}"  # llvmlite names no vector intrinsic itself
        function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector]), name)
        return builder.call(function, [args[0]])

    return a(a), codegen


@intrinsic
def _negate(typingctx, a):
    def codegen(context, builder, sig, args):
        return builder.fneg(args[0])

    return a(a), codegen


@overload(operator.neg)
def _negate_overload(a):
    if isinstance(a, Vector):
        return lambda a: _negate(a)


# --- 8 x 8 tiles between rows and the transposed block ---


def _row_vectors(context, builder, arrty, arr, col, vt, step=0):
    """Vectors x[t, col + step : col + step + LANES] for t < 8."""
    return [
        _load(builder, _element_pointer(context, builder, arrty, arr,
                                        [ir.Constant(ir.IntType(64), t), builder.add(col, ir.Constant(col.type, step))]), vt)
        for t in range(LANES)
    ]


def _store_rows(context, builder, arrty, arr, col, vectors, step=0):
    """x[t, col + step : col + step + LANES] = vectors[t] for t < 8."""
    for t, v in enumerate(vectors):
        column = builder.add(col, ir.Constant(col.type, step))
        _store(builder, v, _element_pointer(context, builder, arrty, arr, [ir.Constant(ir.IntType(64), t), column]))


def _store_block(context, builder, blockty, block, k, vectors):
    """block[LANES (k + j) : LANES (k + j + 1)] = vectors[j]."""
    base = builder.mul(k, ir.Constant(k.type, LANES))
    for j, v in enumerate(vectors):
        _store(builder, v, _element_pointer(context, builder, blockty, block, [builder.add(base, ir.Constant(k.type, LANES * j))]))


def _load_block(context, builder, blockty, block, k, vt):
    base = builder.mul(k, ir.Constant(k.type, LANES))
    return [_load(builder, _element_pointer(context, builder, blockty, block, [builder.add(base, ir.Constant(k.type, LANES * j))]), vt)
            for j in range(LANES)]


def _check_tile(x, block):
    _check_float_array(x, "tile rows")
    _check_float_array(block, "tile block")
    if x.ndim != 2 or block.ndim != 1 or x.dtype != block.dtype:
        raise TypingError(f"tiles move between a 2-D array and a 1-D block of one dtype, got {x} and {block}")


@intrinsic
def load_tile_pairs(typingctx, x, col, zr, zi, k):
    """zr[LANES (k + j) + t] = x[t, col + 2j], zi[...] = x[t, col + 2j + 1]; t, j < 8."""
    _check_tile(x, zr)

    def codegen(context, builder, sig, args):
        xt, _, zt, _, _ = sig.args
        x_, col, zr_, zi_, k = args
        vt = _vector_type(context, xt)
        first = _row_vectors(context, builder, xt, x_, col, vt)
        second = _row_vectors(context, builder, xt, x_, col, vt, LANES)
        re = [_shuffle(builder, a, b, _EVEN) for a, b in zip(first, second)]
        im = [_shuffle(builder, a, b, _ODD) for a, b in zip(first, second)]
        _store_block(context, builder, zt, zr_, k, _transpose(builder, re))
        _store_block(context, builder, zt, zi_, k, _transpose(builder, im))
        return context.get_dummy_value()

    return types.none(x, col, zr, zi, k), codegen


@intrinsic
def load_tile(typingctx, x, col, zr, k):
    """zr[LANES (k + j) + t] = x[t, col + j]; t, j < 8."""
    _check_tile(x, zr)

    def codegen(context, builder, sig, args):
        xt, _, zt, _ = sig.args
        x_, col, zr_, k = args
        rows = _row_vectors(context, builder, xt, x_, col, _vector_type(context, xt))
        _store_block(context, builder, zt, zr_, k, _transpose(builder, rows))
        return context.get_dummy_value()

    return types.none(x, col, zr, k), codegen


@intrinsic
def store_tile_pairs(typingctx, zr, zi, k, y, col):
    """y[t, col + 2j] = zr[LANES (k + j) + t], y[t, col + 2j + 1] = zi[...]; t, j < 8."""
    _check_tile(y, zr)

    def codegen(context, builder, sig, args):
        zt, _, _, yt, _ = sig.args
        zr_, zi_, k, y_, col = args
        vt = _vector_type(context, yt)
        re = _transpose(builder, _load_block(context, builder, zt, zr_, k, vt))
        im = _transpose(builder, _load_block(context, builder, zt, zi_, k, vt))
        first = [_shuffle(builder, a, b, _FIRST) for a, b in zip(re, im)]
        second = [_shuffle(builder, a, b, _SECOND) for a, b in zip(re, im)]
        _store_rows(context, builder, yt, y_, col, first)
        _store_rows(context, builder, yt, y_, col, second, LANES)
        return context.get_dummy_value()

    return types.none(zr, zi, k, y, col), codegen


@intrinsic
def store_tile(typingctx, zr, k, y, col):
    """y[t, col + j] = zr[LANES (k + j) + t]; t, j < 8."""
    _check_tile(y, zr)

    def codegen(context, builder, sig, args):
        zt, _, yt, _ = sig.args
        zr_, k, y_, col = args
        rows = _transpose(builder, _load_block(context, builder, zt, zr_, k, _vector_type(context, yt)))
        _store_rows(context, builder, yt, y_, col, rows)
        return context.get_dummy_value()

    return types.none(zr, k, y, col), codegen
