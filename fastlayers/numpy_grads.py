"""Gradient rules of NumPy's functions, for NumPy written inside a forward on tracked arrays.

Each rule is a vector-Jacobian product per input, ``vjp(g, y, *inputs, **options)``:
dL/dinput from g = dL/dy, in y's shape; the recorder (``fastlayers.tensor.record``)
sums it back over broadcast axes to the input's shape and dtype, and runs only the
rules of tracked inputs. Complex values follow PyTorch's convention: the gradient of
a complex z is dL/dRe(z) + i dL/dIm(z), so a holomorphic f passes g * conj(f'(z)).
The rules are written with NumPy's functions, which CuPy arrays dispatch to CuPy.

Calls with no rule here raise in the forward (``fastlayers.tensor``); comparisons,
rounding and the like give plain constants.
"""

import math
import string
from functools import partial

import numpy as np

from .tensor import CONSTANT_FUNCTIONS, CONSTANT_UFUNCS, FUNCTIONS, UFUNC_VJPS, not_differentiable, record, value


def _conj(a):
    return np.conjugate(a) if np.iscomplexobj(a) else a


def _ones(g, y, *arrays, **options):
    return g


def _neg(g, y, *arrays, **options):
    return -g


# --- elementwise ufuncs: one rule per input ---

UFUNC_VJPS.update({
    np.add: (_ones, _ones),
    np.subtract: (_ones, _neg),
    np.multiply: (lambda g, y, a, b: g * _conj(b), lambda g, y, a, b: g * _conj(a)),
    np.true_divide: (lambda g, y, a, b: g / _conj(b), lambda g, y, a, b: -g * _conj(y / b)),
    np.negative: (_neg,),
    np.positive: (_ones,),
    np.conjugate: (lambda g, y, a: np.conjugate(g),),
    np.exp: (lambda g, y, a: g * _conj(y),),
    np.expm1: (lambda g, y, a: g * _conj(y + 1),),
    np.exp2: (lambda g, y, a: g * _conj(y) * math.log(2),),
    np.log: (lambda g, y, a: g / _conj(a),),
    np.log1p: (lambda g, y, a: g / _conj(a + 1),),
    np.log2: (lambda g, y, a: g / (_conj(a) * math.log(2)),),
    np.log10: (lambda g, y, a: g / (_conj(a) * math.log(10)),),
    np.sqrt: (lambda g, y, a: g / (2 * _conj(y)),),
    np.square: (lambda g, y, a: 2 * g * _conj(a),),
    np.reciprocal: (lambda g, y, a: -g * _conj(y * y),),
    np.sin: (lambda g, y, a: g * _conj(np.cos(a)),),
    np.cos: (lambda g, y, a: -g * _conj(np.sin(a)),),
    np.tan: (lambda g, y, a: g * _conj(1 + y * y),),
    np.tanh: (lambda g, y, a: g * _conj(1 - y * y),),
    np.sinh: (lambda g, y, a: g * _conj(np.cosh(a)),),
    np.cosh: (lambda g, y, a: g * _conj(np.sinh(a)),),
    np.arctan: (lambda g, y, a: g / _conj(1 + a * a),),
    np.logaddexp: (lambda g, y, a, b: g * np.exp(a - y), lambda g, y, a, b: g * np.exp(b - y)),
})


def _abs_vjp(g, y, a):
    if np.iscomplexobj(a):  # |z| = sqrt(re^2 + im^2): dL/dre + i dL/dim = g z / |z| (0 at 0)
        return g * np.where(y > 0, a / np.where(y > 0, y, 1), 0)
    return g * np.sign(a)


def _power_base_vjp(g, y, a, b):
    return g * _conj(b * np.power(a, b - 1))


def _power_exponent_vjp(g, y, a, b):
    if np.iscomplexobj(a):
        return g * _conj(y * np.log(a))
    return g * y * np.log(np.where(a > 0, a, 1))  # a**b is real only for a > 0 (or integer b, then b is data)


def _extremum_vjps(pick):
    """maximum / minimum: the gradient goes to the input picked, split evenly on a tie (as PyTorch)."""

    def first(g, y, a, b):
        return np.where(pick(a, b), g, np.where(a == b, g / 2, 0))

    def second(g, y, a, b):
        return np.where(pick(b, a), g, np.where(a == b, g / 2, 0))

    return first, second


def _swap(a):
    return np.swapaxes(a, -1, -2)


