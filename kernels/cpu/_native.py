"""How the CPU kernels run their work on several threads: a task's code compiled once, as a C callback, and taken
task by task by the threads from a shared counter.

Numba optimizes and compiles to machine code, once more, every function a compiled function
calls, inside it (its callees are linked in to be inlined). A ``prange`` loop is four compiled
functions deep (the function, the parfor's gufunc and two wrappers), so a task body called from
one is optimized and compiled four more times: 2.1 s of the FFT's cold first call and 2.0 s of
the GEMM's, measured per library (numba.core.codegen, 2026-11-24). Here the task body is a C
callback (``numba.cfunc``, cached on disk like any kernel), compiled once. And there is no ``prange``
loop at all: its parfor passes cost a driver 0.3-0.6 s of a cold first call, and its schedule gives
each thread one fixed share of the loop, which a thread on a core shared with another process holds
until it is scheduled again. A driver instead fills a task block and calls run_tasks, which hands it
to our own workers (kernels.cpu._pool; where they cannot run, to the threading layer's parallel_for,
the C function a prange loop calls): each thread, the caller among them, takes runs of the tasks not
yet taken from an atomic counter until none is left (take_tasks).

    block, args = task_block(task_entry(_task, dtype), out.ctypes.data, np.int64(3))
    args[0], args[1], args[2] = x.ctypes.data, x.shape[0], x.shape[1]
    failed = run_tasks(runner(), block, tasks)                       # runner 0: the tasks on this thread

A task function ``_task(out, args, task)`` gets its output array's pointer (which also carries the
dtype it is compiled for; where the output is float64 whatever the input, as the cross-entropy's
losses, or there are several, as in a long row's passes, another array of that dtype), the int64
arguments (addresses become arrays again with ``pointer`` and ``numba.carray``) and its task number, and returns 0, or 1 where its work raised (it catches: an
exception cannot cross a C callback). Only the work belongs in its ``try``: what a try block holds
compiles slower (the GEMM's task took 3.4 s to compile with its argument reads inside, 2.3 s
without; measured).
"""

from functools import lru_cache

import numba
import numpy as np
from llvmlite import ir
from numba import cfunc, njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._inner import inner


@lru_cache(maxsize=None)
def native(pyfunc, arg_types: tuple) -> int:
    """The address of pyfunc compiled as a C callback int32 pyfunc(*arg_types), compiled on first use.

    Starts Numba's threads first, if no parallel code has yet: a driver that calls an entry (run_tasks) calls
    the threading layer's C functions by their symbols, which exist once it has started."""
    _start_threads()
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


@intrinsic
def pointer(typingctx, address, like):
    """The integer address as a pointer: of like's type where like is a pointer, else to like, a dtype (np.int64)."""
    if not isinstance(address, types.Integer):
        raise TypingError(f"pointer: address must be an integer, got {address}")
    if isinstance(like, types.CPointer):
        result = like
    elif isinstance(like, types.NumberClass):
        result = types.CPointer(like.instance_type)
    else:
        raise TypingError(f"pointer: like must be a pointer or a dtype, got {like}")

    def codegen(context, builder, sig, llargs):
        return builder.inttoptr(llargs[0], context.get_value_type(result))

    return result(address, like), codegen


@intrinsic
def _threads(typingctx):
    """numba.get_num_threads(): the calling thread's share of Numba's threads. Called by its symbol, as a prange
    loop's code calls it (numba.get_num_threads() in compiled code holds a ctypes address, which keeps the caller
    from the disk cache)."""

    def codegen(context, builder, sig, llargs):
        get_num_threads = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                                         "get_num_threads")
        return builder.sext(builder.call(get_num_threads, []), ir.IntType(64))

    return types.int64(), codegen


