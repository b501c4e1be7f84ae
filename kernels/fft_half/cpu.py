"""fft_half (first half of the DFT of real rows) and its gradient on the CPU.

Shapes: x (B, n) real; y and grad_y (B, n // 2) complex; grad_x (B, n).

Our own FFT, no numpy.fft or scipy.fft (plans: _plan; the complex transform of
a block: _stages). Where the speed comes from:
- Rows go LANES (8) at a time into a block, transposed and split into real and
  imaginary parts, so that one index of all 8 rows is one vector: every butterfly
  is whole vectors, and a block of up to a few thousand points stays in L1/L2.
  The transposes in and out are 8 x 8 tiles of shuffles (_simd), not gathers.
- Real input of even length n is packed as n/2 complex samples,
  x[2m] + i x[2m+1]: one complex FFT of half the length per row, and the
  unpacking computes only the n // 2 coefficients returned. The backward runs
  the same trick the other way.
- Runs of blocks are the threads' tasks (up to 8 a thread, taken as the threads
  get to them: _native.run_tasks), each with its own scratch. Small inputs run as
  quick calls (on the threads only where they are awake: _pool).
- One block of 5-8 rows (n % 8 == 0) is split between two threads, four rows
  each, a row's two halves in a lane pair (_forward_split); a thread alone runs
  the whole block instead (the task block's solo block).
"""

import numpy as np
from numba import carray, config, njit

from ..cpu import _alloc
from ..cpu._inner import inner
from ..cpu._native import _SOLO, pointer, run_tasks, runner, task_block, task_entry
from . import _long
from ._plan import bluestein_tables, complex_length, plan, views
from ._stages import real_unpack, transform
from ..cpu._simd import (LANES, blend, evens, load, load_tile, load_tile_pairs, odds, splat, store, store_tile,
                         store_tile_pairs, swap_pairs)

# --- between LANES rows (LANES, ...) and a block: element (k, t) at LANES * k + t ---


@inner
def _pack_pairs(rows, count, zr, zi):
    """zr[LANES k + t] = rows[t, 2k], zi[LANES k + t] = rows[t, 2k + 1], k < count."""
    whole = count - count % LANES
    for k in range(0, whole, LANES):
        load_tile_pairs(rows, 2 * k, zr, zi, k)
    for k in range(whole, count):
        for t in range(LANES):
            zr[LANES * k + t] = rows[t, 2 * k]
            zi[LANES * k + t] = rows[t, 2 * k + 1]


@inner
def _pack_reals(rows, count, zr):
    """zr[LANES k + t] = rows[t, k], k < count."""
    whole = count - count % LANES
    for k in range(0, whole, LANES):
        load_tile(rows, k, zr, k)
    for k in range(whole, count):
        for t in range(LANES):
            zr[LANES * k + t] = rows[t, k]


@inner
def _unpack_pairs(zr, zi, count, rows):
    """rows[t, 2k] = zr[LANES k + t], rows[t, 2k + 1] = zi[LANES k + t], k < count."""
    whole = count - count % LANES
    for k in range(0, whole, LANES):
        store_tile_pairs(zr, zi, k, rows, 2 * k)
    for k in range(whole, count):
        for t in range(LANES):
            rows[t, 2 * k] = zr[LANES * k + t]
            rows[t, 2 * k + 1] = zi[LANES * k + t]


@inner
def _unpack_reals(zr, count, rows):
    """rows[t, k] = zr[LANES k + t], k < count."""
    whole = count - count % LANES
    for k in range(0, whole, LANES):
        store_tile(zr, k, rows, k)
    for k in range(whole, count):
        for t in range(LANES):
            rows[t, k] = zr[LANES * k + t]


# --- one block of LANES rows (inlined into its one call, in _forward_blocks / _backward_blocks) ---