def _matmul_vjp_a(g, y, a, b):
    b = _conj(b)
    if np.ndim(b) == 1:  # (..., n) @ (n,) -> (...)
        return np.expand_dims(g, -1) * b
    if np.ndim(a) == 1:  # (n,) @ (..., n, m) -> (..., m)
        return (b @ np.expand_dims(g, -1))[..., 0]
    return g @ _swap(b)


def _matmul_vjp_b(g, y, a, b):
    a = _conj(a)
    if np.ndim(a) == 1:
        if np.ndim(b) == 1:  # a dot product
            return g * a
        return np.expand_dims(a, -1) * np.expand_dims(g, -2)  # (n, 1) * (..., 1, m)
    if np.ndim(b) == 1:  # (..., k, n) @ (n,) -> (..., k)
        return (_swap(a) @ np.expand_dims(g, -1))[..., 0]
    return _swap(a) @ g


UFUNC_VJPS.update({
    np.absolute: (_abs_vjp,),
    np.power: (_power_base_vjp, _power_exponent_vjp),
    np.maximum: _extremum_vjps(np.greater),
    np.minimum: _extremum_vjps(np.less),
    np.matmul: (_matmul_vjp_a, _matmul_vjp_b),
})

# Comparisons, logic and rounding: values with no gradient (0 wherever one is defined).
CONSTANT_UFUNCS.update({
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.isnan, np.isinf, np.isfinite, np.signbit, np.sign,
    np.floor, np.ceil, np.trunc, np.rint, np.floor_divide,
    np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert,
})

CONSTANT_FUNCTIONS.update({
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero,
    np.any, np.all, np.isclose, np.allclose, np.array_equal, np.round, np.around,
    np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.may_share_memory, np.shares_memory,
    np.searchsorted, np.unique,
})


def implements(*funcs):
    """Register a NumPy function's implementation on tracked arguments."""

    def register(impl):
        for f in funcs:
            FUNCTIONS[f] = impl
        return impl

    return register


# --- reductions ---


