"""The kernels' own threads (Linux): workers that sleep on a futex instead of yielding, and that move off the
core of the thread that called them.

Numba's threading layers share a core badly with another process. On this project's 2-core machine with a
plain Python busy loop beside (2026-11-24): TBB's idle worker calls sched_yield between calls, and this
kernel's scheduler (EEVDF, Linux 6.6 and later) charges a yield a whole slice, so the worker then waits
behind the busy loop: it got 0.05-0.08 of a core, and the caller did nearly every task (fft_half of (1024,
1024) float32 in 501-525 us against 257 us quiet; OpenMP's threads did no better). A thread that sleeps
keeps its claim to its share of a core and runs soon after it is woken; but the scheduler then tends to
wake it on its waker's core (both our threads on one core, the busy loop alone on the other: 507 us
again), and nothing in its load balance moves it: {caller, worker} beside {busy loop} weighs as much as
{caller} beside {busy loop, worker}. So a worker that finds itself on its caller's core takes that core
out of its own affinity, once, and the caller keeps a core while the worker shares the other: 250-288 us
(python /tmp/q/where18.py, three runs). Quiet, the same call took 253-261 us (257-271 us on TBB).

The protocol. The state is one int64 array (slots below); compiled code gets its address. A call (_run)
takes the pool where no other call holds it (else its caller takes all the tasks alone: two threads of one
process each keep theirs), publishes its task block, sets the number of helpers it wants (_SLOTS), bumps
the job counter (_GEN) and wakes as many sleepers, and takes tasks itself (_native.take_tasks). A worker
spins on _GEN with the CPU's pause instruction (about 45 us, 4.5 us on a shared core, below: a call right
after a call finds it awake), then sleeps on it (futex). Woken, it joins by taking a slot (an atomic decrement that finds one
left), runs take_tasks on the block and counts itself done. The caller closes the call when its own tasks
run out: exchanging _SLOTS for a large negative number tells it how many joined, and no worker joins after;
it waits (spins, then sleeps on _DONE) for those, so a worker that wakes late is not waited for.

A worker waits for the next call spinning about 45 us, then sleeps: on a quiet core, waking a sleeping worker
costs a call about 20 us (center of 10^6 float32, calls 30 us or more apart: 85-92 us against 65-71). On a
shared core the spin costs more than it saves (2026-11-25): the scheduler charges the spin to the worker's
share, so the worker is then preempted at any point of its work, and its caller waits out the other process's
slice for the task the worker holds (the caller sat idle 0.24-0.54 of the time, per-thread CPU clocks, and
center of 10^6 took 112-173 us back to back, against 116 us on one thread). A worker that sleeps soon after its
work keeps its claim and preempts the other process when woken. So a call whose caller had to wait on a worker
longer than it had worked itself (and over 50 us), a second time within 0.1 s, counts the core as shared: for
the next 0.1 s the workers spin only about 4.5 us (which still covers the gap between a kernel's passes), and
any such wait in that time extends it. (One such wait alone can be a page fault or an interrupt: counted from
the first, a process that met one at the start of a kernel's timing ran its quick calls alone for 0.1 s.) In
the report's timing with a busy loop beside (python /tmp/r/cases.py, alternating with the workers spinning
always, twice each): center of 10^6 94-99 against 128 us, fft_half (4096, 256) 425-453
against 569-612 us, linear_relu (65536, 64) 1.94-2.05 against 2.53-2.64 ms. Quiet, that wait is rare (one
call each in 8 of the report's 49 cases, none in the rest), as a worker's last task ends within about a task of
the caller's.

Workers are started with pthread_create on first use (start), named "fastlayers" (top -H, ps -T); they
leave at exit (atexit), and a forked child starts its own (os.register_at_fork).
"""

import atexit
import ctypes
import os
import platform
import sys
import threading
import time

import numpy as np
from llvmlite import ir
from numba import cfunc, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._inner import inner
from ._native import call, pointer, run_alone, take_tasks

# The state's slots. _GEN and _DONE are futex words: their low 32 bits (little-endian), which the system call reads.
(_GEN, _BLOCK, _SLOTS, _DONE, _CALLER_SLEEPS, _SLEEPERS, _BUSY, _STOP, _ALIVE, _CALLER_CPU, _SYSCALL,
 _SYS_FUTEX, _GETCPU, _SETAFFINITY, _MASKS, _MASK_WORDS, _CLOCK, _NOW, _NOW_NS, _WORKER_SPINS, _SHARED_UNTIL,
 _QUICK_END, _SETTLING, _SUSPECT_UNTIL, _SIZE) = range(25)
