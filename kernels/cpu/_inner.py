"""@inner: a Numba function that only compiled code calls, compiled without a way in from Python.

Numba compiles every ``@njit`` function it types in full, to machine code, with two wrappers: one that
Python calls through (unboxing each argument, boxing the result: for a function that takes or returns a
tuple of arrays, more code than the function) and one that C calls through. A helper that only other
compiled functions call never uses either: its callers link its code in and call it directly. Without
them, the FFT's block function compiled in 1.7-1.8 s instead of 2.0 s (`no_cfunc_wrapper` alone: 1.9 s);
PyTensor does the same for its intermediate functions (pymc-devs/pytensor#765).

Called from Python, such a function would crash the interpreter (it has no entry: numba/numba#2541), so
its dispatcher raises TypeError there instead.
"""

from numba import config
from numba.core.registry import CPUDispatcher


class InnerDispatcher(CPUDispatcher):
    """A CPUDispatcher whose function compiled code calls, and Python does not."""

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.py_func.__module__}.{self.py_func.__qualname__} is compiled for compiled callers "
                        "only (kernels.cpu._inner): call it from a Numba function, not from Python")


def inner(func=None, **options):
    """``@inner`` or ``@inner(fastmath=...)``: ``@njit(cache=True, **options)`` for a function only compiled code
    calls, with neither of Numba's wrappers. Under NUMBA_DISABLE_JIT, func itself."""
    if func is None:
        return lambda f: inner(f, **options)
    if config.DISABLE_JIT:
        return func
    targetoptions = {"nopython": True, "boundscheck": None, "no_cpython_wrapper": True, "no_cfunc_wrapper": True,
                     **options}
    dispatcher = InnerDispatcher(py_func=func, locals={}, targetoptions=targetoptions)
    dispatcher.enable_caching()
    return dispatcher