@intrinsic
def _parallel_for(typingctx, function, count, data, threads):
    """Numba's threading layer's parallel_for, the call a prange loop makes: function(arrays, dims, steps, data) for
    subranges of range(count), on `threads` threads (the caller's _threads()), this thread among them (each call
    gets its subrange's start as arrays[0], a NULL base advanced by steps[0] = 1 an index, and its length as
    dims[0]). Called by its symbol, like _threads."""
    for name, t in (("function", function), ("count", count), ("data", data), ("threads", threads)):
        if not isinstance(t, types.Integer):
            raise TypingError(f"_parallel_for: {name} must be an integer, got {t}")

    def codegen(context, builder, sig, llargs):
        word, byte_ptr = ir.IntType(64), ir.IntType(8).as_pointer()
        function_value, count_value, data_value, threads_value = llargs
        parallel_for = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr] * 5 + [word] * 3), "numba_parallel_for")
        arrays = cgutils.alloca_once_value(builder, ir.Constant(word, 0))
        dims = cgutils.alloca_once_value(builder, builder.sext(count_value, word))
        steps = cgutils.alloca_once_value(builder, ir.Constant(word, 1))
        builder.call(parallel_for, [builder.inttoptr(function_value, byte_ptr), builder.bitcast(arrays, byte_ptr),
                                    builder.bitcast(dims, byte_ptr), builder.bitcast(steps, byte_ptr),
                                    builder.inttoptr(data_value, byte_ptr), ir.Constant(word, 0),
                                    ir.Constant(word, 1), builder.sext(threads_value, word)])
        return context.get_dummy_value()

    return types.void(function, count, data, threads), codegen


@intrinsic
def _release_gil(typingctx):
    """Where this thread holds the GIL, lets go of it (PyEval_SaveThread) and returns its thread state's address;
    else (a nogil caller) 0. For _restore_gil."""

    def codegen(context, builder, sig, llargs):
        word, int32, byte_ptr = ir.IntType(64), ir.IntType(32), ir.IntType(8).as_pointer()
        check = cgutils.get_or_insert_function(builder.module, ir.FunctionType(int32, []), "PyGILState_Check")
        save = cgutils.get_or_insert_function(builder.module, ir.FunctionType(byte_ptr, []), "PyEval_SaveThread")
        saved = cgutils.alloca_once_value(builder, ir.Constant(word, 0))
        with builder.if_then(builder.icmp_signed("!=", builder.call(check, []), ir.Constant(int32, 0))):
            builder.store(builder.ptrtoint(builder.call(save, []), word), saved)
        return builder.load(saved)

    return types.int64(), codegen


@intrinsic
def _restore_gil(typingctx, saved):
    """Takes the GIL back (PyEval_RestoreThread) where _release_gil let go of it: saved, what it returned."""
    if not isinstance(saved, types.Integer):
        raise TypingError(f"_restore_gil: expected _release_gil's integer, got {saved}")

    def codegen(context, builder, sig, llargs):
        byte_ptr = ir.IntType(8).as_pointer()
        restore = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr]),
                                                 "PyEval_RestoreThread")
        with builder.if_then(builder.icmp_signed("!=", llargs[0], ir.Constant(llargs[0].type, 0))):
            builder.call(restore, [builder.inttoptr(llargs[0], byte_ptr)])
        return context.get_dummy_value()

    return types.void(saved), codegen


@intrinsic
def _take(typingctx, block, count):
    """block[_NEXT] += count, atomically; returns its value before: the first of the tasks the caller took."""
    if block != types.CPointer(types.int64) or not isinstance(count, types.Integer):
        raise TypingError(f"_take: expected an int64 pointer and an integer, got {block} and {count}")

    def codegen(context, builder, sig, llargs):
        word = ir.IntType(64)
        slot = builder.gep(llargs[0], [ir.Constant(word, _NEXT)])
        return builder.atomic_rmw("add", slot, builder.sext(llargs[1], word), "monotonic")

    return types.int64(block, count), codegen


@inner
def run_alone(block):
    """All of block's tasks on this thread: its solo block's one task where it has one (the block's failed flag
    set where it failed), else its own. Returns how many tasks ran."""
    solo = block[_SOLO]
    if solo == 0:
        failed = 0
        for task in range(block[_TASKS]):
            failed |= call(block[0], (block[2], block[3], task))
        block[1] = failed
        return block[_TASKS]
    one = pointer(solo, np.int64)
    block[1] = call(one[0], (one[2], one[3], 0))
    return 1