_CLOSED = -(1 << 40)  # _SLOTS once the caller has closed its call
_SPINS = 2000  # pause instructions before a worker, or a waiting caller, sleeps: about 45 us (measured)
_SHARED_SPINS = 200  # a worker's, while its core is shared (below): about 4.5 us
_SHARED_NS = 100_000_000  # how long a worker spins _SHARED_SPINS after its caller last waited on it: 0.1 s
_BACK_TO_BACK_NS = 30_000  # a quick call this soon after the last one ended wakes sleeping workers (below)
_CLOCK_MONOTONIC = 1
_FUTEX_WAIT, _FUTEX_WAKE = 128, 129  # FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE
# the futex system call's number where the pool runs (Linux on x86-64 or AArch64), else None
_FUTEX_CALL = {"x86_64": 202, "aarch64": 98}.get(platform.machine()) if sys.platform.startswith("linux") else None
_IS_X86 = platform.machine() in ("x86_64", "AMD64")


def _check_state(state, slot, value=types.int64):
    if state != types.CPointer(types.int64) or not isinstance(slot, types.Integer):
        raise TypingError(f"expected the pool's state (an int64 pointer) and a slot, got {state} and {slot}")
    if not isinstance(value, types.Integer):
        raise TypingError(f"expected an integer value, got {value}")


def _read_modify_write(operation):
    @intrinsic
    def read_modify_write(typingctx, state, slot, value):
        """state[slot] <operation> value, atomically (sequentially consistent); returns its value before."""
        _check_state(state, slot, value)

        def codegen(context, builder, sig, llargs):
            value64 = context.cast(builder, llargs[2], sig.args[2], types.int64)
            return builder.atomic_rmw(operation, builder.gep(llargs[0], [llargs[1]]), value64, "seq_cst")

        return types.int64(state, slot, value), codegen

    return read_modify_write


_fetch_add = _read_modify_write("add")
_exchange = _read_modify_write("xchg")


@intrinsic
def _load(typingctx, state, slot):
    """state[slot], read atomically (sequentially consistent)."""
    _check_state(state, slot)

    def codegen(context, builder, sig, llargs):
        return builder.load_atomic(builder.gep(llargs[0], [llargs[1]]), "seq_cst", 8)

    return types.int64(state, slot), codegen


@intrinsic
def _store(typingctx, state, slot, value):
    """state[slot] = value, atomically (sequentially consistent)."""
    _check_state(state, slot, value)

    def codegen(context, builder, sig, llargs):
        value64 = context.cast(builder, llargs[2], sig.args[2], types.int64)
        builder.store_atomic(value64, builder.gep(llargs[0], [llargs[1]]), "seq_cst", 8)
        return context.get_dummy_value()

    return types.void(state, slot, value), codegen


@intrinsic
def _claim(typingctx, state, slot):
    """state[slot] from 0 to 1, atomically: True where this call changed it."""
    _check_state(state, slot)

    def codegen(context, builder, sig, llargs):
        word = ir.IntType(64)
        pair = builder.cmpxchg(builder.gep(llargs[0], [llargs[1]]), ir.Constant(word, 0), ir.Constant(word, 1),
                               "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return types.boolean(state, slot), codegen


@intrinsic
def _pause(typingctx):
    """The CPU's spin-wait hint (x86's pause, Arm's yield instruction; not the system call)."""

    def codegen(context, builder, sig, llargs):
        if _IS_X86:
            builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                        "llvm.x86.sse2.pause"), [])
        else:
            builder.asm(ir.FunctionType(ir.VoidType(), []), "yield", "", [], side_effect=True)
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def _futex(typingctx, state, slot, operation, value):
    """The futex system call on state[slot]'s low 32 bits: wait while they equal value's, or wake up to value
    waiters. Through libc's syscall(), whose address and the call's number the state holds."""
    _check_state(state, slot, value)

    def codegen(context, builder, sig, llargs):
        word = ir.IntType(64)
        state_value, slot_value = llargs[0], llargs[1]
        syscall_type = ir.FunctionType(word, [word], var_arg=True)
        address = builder.load(builder.gep(state_value, [ir.Constant(word, _SYSCALL)]))
        number = builder.load(builder.gep(state_value, [ir.Constant(word, _SYS_FUTEX)]))
        futex_word = builder.ptrtoint(builder.gep(state_value, [slot_value]), word)
        zero = ir.Constant(word, 0)
        return builder.call(builder.inttoptr(address, syscall_type.as_pointer()),
                            [number, futex_word, context.cast(builder, llargs[2], sig.args[2], types.int64),
                             context.cast(builder, llargs[3], sig.args[3], types.int64), zero, zero, zero])

    return types.int64(state, slot, operation, value), codegen