@njit(cache=True, inline="always")
def _forward_block(xs, ys, zr, zi, work, stages, tables, hr, hi):
    """ys (LANES, 2 (n // 2)), as (re, im) float pairs, = fft_half of xs (LANES, n)."""
    n = xs.shape[1]
    if n % 2 == 0:
        half = n // 2
        _pack_pairs(xs, half, zr, zi)
        ar, ai, br, bi = transform(zr, zi, work, stages, tables)
        # Z = E + i O (E, O: transforms of the even and odd samples); X_k = E_k + w^k O_k.
        h = zr.dtype.type(0.5)
        for k in range(half):
            i, j = LANES * k, LANES * (half - k if k else 0)
            outr, outi = real_unpack(load(ar, i), load(ai, i), load(ar, j), -load(ai, j),  # Z_k and conj(Z_(N-k))
                                     splat(hr[k]), splat(hi[k]), h)
            store(br, i, outr)
            store(bi, i, outi)
        _unpack_pairs(br, bi, half, ys)
    else:
        _pack_reals(xs, n, zr)
        zi[:] = 0
        ar, ai, _, _ = transform(zr, zi, work, stages, tables)
        _unpack_pairs(ar, ai, n // 2, ys)


@njit(cache=True, inline="always")
def _backward_block(gs, outs, zr, zi, work, stages, tables, hr, hi):
    """outs (LANES, n): grad_x_t = Re(sum_k conj(g_k) w^(k t)), w = exp(-2 pi i / n), k < n // 2,
    for the LANES rows gs (LANES, 2 (n // 2)) of (re, im) float pairs."""
    n = outs.shape[1]
    half = n // 2
    if n % 2 == 0:
        # Even and odd t are the real parts of two length-n/2 DFTs, of c_k = conj(g_k) and of c_k w^k.
        # A Hermitian-symmetrised input has a real DFT, so one complex FFT of hc + i hd gives both.
        gr, gi = work[0][: half * LANES], work[1][: half * LANES]
        _pack_pairs(gs, half, gr, gi)
        h = zr.dtype.type(0.5)
        for k in range(half):
            kc = half - k if k else 0
            i, j = LANES * k, LANES * kc
            cr, ci, mr, mi = load(gr, i), -load(gi, i), load(gr, j), load(gi, j)  # c_k, conj(c_kc)
            wr, wi, vr, vi = splat(hr[k]), splat(hi[k]), splat(hr[kc]), splat(hi[kc])
            dr, di = cr * wr - ci * wi, cr * wi + ci * wr  # d_k = c_k w^k
            er, ei = mr * vr + mi * vi, mi * vr - mr * vi  # conj(d_kc) = conj(c_kc) conj(w^kc)
            hcr, hci = h * (cr + mr), h * (ci + mi)
            hdr, hdi = h * (dr + er), h * (di + ei)
            store(zr, i, hcr - hdi)  # hc + i hd
            store(zi, i, hci + hdr)
        ar, ai, _, _ = transform(zr, zi, work, stages, tables)
        _unpack_pairs(ar, ai, half, outs)
    else:
        _pack_pairs(gs, half, zr, zi)
        for k in range(half):
            store(zi, LANES * k, -load(zi, LANES * k))
        zr[half * LANES :] = 0
        zi[half * LANES :] = 0
        ar, ai, _, _ = transform(zr, zi, work, stages, tables)
        _unpack_reals(ar, n, outs)


# --- a split block: LANES // 2 rows, each row's halves in a lane pair, so that two threads share a block ---

HALF = LANES // 2


@njit(cache=True, inline="always")
def _forward_split(xv, yv, zr, zi, work, stages, hr, hi):
    """fft_half of HALF rows of n % 8 == 0 samples in one block: xv (LANES, n // 2) and yv (LANES, n // 2) are
    the rows' and the outputs' halves (row u's first half is row 2u, its second half row 2u + 1: each lane pair
    holds one row). With m = n / 2 complex samples z_j = x_2j + i x_(2j+1) and q = m / 2: a radix-2 stage in
    frequency on each lane pair (even lane z_l + z_(l+q), odd lane (z_l - z_(l+q)) w_m^l), a transform of length
    q (stages: plan(n // 2)'s), giving Z_2k in the even lanes and Z_(2k+1) in the odd; then X_k and X_(k+q) of the
    real-input trick in each lane pair, which store back as the halves of the output rows. hr, hi: plan(n)'s
    half twiddles, exp(-2 pi i k / n), k < m."""
    q = xv.shape[1] // 2
    _pack_pairs(xv, q, zr, zi)
    for l in range(q):
        i = LANES * l
        vr, vi = load(zr, i), load(zi, i)
        sr, si = swap_pairs(vr), swap_pairs(vi)  # each lane with its pair's
        dr, di = sr - vr, si - vi  # z_l - z_(l+q) in the odd lanes
        wr, wi = splat(hr[2 * l]), splat(hi[2 * l])  # w_m^l = w_n^(2l)
        store(zr, i, blend(vr + sr, dr * wr - di * wi))
        store(zi, i, blend(vi + si, dr * wi + di * wr))
    ar, ai, br, bi = transform(zr, zi, work, stages, None)
    h = zr.dtype.type(0.5)
    mid = q // 2
    for kk in range(mid):
        # k = 2 kk: Z_k, Z_(k+q), Z_(m-k), Z_(q-k) are even, in the even lanes at kk, kk + q/2, q - kk, q/2 - kk
        k, i, j = 2 * kk, LANES * kk, LANES * (kk + mid)
        c, d = LANES * ((q - kk) % q), LANES * (mid - kk)
        wr, wi = blend(splat(hr[k]), splat(hr[k + q])), blend(splat(hi[k]), splat(hi[k + q]))
        outr, outi = real_unpack(evens(load(ar, i), load(ar, j)), evens(load(ai, i), load(ai, j)),
                                 evens(load(ar, c), load(ar, d)), -evens(load(ai, c), load(ai, d)), wr, wi, h)
        store(br, LANES * k, outr)
        store(bi, LANES * k, outi)
        # k = 2 kk + 1: all odd, in the odd lanes at kk, kk + q/2, q - 1 - kk, q/2 - 1 - kk
        k, c, d = k + 1, LANES * (q - 1 - kk), LANES * (mid - 1 - kk)
        wr, wi = blend(splat(hr[k]), splat(hr[k + q])), blend(splat(hi[k]), splat(hi[k + q]))
        outr, outi = real_unpack(odds(load(ar, i), load(ar, j)), odds(load(ai, i), load(ai, j)),
                                 odds(load(ar, c), load(ar, d)), -odds(load(ai, c), load(ai, d)), wr, wi, h)
        store(br, LANES * k, outr)
        store(bi, LANES * k, outi)
    _unpack_pairs(br, bi, q, yv)


@njit(cache=True, inline="always")
def _forward_split_rows(x, y, r0, ints, floats, quarter_ints, quarter_floats):
    """Rows r0 .. r0 + HALF - 1 of x (rows, n) into y (rows, n) as pairs, one split block (_forward_split); a
    short last run through padded copies. ints, floats: plan(n)'s; quarter_*: plan(n // 2)'s."""
    _, _, _, hr, hi = views(ints, floats)
    q, big, stages, _, _ = views(quarter_ints, quarter_floats)  # big: 0, no Bluestein here
    zr, zi, work = _scratch(q, big, None, y)
    n = x.shape[1]
    count = min(HALF, x.shape[0] - r0)
    if count == HALF:
        _forward_split(x[r0 : r0 + HALF].reshape(LANES, n // 2), y[r0 : r0 + HALF].reshape(LANES, n // 2), zr, zi,
                       work, stages, hr, hi)
    else:
        xs, ys = np.empty((HALF, n), x.dtype), np.empty((HALF, n), y.dtype)
        _copy_rows(x, r0, count, xs)
        _forward_split(xs.reshape(LANES, n // 2), ys.reshape(LANES, n // 2), zr, zi, work, stages, hr, hi)
        _copy_back(ys, count, y, r0)


# --- runs of blocks, with scratch allocated once ---


@inner
def _scratch(m, big, tables, dtype_of):
    """The block's re and im (m LANES each) and four work arrays (max(m, big) LANES; the last two empty
    unless Bluestein: tables not None), carved from one buffer, each 32 elements past the end of the one before:
    arrays a large power of two apart share cache sets, and at m = 32768 the late stages (four
    streams read, four written) ran 2-3x slower for it (0.7-1.1 against 0.3 ns a point, measured)."""
    size, wide = m * LANES, max(m, big) * LANES
    stride = wide + 32
    parts = 4 if tables is None else 6
    buf = np.empty(parts * stride, dtype_of.dtype)
    w4, w5 = (buf[:0], buf[:0]) if parts == 4 else (buf[4 * stride : 4 * stride + wide], buf[5 * stride : 5 * stride + wide])
    return buf[:size], buf[stride : stride + size], (buf[2 * stride : 2 * stride + wide],
                                                      buf[3 * stride : 3 * stride + wide], w4, w5)


# Element loops, not `dst[:count] = src[r0:]`: an array assignment brings Numba's shape-mismatch error message
# with it, string formatting that took 2.3 s of the first call's compilation (measured with numba.core.event).


@inner
def _copy_rows(src, r0, count, dst):
    """dst (rows, n) = rows r0 .. r0 + count of src, then row r0 again in the spare rows."""
    for t in range(dst.shape[0]):
        row = src[r0 + t if t < count else r0]
        out = dst[t]
        for i in range(row.size):
            out[i] = row[i]


@inner
def _copy_back(src, count, dst, r0):
    """dst[r0 + t] = src[t] for t < count."""
    for t in range(count):
        row = src[t]
        out = dst[r0 + t]
        for i in range(row.size):
            out[i] = row[i]


@njit(cache=True, inline="always")
def _forward_blocks(x, y, b0, b1, ints, floats, tables):
    """Blocks b0 <= b < b1 of LANES rows; a last block of fewer rows goes through padded copies.
    ints, floats, tables: plan()'s (tables None unless Bluestein). Inlined into the task functions, its
    one caller each: compiled once there, not once on its own and again inside them."""
    m, big, stages, hr, hi = views(ints, floats)
    zr, zi, work = _scratch(m, big, tables, y)
    rows = x.shape[0]
    spare = LANES if rows % LANES else 0  # the padded copies, where a block is short
    xs, ys = np.empty((spare, x.shape[1]), x.dtype), np.empty((spare, y.shape[1]), y.dtype)
    for b in range(b0, b1):
        r0 = b * LANES
        count = min(LANES, rows - r0)
        src, dst = x[r0 : r0 + LANES], y[r0 : r0 + LANES]
        if count < LANES:
            _copy_rows(x, r0, count, xs)  # spare lanes: copies of row r0, any finite row; their results are dropped
            src, dst = xs, ys
        _forward_block(src, dst, zr, zi, work, stages, tables, hr, hi)
        if count < LANES:
            _copy_back(ys, count, y, r0)


@njit(cache=True, inline="always")
def _backward_blocks(g, grad_x, b0, b1, ints, floats, tables):
    """_forward_blocks' twin for the backward."""
    m, big, stages, hr, hi = views(ints, floats)
    zr, zi, work = _scratch(m, big, tables, grad_x)
    rows = g.shape[0]
    spare = LANES if rows % LANES else 0
    gs, outs = np.empty((spare, g.shape[1]), g.dtype), np.empty((spare, grad_x.shape[1]), grad_x.dtype)
    for b in range(b0, b1):
        r0 = b * LANES
        count = min(LANES, rows - r0)
        src, dst = g[r0 : r0 + LANES], grad_x[r0 : r0 + LANES]
        if count < LANES:
            _copy_rows(g, r0, count, gs)
            src, dst = gs, outs
        _backward_block(src, dst, zr, zi, work, stages, tables, hr, hi)
        if count < LANES:
            _copy_back(outs, count, grad_x, r0)


# The tasks: each takes a contiguous run of blocks, through its task function's entry (_native: its code compiled
# once, whether the tasks run on the threads or, for small inputs, as one task on this thread). A task function
# per direction and per kind of length: Bluestein's tables reach _forward_blocks and _backward_blocks as None or
# as arrays, two types when Numba compiles, so that lengths without a large prime factor compile no Bluestein
# code (transform); a C callback's arguments cannot carry that difference. Each gets its out, dst, and its
# arguments as args (_run): src, ints, floats (addresses), rows, n, ints.size, floats.size, tasks; only the work
# is inside `try` (_native).


@njit(cache=True, inline="always")
def _task_arrays(dst, args, task, src_width, dst_width):
    """(src (rows, src_width), dst (rows, dst_width), ints, floats, b0, b1): the arrays, and the run of blocks
    b0 <= b < b1 of task `task`."""
    rows, tasks = args[3], args[7]
    blocks = (rows + LANES - 1) // LANES
    return (carray(pointer(args[0], dst), (rows, src_width)), carray(dst, (rows, dst_width)),
            carray(pointer(args[1], np.int64), args[5]), carray(pointer(args[2], dst), args[6]),
            task * blocks // tasks, (task + 1) * blocks // tasks)


def _forward_task(y, args, task):
    """Task `task` of the forward: x (rows, n) real, y (rows, 2 (n // 2)) as pairs."""
    n = args[4]
    x_, y_, ints, floats, b0, b1 = _task_arrays(y, args, task, n, 2 * (n // 2))
    try:
        _forward_blocks(x_, y_, b0, b1, ints, floats, None)
    except Exception:  # noqa: BLE001 -- an exception cannot leave a C callback: the driver reports it
        return 1
    return 0


def _forward_task_bluestein(y, args, task):
    """_forward_task for lengths with a large prime factor."""
    n = args[4]
    x_, y_, ints, floats, b0, b1 = _task_arrays(y, args, task, n, 2 * (n // 2))
    try:
        _forward_blocks(x_, y_, b0, b1, ints, floats, bluestein_tables(ints, floats))
    except Exception:  # noqa: BLE001
        return 1
    return 0


def _forward_split_task(y, args, task):
    """Task `task` of the forward in split blocks: rows HALF task .. HALF task + HALF - 1. args: _forward_task's,
    then plan(n // 2)'s ints and floats (addresses, sizes: args[8] .. args[11])."""
    n = args[4]
    x_, y_, ints, floats, _, _ = _task_arrays(y, args, 0, n, 2 * (n // 2))
    quarter_ints, quarter_floats = carray(pointer(args[8], np.int64), args[10]), carray(pointer(args[9], y), args[11])
    try:
        _forward_split_rows(x_, y_, HALF * task, ints, floats, quarter_ints, quarter_floats)
    except Exception:  # noqa: BLE001
        return 1
    return 0


def _backward_task(grad_x, args, task):
    """Task `task` of the backward: g (rows, 2 (n // 2)) as pairs, grad_x (rows, n)."""
    n = args[4]
    g_, grad_x_, ints, floats, b0, b1 = _task_arrays(grad_x, args, task, 2 * (n // 2), n)
    try:
        _backward_blocks(g_, grad_x_, b0, b1, ints, floats, None)
    except Exception:  # noqa: BLE001
        return 1
    return 0


def _backward_task_bluestein(grad_x, args, task):
    """_backward_task for lengths with a large prime factor."""
    n = args[4]
    g_, grad_x_, ints, floats, b0, b1 = _task_arrays(grad_x, args, task, 2 * (n // 2), n)
    try:
        _backward_blocks(g_, grad_x_, b0, b1, ints, floats, bluestein_tables(ints, floats))
    except Exception:  # noqa: BLE001
        return 1
    return 0


@njit(cache=True, inline="always")
def _set_args(args, src, n, tasks, ints, floats):
    """args[:8], what every task function reads (_task_arrays): src, ints, floats (addresses), rows, n, ints.size,
    floats.size, tasks."""
    args[0], args[1], args[2], args[3] = src.ctypes.data, ints.ctypes.data, floats.ctypes.data, src.shape[0]
    args[4], args[5], args[6], args[7] = n, ints.size, floats.size, tasks


@njit(cache=True)
def _run(src, dst, n, tasks, ints, floats, entry, runner):
    """entry's tasks over src and dst (C-contiguous: read by address): on the threads where runner is
    _native.runner(), else (0) on this thread. Returns nonzero where a task failed."""
    block, args = task_block(entry, dst.ctypes.data, np.int64(8))
    _set_args(args, src, n, tasks, ints, floats)
    return run_tasks(runner, block, tasks)


@njit(cache=True)
def _run_split(x, y, n, ints, floats, quarter_ints, quarter_floats, entry, solo_entry, runner):
    """x (rows, n), HALF < rows <= LANES, into y: _forward_split_task's two tasks (entry) on two threads where
    runner finds a second (a quick runner), else the whole block as one _forward_task (solo_entry), cheaper on
    one thread (run_tasks' solo block). Returns nonzero where a task failed."""
    block, args = task_block(entry, y.ctypes.data, np.int64(12))
    solo, solo_args = task_block(solo_entry, y.ctypes.data, np.int64(8))
    _set_args(args, x, n, np.int64(2), ints, floats)
    _set_args(solo_args, x, n, np.int64(1), ints, floats)
    args[8], args[9] = quarter_ints.ctypes.data, quarter_floats.ctypes.data
    args[10], args[11] = quarter_ints.size, quarter_floats.size
    block[_SOLO] = solo.ctypes.data
    failed = run_tasks(runner, block, 2)
    return max(failed, solo[1])  # solo read after the call: alive through it


def _in_tasks(task_function, src, dst, n, tasks, ints, floats):
    """task_function's tasks: on the threads where tasks > 1; on those awake only (a quick runner) for small
    inputs."""
    threads = 0 if tasks == 1 else runner(quick=src.shape[0] * complex_length(n) < _PARALLEL_MIN_POINTS)
    if _run(src, dst, n, tasks, ints, floats, task_entry(task_function, src.dtype), threads):
        raise MemoryError(f"fft_half: a task of {task_function.__name__} failed (out of memory for its scratch)")


# rows * m below which a transform takes under ~20 us on one thread, less than waking a sleeping worker costs:
# there the blocks go to the workers only if they are awake, or the calls come back to back (_pool.start's
# quick calls). Measured with /tmp/r/gap.py (a call's _run, medians, 2026-11-25): (16, 1000) one thread
# 8.5-8.6 us whatever the gap between calls; two threads 5.4 us back to back, 17-18 us with 0.1-1 ms of other
# work between calls (the futex wake alone costs the waker about 7 us on this VM, /tmp/r/c/fw.c).
_PARALLEL_MIN_POINTS = 1 << 14
# From this length a block of HALF < rows <= LANES rows is split between two threads (_forward_split).
_SPLIT_MIN_LENGTH = 1024
_COMPLEX = {np.dtype(np.float32): np.dtype(np.complex64), np.dtype(np.float64): np.dtype(np.complex128)}


_TASKS_PER_THREAD = 8


def _tasks(rows: int, n: int) -> int:
    """Runs of LANES-row blocks: up to _TASKS_PER_THREAD per thread, which the threads take as they get to them
    (_native.run_tasks: a thread on a busy core takes fewer); one run on this thread for one block.

    Counted against Numba's thread pool (config.NUMBA_NUM_THREADS), not get_num_threads(),
    which costs 1 us a call here (measured; a fifth of a small transform's overhead).
    """
    blocks = -(-rows // LANES)
    if blocks < 2:
        return 1
    return min(blocks, _TASKS_PER_THREAD * config.NUMBA_NUM_THREADS)


def fft_half(x):
    """x (B, n) float → (B, n // 2) complex: fft(x)[:, :n // 2]."""
    rows, n = x.shape
    y = _alloc.empty((rows, n // 2), _COMPLEX[x.dtype])
    if rows == 0 or n < 2:
        return y
    if _long.is_long(n):
        _long.fft_half(x, y)
        return y
    ints, floats, tables = plan(n, x.dtype)
    if tables is None and HALF < rows <= LANES and n % 8 == 0 and n >= _SPLIT_MIN_LENGTH:
        if _run_split(np.ascontiguousarray(x), y.view(x.dtype), n, ints, floats, *plan(n // 2, x.dtype)[:2],
                      task_entry(_forward_split_task, x.dtype), task_entry(_forward_task, x.dtype), runner(quick=True)):
            raise MemoryError("fft_half: a task of _forward_split_task failed (out of memory for its scratch)")
        return y
    _in_tasks(_forward_task if tables is None else _forward_task_bluestein, np.ascontiguousarray(x), y.view(x.dtype),
              n, _tasks(rows, n), ints, floats)
    return y


def fft_half_backward(grad_y, n):
    """grad_y (B, n // 2) complex → grad_x (B, n) real."""
    rows = grad_y.shape[0]
    dtype = grad_y.real.dtype
    grad_x = _alloc.empty((rows, n), dtype)
    if rows == 0:
        return grad_x
    if n == 1:  # no coefficient is returned for one sample: nothing depends on it
        grad_x[:] = 0
        return grad_x
    if _long.is_long(n):
        _long.fft_half_backward(grad_y, grad_x)
        return grad_x
    ints, floats, tables = plan(n, dtype)
    _in_tasks(_backward_task if tables is None else _backward_task_bluestein, np.ascontiguousarray(grad_y).view(dtype),
              grad_x, n, _tasks(rows, n), ints, floats)
    return grad_x
