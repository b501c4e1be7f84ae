"""Parallel drivers that call their task's code through its address, so that it is compiled once.

Numba optimizes and compiles to machine code, once more, every function a compiled function
calls, inside it (its callees are linked in to be inlined). A ``prange`` loop is four compiled
functions deep (the function, the parfor's gufunc and two wrappers), so a task body called from
one is optimized and compiled four more times: 2.1 s of the FFT's cold first call and 2.0 s of
the GEMM's, measured per library (numba.core.codegen, 2026-11-24). Here the task body is a C
callback (``numba.cfunc``, cached on disk like any kernel), compiled once; the ``prange`` loop
only calls it by address:

    entry = native(_task_entry, (types.CPointer(types.float32), types.int64, ...))   # its address
    for task in prange(tasks):
        failed[task] = call(entry, (x.ctypes.data, n, ..., task))

An entry takes its arrays as pointers plus their shapes (``numba.carray`` makes them arrays again)
and returns 0, or 1 where its work raised (it catches: an exception cannot cross a C callback).
"""

from functools import lru_cache

from llvmlite import ir
from numba import cfunc, types
from numba.core.errors import TypingError
from numba.extending import intrinsic


@lru_cache(maxsize=None)
def native(pyfunc, arg_types: tuple) -> int:
    """The address of pyfunc compiled as a C callback int32 pyfunc(*arg_types), compiled on first use."""
    return cfunc(types.int32(*arg_types), cache=True)(pyfunc).address


@intrinsic
def call(typingctx, address, args):
    """The C function int32 f(int64, ...) at address, called with args, a tuple of integers and booleans, each
    widened to 64 bits (pointers as integers: on x86-64 and AArch64 both travel in the same registers)."""
    if not isinstance(address, types.Integer):
        raise TypingError(f"call: address must be an integer, got {address}")
    if not isinstance(args, types.BaseTuple) or not all(isinstance(t, (types.Integer, types.Boolean)) for t in args):
        raise TypingError(f"call: args must be a tuple of integers and booleans, got {args}")

    def codegen(context, builder, sig, llargs):
        address_value, tuple_value = llargs
        word = ir.IntType(64)
        values = []
        for i, t in enumerate(sig.args[1]):
            v = builder.extract_value(tuple_value, i)
            signed = isinstance(t, types.Integer) and t.signed
            values.append(v if v.type == word else (builder.sext(v, word) if signed else builder.zext(v, word)))
        function_type = ir.FunctionType(ir.IntType(32), [word] * len(values))
        target = builder.inttoptr(address_value, function_type.as_pointer())
        return builder.call(target, values)

    return types.int32(address, args), codegen
