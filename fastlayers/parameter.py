"""Parameter: an array a module learns, with its gradient."""

import numpy as np


class Parameter:
    """A learnable array.

    ``data`` is the array (NumPy, or CuPy on the GPU); assigning a new array is
    allowed. ``grad`` is None until a backward accumulates into it. A lazy
    parameter (``Parameter.uninitialized``) has no data until its layer's first
    call or a load; ``spec`` then holds its shape, with a name for each dimension
    not yet known (equal names must get equal sizes).
    """

    __slots__ = ("data", "grad", "spec", "_dtype")

    def __init__(self, data):
        self.data = data
        self.grad = None
        self.spec = tuple(data.shape)
        self._dtype = np.dtype(data.dtype)

    @classmethod
    def uninitialized(cls, spec, dtype=np.float32):
        p = cls.__new__(cls)
        p.data, p.grad, p.spec, p._dtype = None, None, tuple(spec), np.dtype(dtype)
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

    def __repr__(self):
        if self.data is None:
            spec = ", ".join(str(d) for d in self.spec)
            return f"Parameter(uninitialized, shape=({spec}), dtype={self._dtype})"
        values = np.array2string(_host(self.data), precision=4, threshold=20, prefix="  ")
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.dtype},\n  {values})"


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


DEVICES = ("cpu", "cuda")


def device_name(device) -> str:
    """"cpu" or "cuda" for what a user may write ("cpu", "cuda", "cuda:0", "gpu")."""
    name = str(device).split(":", 1)[0].lower()
    name = "cuda" if name == "gpu" else name
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    return name


def to_device(a, device: str):
    """a as a NumPy array ("cpu") or a CuPy array on the current GPU ("cuda")."""
    if device == "cpu":
        return _host(a)
    import cupy

    return cupy.asarray(a)