@inner
def take_tasks(block):
    """What each thread runs: entry(out, args, task) for runs of the tasks not yet taken until none is left, each
    run a share of what is left (guided self-scheduling: long runs first, for locality, single tasks at the end,
    so that no thread is left with a long run while the others wait); block: a task block. Sets its failed flag
    where a task failed. Returns how many tasks this thread ran."""
    tasks, calls = block[_TASKS], block[_CALLS]
    failed = 0
    ran = 0
    while True:
        run = max(1, (tasks - block[_NEXT]) // (2 * calls))  # a plain read: only the run's length depends on it
        first = _take(block, run)
        if first >= tasks:
            break
        for task in range(first, min(tasks, first + run)):
            failed |= call(block[0], (block[2], block[3], task))
        ran += min(tasks, first + run) - first
    if failed:
        block[1] = 1
    return ran


def _take_tasks(arrays, dims, steps, block):
    """take_tasks, as Numba's parallel_for calls a function (where our pool cannot start: kernels.cpu._pool)."""
    take_tasks(block)


def _run_on_numba_threads(runner_address, block_address, calls):
    """runner's run where our pool cannot start: the tasks on Numba's threads (its threading layer's
    parallel_for), `calls` of them. Returns 0."""
    runner = pointer(runner_address, np.int64)
    _parallel_for(runner[1], calls, block_address, _threads())
    return 0


def _start_threads():
    from numba.np.ufunc.parallel import _launch_threads  # what a parallel function's compilation calls

    _launch_threads()


_numba_runner = None


def runner(quick: bool = False) -> int:
    """What run_tasks runs tasks on threads with: the address of an int64 array whose first element is the
    address of run(runner, block, calls). Our pool (kernels.cpu._pool), started on first use; where it cannot
    start, Numba's threading layer, or 0 (this thread) for quick calls. quick: for work that takes less than
    waking a sleeping thread (tens of microseconds): it runs on the threads already awake (_pool.start)."""
    global _numba_runner
    address = _pool.start(numba.config.NUMBA_NUM_THREADS, quick)
    if address or quick:
        return address
    if _numba_runner is None:
        _start_threads()
        word = types.CPointer(types.int64)
        take = cfunc(types.void(word, word, word, word), cache=True)(_take_tasks).address
        run = cfunc(types.int64(types.int64, types.int64, types.int64), cache=True)(_run_on_numba_threads).address
        _numba_runner = np.array([run, take], np.int64)
    return _numba_runner.ctypes.data


def task_types(dtype) -> tuple:
    """A task function's argument types (out, args, task) for an out of dtype: what native() compiles it for."""
    return (types.CPointer(numba.from_dtype(np.dtype(dtype))), types.CPointer(types.int64), types.int64)


@lru_cache(maxsize=None)
def task_entry(task_function, dtype) -> int:
    """The address of task_function(out, args, task) compiled for an out of dtype, compiled on first use."""
    return native(task_function, task_types(dtype))


# A task block, int64: the entry's address, a failed flag, out's address, the arguments' address (they follow the
# header), the next task to take, the number of tasks, the number of threads taking them, and the address of its
# solo block (0: none): the same work as one task, cheaper where one thread does it all (run_tasks).
_NEXT, _TASKS, _CALLS, _SOLO, _HEADER = 4, 5, 6, 7, 8


@njit(cache=True, inline="always")
def task_block(entry, out, count):
    """(block, args): a task block for entry(out, args, task), with room for `count` int64 arguments in args, a view
    of the block to fill before run_tasks. out: an address."""
    block = np.empty(_HEADER + count, np.int64)
    block[0], block[1], block[2], block[3] = entry, 0, out, block.ctypes.data + _HEADER * 8
    block[_SOLO] = 0
    return block, block[_HEADER:]


@njit(cache=True, inline="always")
def run_tasks(runner, block, tasks):
    """block's entry(out, args, task) for every task < tasks: on this thread and the workers where runner is
    runner() (as many threads in all as numba.get_num_threads() allows this one), else one after another on
    this thread. On the threads each takes the next task not yet taken until none is left, so a
    thread on a core shared with another process does only the tasks it gets to; on this thread alone, a block
    with a solo block (block[_SOLO]) runs that instead. block: task_block's, filled.
    Returns nonzero where a task failed.

    The caller lets go of the GIL while the threads run, where it holds it: Numba allocates through Python's
    raw allocator, which with tracemalloc on takes the GIL, so a worker's task that allocates waited for a
    caller that waited for it (fastlayers bench's peak-memory case hung, 2026-11-25). Other Python threads run
    meanwhile too."""
    block[1] = 0  # a block may be run again, for a second pass over the same tasks
    threads = _threads() if runner != 0 else 1
    calls = min(tasks, threads)
    block[_NEXT], block[_TASKS], block[_CALLS] = 0, tasks, calls
    if calls > 1:
        saved = _release_gil()
        call(pointer(runner, np.int64)[0], (runner, block.ctypes.data, calls))
        _restore_gil(saved)
    else:
        run_alone(block)
    return block[1]  # read after the calls: the block stays alive through them


from . import _pool  # noqa: E402  (it uses take_tasks, above)
