"""Tracked arrays: what flows through a recorded forward, so that plain NumPy on it is differentiable.

While a top-level ``module(x)`` records, its input, every op's output and every
Parameter are *tracked*: NumPy's dispatch protocols (``__array_ufunc__`` and
``__array_function__``, NEP 13 and 18) hand each NumPy call on them to us, and we
run it on the underlying arrays and append one node to the tape with the call's
gradient rule (``fastlayers/numpy_grads.py``). A call with no rule raises at once,
in the forward: a gradient is never dropped silently. Outside a recording nothing
is tracked and a Parameter's arithmetic gives plain arrays.

``Tensor`` is the tracked array; ``ArrayOps`` the Python operators and NumPy
protocols it shares with ``Parameter``.
"""

import threading
from functools import partial

import numpy as np


class _State(threading.local):
    tape = None  # the tape being recorded, during a top-level forward
    grad_enabled = True


state = _State()

# Filled by fastlayers.numpy_grads and fastlayers.functional when fastlayers is imported.
UFUNC_VJPS = {}  # ufunc -> one vjp(grad_y, y, *arrays) per input
CONSTANT_UFUNCS = set()  # comparisons, sign, floor...: results are constants (their gradient is 0 where defined)
FUNCTIONS = {}  # NumPy function -> its implementation on tracked arguments
CONSTANT_FUNCTIONS = set()  # np.shape, np.argmax, np.zeros_like...: computed on the values, untracked
KERNEL_OPS = {}  # kernels' public function -> its differentiable op


def not_differentiable(name):
    return TypeError(
        f"{name} on a tracked array is not differentiable in fastlayers; compute it inside an fl.op "
        "with its backward, or under fl.no_grad()"
    )


def recording() -> bool:
    """Whether NumPy calls on tracked arrays are recorded now (inside a forward, outside fl.no_grad())."""
    return state.tape is not None and state.grad_enabled


def _name(func):
    """How a user spells func: np.sum, np.linalg.norm, np.add (private modules left out)."""
    module = getattr(func, "__module__", None) or "numpy"
    public = [part for part in module.split(".") if not part.startswith("_")]
    if public and public[0] == "numpy":
        public[0] = "np"
    return ".".join(public + [getattr(func, "__name__", repr(func))])


def value(a):
    """The plain array (or anything else) behind a, for a constant use: no gradient flows through it."""
    return a._value() if isinstance(a, ArrayOps) else a


def record(forward, inputs, backward, options=None):
    """forward(*arrays, **options) on the inputs' arrays, recorded with its gradient when an input is tracked.

    backward is fl.op's backward(grad_y, y, *arrays, **options), returning one
    gradient per input (None for none), or a tuple of per-input rules
    vjp(grad_y, y, *arrays, **options) of which only the tracked inputs' run, and
    whose results are summed back over broadcast axes to their input's shape and
    dtype. Returns a Tensor when recorded, else the plain result.
    """
    tape = state.tape
    if tape is None and state.grad_enabled:
        tape, inputs = continued(inputs)
    arrays = refs = None
    for i, a in enumerate(inputs):
        if isinstance(a, ArrayOps):
            if refs is None:
                arrays, refs = list(inputs), [None] * len(inputs)
            if type(a) is Tensor and a.tape is tape:  # the common case, without a method call
                refs[i], arrays[i] = a.key, a.data
            else:
                refs[i], arrays[i] = a._as_input(tape)
    if refs is None:  # nothing tracked: constants in, a constant out
        return forward(*inputs, **options) if options else forward(*inputs)
    y = forward(*arrays, **options) if options else forward(*arrays)
    if tape is None or not state.grad_enabled:
        return y
    if type(backward) is tuple:
        backward = partial(_tracked_vjps, backward, tuple([r is not None for r in refs]))
    t = tape.new_tensor(y)
    tape.nodes.append((backward, refs, arrays, t.key, y, options))
    return t


# The arrays top-level module calls returned, by id, to a weak reference to the tape that recorded them.
# A tape holds its results (so no id is reused while it lives) and drops its entries when it goes
# (Tape.__del__). A plain dict and one weak reference per tape: a WeakValueDictionary made one per entry.
RESULTS = {}


def continued(inputs):
    """Outside a forward: (the recording these inputs continue or None, the inputs with each array a
    recorded forward returned replaced by its tracked array). fastlayers' ops on a model's output
    continue its recording, as PyTorch's autograd does: ``F.cross_entropy(net(x), t)`` reaches net."""
    tape, out = None, None
    for i, a in enumerate(inputs):
        if type(a) is Tensor:
            found = a.tape
            if found.consumed:
                raise RuntimeError(
                    "a tracked array from a recording already used by a backward; run the forward again"
                )
        else:
            ref = RESULTS.get(id(a)) if a is not None and type(a) not in (int, float, str) else None
            found = ref() if ref is not None else None
            if found is None or found.consumed:
                continue
            array, key = found.results.get(id(a), (None, None))
            if array is not a:
                continue
            out = list(inputs) if out is None else out
            out[i] = found.tensor(a, key)
        if tape is not None and found is not tape:
            raise NotImplementedError(
                "an op combines the outputs of two separate recordings (two models called one after the other on "
                "different inputs); call them inside one model's forward, or backward each one on its own"
            )
        tape = found
    return tape, (inputs if out is None else out)