def _expand(g, a, axis, keepdims):
    """g (a reduction's gradient, in its output's shape) broadcast back to a's shape."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, np.shape(a))


def _count(a, y):
    return max(1, np.size(a) // max(1, np.size(y)))


@implements(np.sum)
def _sum(a, axis=None, dtype=None, keepdims=False):
    return record(np.sum, (a,), (_sum_vjp,), {"axis": axis, "dtype": dtype, "keepdims": keepdims})


def _sum_vjp(g, y, a, axis, dtype, keepdims):
    return _expand(g, a, axis, keepdims)


@implements(np.mean)
def _mean(a, axis=None, dtype=None, keepdims=False):
    return record(np.mean, (a,), (_mean_vjp,), {"axis": axis, "dtype": dtype, "keepdims": keepdims})


def _mean_vjp(g, y, a, axis, dtype, keepdims):
    return _expand(g / _count(a, y), a, axis, keepdims)


@implements(np.var)
def _var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return record(np.var, (a,), (_var_vjp,), {"axis": axis, "dtype": dtype, "ddof": ddof, "keepdims": keepdims})


def _var_vjp(g, y, a, axis, dtype, ddof, keepdims):
    centered = a - np.mean(a, axis=axis, keepdims=True)
    return _expand(g, a, axis, keepdims) * (2 * _conj(centered) / (_count(a, y) - ddof))


@implements(np.std)
def _std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return record(np.std, (a,), (_std_vjp,), {"axis": axis, "dtype": dtype, "ddof": ddof, "keepdims": keepdims})


def _std_vjp(g, y, a, axis, dtype, ddof, keepdims):
    centered = a - np.mean(a, axis=axis, keepdims=True)
    return _expand(g, a, axis, keepdims) * _conj(centered) / (_expand(y, a, axis, keepdims) * (_count(a, y) - ddof))


def _extremum(reduce):
    def implementation(a, axis=None, keepdims=False):
        return record(reduce, (a,), (_extremum_vjp,), {"axis": axis, "keepdims": keepdims})

    return implementation


def _extremum_vjp(g, y, a, axis, keepdims):
    """The gradient is shared evenly by the entries equal to the extremum (as PyTorch's amax / amin)."""
    hit = a == _expand(y, a, axis, keepdims)
    return np.where(hit, _expand(g, a, axis, keepdims), 0) / np.sum(hit, axis=axis, keepdims=True)


implements(np.max, np.amax)(_extremum(np.max))
implements(np.min, np.amin)(_extremum(np.min))


@implements((np.add, "reduce"))
def _add_reduce(a, axis=0, dtype=None, out=None, keepdims=False):
    if out is not None:
        raise not_differentiable("np.add.reduce with out=")
    return _sum(a, axis=axis, dtype=dtype, keepdims=keepdims)


@implements((np.maximum, "reduce"))
def _maximum_reduce(a, axis=0, keepdims=False):
    return FUNCTIONS[np.max](a, axis=axis, keepdims=keepdims)


@implements((np.minimum, "reduce"))
def _minimum_reduce(a, axis=0, keepdims=False):
    return FUNCTIONS[np.min](a, axis=axis, keepdims=keepdims)


@implements(np.cumsum)
def _cumsum(a, axis=None, dtype=None):
    return record(np.cumsum, (a,), (_cumsum_vjp,), {"axis": axis, "dtype": dtype})


def _cumsum_vjp(g, y, a, axis, dtype):
    if axis is None:  # a was flattened
        return np.flip(np.cumsum(np.flip(g))).reshape(np.shape(a))
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


# --- shapes: the gradient goes back through the inverse rearrangement ---


def _reshape_vjp(g, y, a, **options):
    return np.reshape(g, np.shape(a))


@implements(np.reshape)
def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    return record(_reshape_array, (a,), (_reshape_vjp,), {"shape": shape, "order": order})


def _reshape_array(a, shape, order):
    return a.reshape(shape, order=order)


@implements(np.ravel)
def _ravel(a, order="C"):
    return _reshape(a, -1, order)


@implements(np.expand_dims)
def _expand_dims(a, axis):
    return record(np.expand_dims, (a,), (_reshape_vjp,), {"axis": axis})


@implements(np.squeeze)
def _squeeze(a, axis=None):
    return record(np.squeeze, (a,), (_reshape_vjp,), {"axis": axis})


def _at_least(func):
    def implementation(*arys):
        if len(arys) != 1:
            return [implementation(a) for a in arys]
        return record(func, arys, (_reshape_vjp,))

    return implementation


implements(np.atleast_1d)(_at_least(np.atleast_1d))
implements(np.atleast_2d)(_at_least(np.atleast_2d))
implements(np.atleast_3d)(_at_least(np.atleast_3d))


@implements(np.transpose)
def _transpose(a, axes=None):
    return record(np.transpose, (a,), (_transpose_vjp,), {"axes": axes})


def _transpose_vjp(g, y, a, axes):
    if axes is None:
        return np.transpose(g)
    return np.transpose(g, np.argsort([ax % np.ndim(a) for ax in axes]))


@implements(np.swapaxes)
def _swapaxes(a, axis1, axis2):
    return record(np.swapaxes, (a,), (lambda g, y, a, axis1, axis2: np.swapaxes(g, axis1, axis2),),
                  {"axis1": axis1, "axis2": axis2})


@implements(np.moveaxis)
def _moveaxis(a, source, destination):
    return record(np.moveaxis, (a,), (lambda g, y, a, source, destination: np.moveaxis(g, destination, source),),
                  {"source": source, "destination": destination})


@implements(np.flip)
def _flip(m, axis=None):
    return record(np.flip, (m,), (lambda g, y, m, axis: np.flip(g, axis),), {"axis": axis})


@implements(np.broadcast_to)
def _broadcast_to(array, shape, subok=False):
    return record(np.broadcast_to, (array,), (_ones,), {"shape": shape})  # the recorder sums back


@implements(np.copy)
def _copy(a, order="K", subok=False):
    return record(np.copy, (a,), (_ones,))


@implements("astype")
def _astype(a, dtype):
    return record(_cast, (a,), (_ones,), {"dtype": dtype})  # the recorder casts the gradient back


def _cast(a, dtype):
    return a.astype(dtype)


@implements(np.real)
def _real(val):
    return record(np.real, (val,), (_ones,))


@implements(np.imag)
def _imag(val):
    return record(np.imag, (val,), (lambda g, y, val: 1j * g,))  # L depends on Im(z) alone


# --- joining ---


def _piece(axis, i, g, y, *arrays):
    """Input i's part of a concatenation's gradient."""
    start = sum(np.shape(a)[axis] for a in arrays[:i])
    index = [slice(None)] * np.ndim(g)
    index[axis] = slice(start, start + np.shape(arrays[i])[axis])
    return g[tuple(index)]


@implements(np.concatenate)
def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise not_differentiable("np.concatenate with out=")
    arrays = tuple(arrays)
    if axis is None:
        return _concatenate([np.ravel(a) for a in arrays], 0, dtype=dtype, casting=casting)
    ndim = np.ndim(value(arrays[0]))
    forward = partial(_concatenate_arrays, axis=axis, dtype=dtype, casting=casting)
    return record(forward, arrays, tuple(partial(_piece, axis % ndim, i) for i in range(len(arrays))))


def _concatenate_arrays(*arrays, axis, dtype, casting):
    return np.concatenate(arrays, axis=axis, dtype=dtype, casting=casting)


@implements(np.stack)
def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise not_differentiable("np.stack with out=")
    arrays = tuple(arrays)
    return _concatenate([np.expand_dims(a, axis) for a in arrays], axis, dtype=dtype, casting=casting)


@implements(np.hstack)
def _hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = [np.atleast_1d(a) for a in tup]
    return _concatenate(arrays, 0 if np.ndim(value(arrays[0])) == 1 else 1, dtype=dtype, casting=casting)


@implements(np.vstack)
def _vstack(tup, *, dtype=None, casting="same_kind"):
    return _concatenate([np.atleast_2d(a) for a in tup], 0, dtype=dtype, casting=casting)


# --- selection ---


def _is_basic(index):
    """Whether an index selects without advanced (array) indexing: each element then appears at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


def _scatter(g, a, index):
    """zeros like a, with g added at a[index] (repeated indices add up)."""
    grad = np.zeros_like(a, dtype=np.result_type(g.dtype, a.dtype))  # a CuPy array for a CuPy a
    if _is_basic(index):
        grad[index] = g
    else:
        np.add.at(grad, index, g)
    return grad


def _constant_index(index):
    if isinstance(index, tuple):
        return tuple(value(i) for i in index)
    return value(index)


@implements("getitem")
def _getitem(a, index):
    return record(_get, (a,), (_getitem_vjp,), {"index": _constant_index(index)})


def _get(a, index):
    return a[index]


def _getitem_vjp(g, y, a, index):
    return _scatter(g, a, index)


@implements("setitem")
def _setitem(a, index, new_value):
    return record(_set, (a, new_value), (_setitem_vjp_a, _setitem_vjp_value), {"index": _constant_index(index)})


def _set(a, new_value, index):
    out = a.copy()
    out[index] = new_value
    return out


def _setitem_vjp_a(g, y, a, new_value, index):
    g = g.copy()
    g[index] = 0
    return g


def _setitem_vjp_value(g, y, a, new_value, index):
    return g[index]


@implements(np.take)
def _take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None:
        raise not_differentiable("np.take with out=")
    return record(np.take, (a,), (_take_vjp,), {"indices": value(indices), "axis": axis, "mode": mode})


def _take_vjp(g, y, a, indices, axis, mode):
    if axis is None:
        return _scatter(np.ravel(g), np.ravel(a), (indices,)).reshape(np.shape(a))
    return _scatter(g, a, (slice(None),) * (axis % np.ndim(a)) + (indices,))


@implements(np.where)
def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.nonzero(value(condition))
    return record(np.where, (value(condition), x, y),
                  (None, lambda g, out, c, x, y: np.where(c, g, 0), lambda g, out, c, x, y: np.where(c, 0, g)))


@implements(np.clip)
def _clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    if out is not None or kwargs:
        raise not_differentiable("np.clip with out= or ufunc options")
    low = a_min if a_min is not None else min
    high = a_max if a_max is not None else max
    return record(_clip_values, (a, low, high), (_clip_vjp_a, _clip_vjp_low, _clip_vjp_high))


def _clip_values(a, low, high):
    return np.clip(a, low, high)


def _clip_vjp_a(g, y, a, low, high):
    inside = np.ones(np.shape(a), dtype=bool) if low is None else a >= low
    return np.where(inside if high is None else inside & (a <= high), g, 0)


def _clip_vjp_low(g, y, a, low, high):  # NumPy clips as minimum(maximum(a, low), high): high wins a crossing
    return np.where(a < low if high is None else (a < low) & (low <= high), g, 0)


def _clip_vjp_high(g, y, a, low, high):
    return np.where((a if low is None else np.maximum(a, low)) > high, g, 0)


# --- products ---


@implements(np.dot)
def _dot(a, b, out=None):
    if out is not None:
        raise not_differentiable("np.dot with out=")
    ndims = (np.ndim(value(a)), np.ndim(value(b)))
    if 0 in ndims:
        return np.multiply(a, b)
    if max(ndims) > 2:
        raise not_differentiable("np.dot of arrays of more than 2 dimensions (use np.matmul or np.einsum)")
    return np.matmul(a, b)


@implements(np.outer)
def _outer(a, b, out=None):
    if out is not None:
        raise not_differentiable("np.outer with out=")
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


@implements(np.einsum)
def _einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    if not isinstance(subscripts, str) or out is not None or kwargs:
        raise not_differentiable("np.einsum other than einsum('subscripts', *operands[, optimize=])")
    specs, output = _einsum_specs(subscripts, [np.ndim(value(o)) for o in operands])
    for spec in specs:
        if len(set(spec)) != len(spec):
            raise not_differentiable(f"np.einsum with a repeated index within one operand ({subscripts!r})")
    explicit = ",".join(specs) + "->" + output
    forward = partial(_einsum_arrays, explicit, optimize)
    return record(forward, operands, tuple(partial(_einsum_vjp, specs, output, i) for i in range(len(operands))))


def _einsum_arrays(subscripts, optimize, *operands):
    return np.einsum(subscripts, *operands, optimize=optimize)


def _einsum_specs(subscripts, ndims):
    """Each operand's indices and the output's, with '...' spelled out in letters and the implicit output made explicit."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    specs = inputs.split(",")
    used = set(subscripts)
    spare = [c for c in string.ascii_letters if c not in used]
    ellipsis_dims = max([n - (len(s) - 3) for s, n in zip(specs, ndims) if "..." in s], default=0)
    letters = "".join(spare[:ellipsis_dims])
    specs = [s.replace("...", letters[len(letters) - (n - (len(s) - 3)):]) if "..." in s else s
             for s, n in zip(specs, ndims)]
    if arrow:
        output = output.replace("...", letters)
    else:  # NumPy's implicit output: the broadcast axes, then the indices seen once, in alphabetical order
        counts = "".join(specs)
        output = letters + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in letters))
    return specs, output