@inner
def _wait_while(state, slot, value, sleepers, spins):
    """Until state[slot] != value: spin `spins` pauses, then sleep on it (futex), counted in state[sleepers] while
    asleep. Whoever changes state[slot] reads state[sleepers] after, and wakes the sleepers where it is not 0."""
    spun = 0
    while _load(state, slot) == value:
        if spun < spins:
            _pause()
            spun += 1
        else:
            _fetch_add(state, sleepers, 1)
            if _load(state, slot) == value:  # else it changed before the count: its writer may not wake us
                _futex(state, slot, _FUTEX_WAIT, value)
            _fetch_add(state, sleepers, -1)


@inner
def _now(state, address):
    """CLOCK_MONOTONIC in nanoseconds, through libc's clock_gettime (through the vDSO: tens of nanoseconds) into
    the state's two _NOW slots; only the call holding the pool reads the clock. address: the state's."""
    call(state[_CLOCK], (_CLOCK_MONOTONIC, address + 8 * _NOW))
    return state[_NOW] * 1_000_000_000 + state[_NOW_NS]


def _worker(address):
    """A worker's life, until the pool stops: wait for a call, join it if it still has a slot, take its tasks,
    count itself done. Leaves its caller's core where it finds itself on it. address: the state's. Returns 0,
    the thread's exit value."""
    state = pointer(address, np.int64)
    seen = _load(state, _GEN)
    left = -1  # the core this worker's affinity leaves out
    settled = False  # whether it has run a task: the first one sets up its allocator (malloc's arena), about 0.1 ms
    while True:
        _wait_while(state, np.int64(_GEN), seen, np.int64(_SLEEPERS), _load(state, _WORKER_SPINS))
        seen = _load(state, _GEN)
        if _load(state, _STOP):
            break
        if _fetch_add(state, _SLOTS, -1) > 0:
            cpu = call(state[_GETCPU], ())
            if cpu == _load(state, _CALLER_CPU) and cpu != left and 0 <= cpu < 64 * state[_MASK_WORDS]:
                mask = state[_MASKS] + 8 * state[_MASK_WORDS] * cpu  # the process's cores but cpu
                call(state[_SETAFFINITY], (0, 8 * state[_MASK_WORDS], mask))  # fails harmlessly where cpu is its last
                left = cpu
                settled = False
            if not settled:  # its caller's wait on this job says nothing of the cores being shared
                _store(state, _SETTLING, 1)
            settled = take_tasks(pointer(_load(state, _BLOCK), np.int64)) > 0 or settled
            _fetch_add(state, _DONE, 1)
            if _load(state, _CALLER_SLEEPS):
                _futex(state, _DONE, _FUTEX_WAKE, 1)
    _fetch_add(state, _ALIVE, -1)
    return 0


def _run(runner_address, block_address, calls):
    """The tasks of the task block at block_address on `calls` threads: this one and up to calls - 1 workers;
    on this thread alone where another call holds the pool. runner_address: a runner's (runner()), which holds
    the state's address and whether the call is quick. Returns 0."""
    runner = pointer(runner_address, np.int64)
    address = runner[1]
    state = pointer(address, np.int64)
    block = pointer(block_address, np.int64)
    if not _claim(state, _BUSY):
        run_alone(block)
        return 0
    wanted = min(calls - 1, _load(state, _ALIVE))
    start = _now(state, address)
    if state[_SHARED_UNTIL] and start > state[_SHARED_UNTIL]:
        state[_SHARED_UNTIL] = 0
        _store(state, _WORKER_SPINS, _SPINS)
    quick = runner[2]
    if quick and not (start - state[_QUICK_END] < _BACK_TO_BACK_NS and _load(state, _WORKER_SPINS) == _SPINS):
        wanted = min(wanted, _load(state, _ALIVE) - _load(state, _SLEEPERS))  # only workers awake
        if wanted <= 0:
            run_alone(block)
            state[_QUICK_END] = _now(state, address)
            _store(state, _BUSY, 0)
            return 0
    _store(state, _CALLER_CPU, call(state[_GETCPU], ()))
    _store(state, _BLOCK, block_address)
    _store(state, _DONE, 0)
    _store(state, _SETTLING, 0)
    _store(state, _SLOTS, wanted)
    _fetch_add(state, _GEN, 1)
    if wanted > 0 and _load(state, _SLEEPERS) > 0:
        _futex(state, _GEN, _FUTEX_WAKE, wanted)
    take_tasks(block)
    joined = wanted - max(_exchange(state, _SLOTS, _CLOSED), 0)
    done = _load(state, _DONE)
    if done < joined:
        own = _now(state, address)
        while done < joined:
            _wait_while(state, np.int64(_DONE), done, np.int64(_CALLER_SLEEPS), np.int64(_SPINS))
            done = _load(state, _DONE)
        end = _now(state, address)
        # held by a worker that lost its core (not one settling in: below), a second time within 0.1 s: the cores
        # are shared
        if end - own > max(own - start, 50_000) and not _load(state, _SETTLING):
            if end < state[_SUSPECT_UNTIL]:
                state[_SHARED_UNTIL] = end + _SHARED_NS
                _store(state, _WORKER_SPINS, _SHARED_SPINS)
            state[_SUSPECT_UNTIL] = end + _SHARED_NS
    if quick:
        state[_QUICK_END] = _now(state, address)
    _store(state, _BUSY, 0)
    return 0