def _tracked_vjps(vjps, tracked, grad_y, y, *arrays, **options):
    return tuple([fit(vjp(grad_y, y, *arrays, **options), a) if t else None
                  for vjp, t, a in zip(vjps, tracked, arrays)])


def fit(grad, a):
    """grad summed back over the axes a was broadcast along, in a's shape and dtype (real for a real a)."""
    if not hasattr(grad, "dtype"):  # a Python scalar
        grad = np.asarray(grad)
    shape, dtype = (a.shape, a.dtype) if hasattr(a, "dtype") else (np.shape(a), None)
    if grad.shape == shape and (grad.dtype == dtype or dtype is None):
        return grad  # the common case, quickly
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
        grad = np.sum(grad, axis=axes, keepdims=True) if axes else grad
        grad = np.reshape(grad, shape)
    if dtype is not None and grad.dtype != dtype:
        if grad.dtype.kind == "c" and dtype.kind != "c":
            grad = grad.real
        grad = grad.astype(dtype) if dtype.kind in "fc" else grad
    return grad


class ArrayOps:
    """Python's operators and NumPy's protocols for tracked arrays (Tensor) and Parameters."""

    __slots__ = ()
    __array_priority__ = 100  # above ndarray's: ndarray + tracked defers to us

    # --- NumPy's protocols ---

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc in CONSTANT_UFUNCS:
            return getattr(ufunc, method)(*[value(a) for a in inputs], **{k: value(v) for k, v in kwargs.items()})
        if method == "__call__" and not kwargs:
            vjps = UFUNC_VJPS.get(ufunc)
            if vjps is not None:
                return record(ufunc, inputs, vjps)
        handler = FUNCTIONS.get((ufunc, method))  # reductions: np.add.reduce is a sum
        if handler is not None:
            return handler(*inputs, **kwargs)
        return _untracked_or_raise(getattr(ufunc, method), f"{_name(ufunc)}" + ("" if method == "__call__" else f".{method}")
                                   + (f" with {', '.join(kwargs)}=" if kwargs else ""), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        handler = FUNCTIONS.get(func)
        if handler is not None:
            return handler(*args, **kwargs)
        if func in CONSTANT_FUNCTIONS:
            return func(*_values(args), **_values(kwargs))
        return _untracked_or_raise(func, _name(func), args, kwargs)

    def __array__(self, dtype=None, copy=None):
        if recording():
            raise TypeError(
                "np.asarray (or np.array, or a library calling it) on a tracked array is not differentiable in "
                "fastlayers: every later op would silently drop its gradient; use fl.detach(x) for a constant, "
                "compute it inside an fl.op with its backward, or run it under fl.no_grad()"
            )
        a = self._value()
        return np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)

    @staticmethod
    def __kernels_function__(func, args, kwargs):
        """kernels' own functions on tracked arguments: their differentiable op, as fl.functional has it."""
        op = KERNEL_OPS.get(func)
        if op is not None:
            return op(*args, **kwargs)
        return _untracked_or_raise(func.__wrapped__, f"kernels.{func.__name__}", args, kwargs)

    # --- the array's attributes ---

    shape = property(lambda self: np.shape(self._value()))
    dtype = property(lambda self: np.dtype(self._value().dtype))
    ndim = property(lambda self: len(np.shape(self._value())))
    size = property(lambda self: int(np.prod(np.shape(self._value()))))
    T = property(lambda self: np.transpose(self))
    real = property(lambda self: np.real(self))
    imag = property(lambda self: np.imag(self))

    def __len__(self):
        return len(self._value())

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # Constants, as in PyTorch: control flow on values (`while np.abs(x).sum() > 1:`) works.
    def __bool__(self):
        return bool(self._value())

    def __float__(self):
        return float(self._value())

    def __int__(self):
        return int(self._value())

    def __complex__(self):
        return complex(self._value())

    def item(self, *args):
        return self._value().item(*args)

    def tolist(self):
        return np.asarray(self._value()).tolist()

    # --- operators: each the NumPy ufunc, so one gradient rule serves both spellings ---

    __add__ = lambda a, b: np.add(a, b)
    __radd__ = lambda a, b: np.add(b, a)
    __sub__ = lambda a, b: np.subtract(a, b)
    __rsub__ = lambda a, b: np.subtract(b, a)
    __mul__ = lambda a, b: np.multiply(a, b)
    __rmul__ = lambda a, b: np.multiply(b, a)
    __truediv__ = lambda a, b: np.true_divide(a, b)
    __rtruediv__ = lambda a, b: np.true_divide(b, a)
    __floordiv__ = lambda a, b: np.floor_divide(a, b)
    __rfloordiv__ = lambda a, b: np.floor_divide(b, a)
    __mod__ = lambda a, b: np.remainder(a, b)
    __pow__ = lambda a, b: np.power(a, b)
    __rpow__ = lambda a, b: np.power(b, a)
    __matmul__ = lambda a, b: np.matmul(a, b)
    __rmatmul__ = lambda a, b: np.matmul(b, a)
    __neg__ = lambda a: np.negative(a)
    __pos__ = lambda a: np.positive(a)
    __abs__ = lambda a: np.absolute(a)
    __lt__ = lambda a, b: np.less(a, b)
    __le__ = lambda a, b: np.less_equal(a, b)
    __gt__ = lambda a, b: np.greater(a, b)
    __ge__ = lambda a, b: np.greater_equal(a, b)
    __eq__ = lambda a, b: np.equal(a, b)
    __ne__ = lambda a, b: np.not_equal(a, b)

    # --- methods, each the NumPy function of the same name ---

    def sum(self, axis=None, dtype=None, keepdims=False):
        return np.sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        return np.mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, axis=None, dtype=None, ddof=0, keepdims=False):
        return np.var(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, ddof=0, keepdims=False):
        return np.std(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return np.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return np.min(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None):
        return np.cumsum(self, axis=axis)

    def reshape(self, *shape, order="C"):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis=axis)

    def ravel(self):
        return np.ravel(self)

    def flatten(self):
        return np.reshape(self, -1).copy()

    def take(self, indices, axis=None):
        return np.take(self, indices, axis=axis)

    def clip(self, min=None, max=None):
        return np.clip(self, min, max)

    def dot(self, other):
        return np.dot(self, other)

    def copy(self):
        return np.copy(self)

    def conj(self):
        return np.conjugate(self)

    conjugate = conj

    def astype(self, dtype, copy=True):
        return FUNCTIONS["astype"](self, dtype)

    def __getitem__(self, index):
        return FUNCTIONS["getitem"](self, index)

    # Values, not gradients: computed on the data.
    def argmax(self, axis=None):
        return np.argmax(self._value(), axis=axis)

    def argmin(self, axis=None):
        return np.argmin(self._value(), axis=axis)

    def any(self, axis=None):
        return np.any(self._value(), axis=axis)

    def all(self, axis=None):
        return np.all(self._value(), axis=axis)