def _einsum_vjp(specs, output, i, g, y, *operands):
    """dL/d operand i: g contracted with the other operands onto operand i's indices."""
    others = [_conj(o) for j, o in enumerate(operands) if j != i]
    other_specs = [s for j, s in enumerate(specs) if j != i]
    reachable = set(output).union(*other_specs)
    target = specs[i]
    kept = "".join(c for c in target if c in reachable)  # an index only operand i has was summed away: broadcast
    grad = np.einsum(",".join([output, *other_specs]) + "->" + kept, g, *others)
    if kept != target:
        grad = np.expand_dims(grad, tuple(k for k, c in enumerate(target) if c not in reachable))
        grad = np.broadcast_to(grad, np.shape(operands[i]))
    return grad


# --- Fourier transforms: the adjoint of a DFT is the other DFT, scaled by the norm's counterpart ---

_ADJOINT_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _to_length(a, length, axis):
    """a along axis cut or zero-padded to length: the adjoint of the transform's own cut or padding to n."""
    have = np.shape(a)[axis]
    if have > length:
        return np.take(a, np.arange(length), axis=axis)
    if have < length:
        pad = [(0, 0)] * np.ndim(a)
        pad[axis] = (0, length - have)
        return np.pad(a, pad)
    return a


def _fft_vjp(inverse, g, y, a, n, axis, norm):
    return _to_length(inverse(g, axis=axis, norm=_ADJOINT_NORM[norm]), np.shape(a)[axis], axis)


def _rfft_vjp(g, y, a, n, axis, norm):
    m = np.shape(a)[axis] if n is None else n
    full = _to_length(g, m, axis)  # the coefficients rfft leaves out had no gradient
    return _to_length(np.fft.ifft(full, axis=axis, norm=_ADJOINT_NORM[norm]), np.shape(a)[axis], axis)


def _transform(func, vjp):
    def implementation(a, n=None, axis=-1, norm=None, out=None):
        if out is not None:
            raise not_differentiable(f"np.fft.{func.__name__} with out=")
        return record(func, (a,), (vjp,), {"n": n, "axis": axis, "norm": norm})

    return implementation


implements(np.fft.fft)(_transform(np.fft.fft, partial(_fft_vjp, np.fft.ifft)))
implements(np.fft.ifft)(_transform(np.fft.ifft, partial(_fft_vjp, np.fft.fft)))
implements(np.fft.rfft)(_transform(np.fft.rfft, _rfft_vjp))