_state = None  # the running pool's state (an int64 array, never freed while its workers live)
_address = 0  # its address
_runners = None  # (2, 3) int64: the runners (run's address, the state's, quick or not); never freed either
_runner_addresses = (0, 0)  # their addresses: the plain runner's, the quick one's
_tables = []  # the arrays the state points into
_lock = threading.Lock()


def _cpu_masks() -> np.ndarray:
    """(cpus, words) uint64: row c, the process's cores but c (each row a cpu_set_t of words 64-bit words)."""
    allowed = sorted(os.sched_getaffinity(0))
    words = allowed[-1] // 64 + 1
    full = np.zeros(words, np.uint64)
    for cpu in allowed:
        full[cpu // 64] |= np.uint64(1) << np.uint64(cpu % 64)
    masks = np.tile(full, (64 * words, 1))
    for cpu in range(64 * words):
        masks[cpu, cpu // 64] &= ~(np.uint64(1) << np.uint64(cpu % 64))
    return masks


def start(threads: int, quick: bool = False) -> int:
    """A runner of the pool (its address), with threads - 1 workers, started on first use; 0 where it cannot run
    (not Linux on x86-64 or AArch64). quick: for calls whose work takes less than waking a worker (about 7 us of
    the waker's time on this project's machine, and 25 us until the worker runs): those take only the workers
    already awake, unless calls come back to back (the last quick one ended under 30 us before), where a wake
    keeps the workers spinning for the calls after."""
    global _state, _address, _runners, _runner_addresses
    if _address:
        return _runner_addresses[quick]
    if _FUTEX_CALL is None:
        return 0
    with _lock:
        if not _address:
            libc = ctypes.CDLL(None)
            word = types.int64
            state = np.zeros(_SIZE, np.int64)
            masks = _cpu_masks()
            run = cfunc(word(word, word, word), cache=True)(_run).address
            state[_SYSCALL] = ctypes.cast(libc.syscall, ctypes.c_void_p).value
            state[_SYS_FUTEX] = _FUTEX_CALL
            state[_CLOCK] = ctypes.cast(libc.clock_gettime, ctypes.c_void_p).value
            state[_WORKER_SPINS] = _SPINS
            state[_GETCPU] = ctypes.cast(libc.sched_getcpu, ctypes.c_void_p).value
            state[_SETAFFINITY] = ctypes.cast(libc.sched_setaffinity, ctypes.c_void_p).value
            state[_MASKS], state[_MASK_WORDS] = masks.ctypes.data, masks.shape[1]
            worker = cfunc(word(word), cache=True)(_worker).address
            create = libc.pthread_create
            create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
            for _ in range(threads - 1):
                thread = ctypes.c_ulong()
                state[_ALIVE] += 1  # before it runs: a worker counts itself out as it leaves
                if create(ctypes.byref(thread), None, worker, state.ctypes.data) != 0:
                    state[_ALIVE] -= 1
                    break
                libc.pthread_setname_np(thread, b"fastlayers")
                libc.pthread_detach(thread)
            _tables[:] = [masks]
            _runners = np.array([[run, state.ctypes.data, 0], [run, state.ctypes.data, 1]], np.int64)
            _runner_addresses = (_runners[0].ctypes.data, _runners[1].ctypes.data)
            _state, _address = state, state.ctypes.data
    return _runner_addresses[quick]


def _stop():
    """At exit: ask the workers to leave and wake them; wait (a second at most) until they have, so none is
    still running compiled code as the interpreter goes."""
    state = _state
    if state is None:
        return
    state[_STOP] = 1
    state[_GEN] += 1
    ctypes.CDLL(None).syscall(ctypes.c_long(int(state[_SYS_FUTEX])), ctypes.c_void_p(state.ctypes.data + 8 * _GEN),
                              ctypes.c_long(_FUTEX_WAKE), ctypes.c_long(1 << 30), None, None, None)
    deadline = time.monotonic() + 1.0
    while state[_ALIVE] > 0 and time.monotonic() < deadline:
        time.sleep(0.001)


def _forget():
    """In a forked child: the parent's workers are not here; the child's next call starts its own."""
    global _state, _address, _runners, _runner_addresses, _lock
    _state, _address, _runners, _runner_addresses, _lock = None, 0, None, (0, 0), threading.Lock()


atexit.register(_stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)
