"""Parameter: an array a module learns, with its gradient."""

import numpy as np

from .tensor import ArrayOps, recording


class Parameter(ArrayOps):
    """A learnable array.

    ``data`` is the array (NumPy, or CuPy on the GPU); assigning a new array is
    allowed. ``grad`` is None until a backward accumulates into it. A lazy
    parameter (``Parameter.uninitialized``) has no data until its layer's first
    call or a load; ``spec`` then holds its shape, with a name for each dimension
    not yet known (equal names must get equal sizes).

    A Parameter behaves like its array: ``p[:2]``, ``p.T``, ``np.asarray(p)``,
    ``x @ p + 1`` — plain arrays outside a forward, recorded (differentiable)
    inside one.
    """

    __slots__ = ("data", "grad", "spec", "_dtype", "_label")
    __hash__ = object.__hash__  # by identity, as PyTorch's; == compares values elementwise

    def __init__(self, data):
        data = _as_array(data)
        if np.dtype(data.dtype).kind not in "fc":
            raise TypeError(
                f"Parameter: expected floating-point values, got dtype {data.dtype}; "
                "pass a float array (e.g. np.asarray(values, np.float32))"
            )
        self.data = data
        self.grad = None
        self.spec = tuple(data.shape)
        self._dtype = np.dtype(data.dtype)
        self._label = "a Parameter"

    @classmethod
    def uninitialized(cls, spec, dtype=np.float32):
        p = cls.__new__(cls)
        p.data, p.grad, p.spec, p._dtype, p._label = None, None, tuple(spec), np.dtype(dtype), "a Parameter"
        return p

    @property
    def initialized(self) -> bool:
        return self.data is not None

    @property
    def shape(self):
        """The array's shape; for a lazy parameter, its spec (unknown dimensions by name)."""
        return tuple(self.data.shape) if self.data is not None else self.spec

    @property
    def dtype(self):
        return np.dtype(self.data.dtype) if self.data is not None else self._dtype

    def numel(self) -> int:
        """The number of values (PyTorch's name); a lazy parameter has none yet and raises."""
        return int(self._value().size)

    def matches(self, shape) -> bool:
        """Whether an array of this shape can be this parameter's data."""
        if self.data is not None:
            return tuple(shape) == tuple(self.data.shape)
        if len(shape) != len(self.spec):
            return False
        named = {}
        for want, got in zip(self.spec, shape):
            if isinstance(want, str):
                if named.setdefault(want, got) != got:
                    return False
            elif want != got:
                return False
        return True

    # --- as an array (fastlayers.tensor.ArrayOps) ---

    def _value(self):
        if self.data is None:
            raise RuntimeError(
                f"{self._label} is not initialized yet: its lazy layer infers its shape {self.shape} at the "
                "first call; call the model once (or load a checkpoint) first"
            )
        return self.data

    def _as_input(self, tape):
        data = self.data
        return self, (data if data is not None else self._value())  # _value raises for a lazy parameter

    def _in_place(self, ufunc, other):
        if recording():
            raise RuntimeError(
                f"in-place arithmetic on {self._label} inside a recorded forward would change a parameter the "
                "backward needs; compute a new array (w = p * 2) or run it under fl.no_grad()"
            )
        ufunc(self._value(), other.data if isinstance(other, Parameter) else other, out=self.data)
        return self

    __iadd__ = lambda p, o: p._in_place(np.add, o)
    __isub__ = lambda p, o: p._in_place(np.subtract, o)
    __imul__ = lambda p, o: p._in_place(np.multiply, o)
    __itruediv__ = lambda p, o: p._in_place(np.true_divide, o)

    def __setitem__(self, index, value):
        if recording():
            raise RuntimeError(f"assigning into {self._label} inside a recorded forward; use fl.no_grad()")
        self._value()[index] = value.data if isinstance(value, Parameter) else value

    def __repr__(self):
        if self.data is None:
            spec = ", ".join(str(d) for d in self.spec)
            return f"Parameter(uninitialized, shape=({spec}), dtype={self._dtype})"
        values = np.array2string(_host(self.data), precision=4, threshold=20, prefix="  ")
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.dtype},\n  {values})"


def _as_array(data):
    """NumPy or CuPy arrays as they are; lists, tuples and scalars through NumPy; other arrays (a PyTorch
    tensor, say) through DLPack, copied."""
    if isinstance(data, np.ndarray) or is_cupy(data):
        return data
    if isinstance(data, (list, tuple, int, float, np.generic)):
        return np.asarray(data)
    if hasattr(data, "__dlpack__"):
        try:
            return np.array(np.from_dlpack(data), copy=True)
        except (BufferError, RuntimeError, TypeError, ValueError) as e:
            raise TypeError(
                f"Parameter: could not read {type(data).__name__} as a host array ({e}); for a PyTorch tensor "
                "pass t.detach().cpu()"
            ) from None
    raise TypeError(f"Parameter: expected an array, a list or a tuple of numbers, got {type(data).__name__}")


def is_cupy(a) -> bool:
    return type(a).__module__.split(".", 1)[0] == "cupy"


def _host(a):
    if isinstance(a, np.ndarray):
        return a
    if isinstance(a, ArrayOps):
        a = a._value()
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


DEVICES = ("cpu", "cuda")


def device_name(device) -> str:
    """"cpu" or "cuda" for what a user may write ("cpu", "cuda", "cuda:0", "gpu")."""
    name = str(device).split(":", 1)[0].lower()
    name = "cuda" if name == "gpu" else name
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    return name


def cupy_or_raise():
    """The cupy module, or an ImportError that names the extra to install."""
    try:
        import cupy
    except ImportError as e:
        raise ImportError(
            f"the 'cuda' device needs CuPy, which is not installed ({e}); pip install 'fastlayers[gpu]'"
        ) from None
    return cupy


def to_device(a, device: str):
    """a as a NumPy array ("cpu") or a CuPy array on the current GPU ("cuda")."""
    if device == "cpu":
        return _host(a)
    return cupy_or_raise().asarray(a)