def _values(args):
    if isinstance(args, dict):
        return {k: _values(v) for k, v in args.items()}
    if isinstance(args, (list, tuple)):
        return type(args)(_values(a) for a in args)
    return value(args)


def _untracked_or_raise(func, name, args, kwargs):
    """Under fl.no_grad() (or with nothing recording) a call without a rule runs on the values; else it raises."""
    if recording():
        raise not_differentiable(name)
    return func(*_values(args), **_values(kwargs))


class Tensor(ArrayOps):
    """An array tracked by the tape of the forward that made it.

    ``data`` is the NumPy (or CuPy) array; ``key`` names its value on the tape (an
    in-place operator gives the Tensor a new value, and so a new key). A Tensor is
    only usable inside its own forward: stored and used in a later one, it raises.
    """

    __slots__ = ("data", "key", "tape")

    def _value(self):
        if self.tape is not state.tape and state.tape is not None:
            raise _stale()
        return self.data

    def _as_input(self, tape):
        if self.tape is not tape:
            raise _stale()
        return self.key, self.data

    def _assign(self, new):
        """Become new (the result of an in-place operator, computed out of place): later ops see the new value."""
        if isinstance(new, Tensor):
            self.data, self.key = new.data, new.key
        else:  # under fl.no_grad(): the value changes, invisibly to the tape (as in PyTorch)
            self.data[...] = new
        return self

    __iadd__ = lambda a, b: a._assign(np.add(a, b))
    __isub__ = lambda a, b: a._assign(np.subtract(a, b))
    __imul__ = lambda a, b: a._assign(np.multiply(a, b))
    __itruediv__ = lambda a, b: a._assign(np.true_divide(a, b))
    __ipow__ = lambda a, b: a._assign(np.power(a, b))
    __imatmul__ = lambda a, b: a._assign(np.matmul(a, b))

    def __setitem__(self, index, new_value):
        self._assign(FUNCTIONS["setitem"](self, index, new_value))

    def __repr__(self):
        return f"tracked({self.data!r})"


def _stale():
    return RuntimeError(
        "a tracked array from another forward was used in this one (kept on the module, say): its recording is "
        "over, so no gradient could reach it; keep fl.detach(x) if you need its value as a constant"
    )
