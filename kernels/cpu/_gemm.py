"""out = relu?(a @ b + bias?) on AVX-512: our GEMM, with the bias and ReLU applied while C is in registers.

Shapes: a (n, k) and b (k, m) with any strides (transposed views too), bias (m,), out (n, m)
C-contiguous, one float dtype.

Why our own: NumPy's OpenBLAS may run AVX2 kernels on an AVX-512 CPU (this project's
machines pin OPENBLAS_CORETYPE=Haswell), and even with its own AVX-512 kernels its
epilogue is a second pass over C. (65536, 64) @ (64, 64) with bias and ReLU, float32,
2 cores: 1.47 ms here, np.matmul alone 3.6 ms, JAX's jit'ed layer 1.87 ms.

The plan is GotoBLAS's, kept small:
- b is packed once a call into panels of NR = 4 vectors of columns, (panels, k, NR), zero
  past column m, so a tile reads one contiguous row of its panel per step of k.
- A tile is MR = 6 rows x NR columns of C: 24 accumulators of AVX-512's 32 registers;
  per step of k, 4 vector loads of b, 6 broadcasts of a, 24 FMAs.
- k is cut into blocks of KC, so a panel's block (KC x NR) and the tile's rows of a stay
  in the core's L2/L1 while the tile sums.
- Threads take tasks: a chunk of rows of C, or with fewer than MIN_TASKS chunks all rows and a
  run of panels, which the task packs itself; a task holds every k-block of its part of C, so no
  thread waits for another until the end (the threads take tasks as they get to them,
  _native.run_tasks, so a busy core slows only the tasks its thread took). With too few panels
  and a long k (x.T @ g for a narrow layer), k itself is split and the parts summed.
- Tiles that run past n or m go through small zero-padded copies (in _rows).
- Compiled callers that keep to their own thread (kernels.mlp_step) run one task directly (product_here) for
  the sizes suits_serial gives it.
"""

from functools import lru_cache

import numpy as np
from numba import carray, config, njit
from numba.extending import register_jitable

from ._inner import inner
from ._native import call, pointer, run_tasks, runner, task_block, task_entry
from ._wide import BYTES, at_least, lanes, load, mul_add, splat, splat_at, store

MR = 6
VECTORS = 4  # vectors of columns in a tile: NR = VECTORS * lanes(dtype)
KC = 512
CHUNK_ROWS = 16 * MR
PARALLEL_MIN_FLOPS = 1 << 21  # n k m below this: one thread, waking the team costs more than it saves
SUITS_MIN_FLOPS = 1 << 24
BLAS_THREADS_MIN_FLOPS = 1 << 18  # OpenBLAS runs a GEMM of more multiply-adds than this on its threads
MIN_TASKS = 8  # fewer tasks than this and a busy core would leave one thread a large share
MAX_K_PARTS = 16


@lru_cache(maxsize=None)
def available() -> bool:
    """True where Numba compiles for this CPU and it has AVX-512 (else out-of-register spills: use BLAS)."""
    import llvmlite.binding as llvm

    if config.CPU_NAME not in (None, "host"):  # compiling for a portable target: AVX-512 may be missing
        return False
    return bool(llvm.get_host_cpu_features().get("avx512f", False))


def panel_width(dtype) -> int:
    return VECTORS * lanes(np.dtype(dtype))


def suits(n, k, m, dtype) -> bool:
    """Whether gemm beats BLAS at (n, k) @ (k, m), measured side by side (float32, 2 cores): a tile of C
    is NR columns wide, so at m = 10 (a classifier's last layer) it computes 6x what is kept and took
    89 us against BLAS's 18 at (1024, 128) @ (128, 10); at k = 10, 28 us against 14. Above 2^24
    multiply-adds, always. Between PARALLEL_MIN_FLOPS and 2^24 a GEMM has too few tasks to share a busy
    core: the digits epoch at batch 1024, whose largest is (1024, 64) @ (64, 128) (47 against 69 us quiet),
    ran at 0.73x NumPy's speed with one core busy through ours, 1.05x through BLAS (fastlayers bench
    --busy 1).

    Below PARALLEL_MIN_FLOPS gemm runs on the calling thread alone, where OpenBLAS above
    BLAS_THREADS_MIN_FLOPS (interface/gemm.c: 4 x 65536) wakes its second thread: quiet, that is a few
    microseconds faster ((64, 64) @ (64, 128): 6.1-6.8 us, gemm 8.4, OpenBLAS on one thread 9.5); with a core
    taken by another process, the second thread, spinning about 0.2 ms after each product (kernels._cores),
    takes the free core from the caller's own work between its products. The digits epoch op by op at batch
    64 (fastlayers bench --only "train epoch", its first layer's products through one or the other, three
    runs each): quiet 2.27-2.33 ms through BLAS, 2.42-2.43 ms through gemm; with --busy 1, 4.38-6.76 ms
    through BLAS, 2.38-2.45 ms through gemm. gemm then. Below BLAS_THREADS_MIN_FLOPS OpenBLAS on one thread
    was as fast or faster ((29, 64) @ (64, 128): 5.5 against 6.1 us)."""
    flops = n * k * m
    return _fills_tiles(k, m, np.dtype(dtype).itemsize) and (
        flops >= SUITS_MIN_FLOPS or BLAS_THREADS_MIN_FLOPS < flops < PARALLEL_MIN_FLOPS)


def takes(n, k, m, dtype) -> bool:
    """Whether (n, k) @ (k, m) runs our GEMM: this CPU runs it (available) and it suits the shape (suits)."""
    return available() and suits(n, k, m, dtype)


def matmul(a, b, out):
    """out[:] = a @ b, (n, k) @ (k, m), out (n, m) C-contiguous: our GEMM where it takes the product, else NumPy's
    BLAS. Returns out."""
    if takes(a.shape[0], a.shape[1], b.shape[1], out.dtype):
        return gemm(a, b, None, False, out)
    return np.matmul(a, b, out=out)


@register_jitable
def _fills_tiles(k, m, itemsize):
    return m >= VECTORS * (BYTES // itemsize) and k >= 32


@register_jitable
def suits_serial(n, k, m, itemsize):
    """Whether gemm on the calling thread alone beats BLAS at (n, k) @ (k, m), for a caller that keeps its
    products on its own thread (kernels.mlp_step, through product_here); itemsize: the dtype's. As suits below
    PARALLEL_MIN_FLOPS, and on up to SUITS_MIN_FLOPS, where suits takes BLAS only because gemm's threads would
    have too few tasks to share a busy core: on one thread it starts none. The digits epoch at batch 1024, whose
    (1024, 64) @ (64, 128) products come here so (fastlayers.bench's epoch with jax's beside it, 15 rounds of
    medians, three processes each, alternating, 2026-11-24): quiet 554-769 -> 523-584 us, one core busy 670-831
    -> 579-610 us. Plain Python, and compiled where compiled code calls it."""
    return _fills_tiles(k, m, itemsize) and BLAS_THREADS_MIN_FLOPS < n * k * m < SUITS_MIN_FLOPS


@njit(cache=True)
def _pack(b, b_rs, b_cs, m, packed, j_lo, j_hi, k_lo, k_hi):
    """packed[j, kk, c] = b(kk, j NR + c) for panels j_lo <= j < j_hi and k_lo <= kk < k_hi, 0 past column m;
    packed (panels, k, NR), b(r, c) = b[r b_rs + c b_cs]."""
    nr = packed.shape[2]
    w = nr // VECTORS
    zero = packed.dtype.type(0)
    for j in range(j_lo, j_hi):
        c0 = j * nr
        if c0 + nr <= m and b_cs == 1:  # a whole panel of rows with unit stride: vector copies
            for kk in range(k_lo, k_hi):
                row = kk * b_rs + c0
                store(packed, (j, kk, 0), load(b, (row,)))
                store(packed, (j, kk, w), load(b, (row + w,)))
                store(packed, (j, kk, 2 * w), load(b, (row + 2 * w,)))
                store(packed, (j, kk, 3 * w), load(b, (row + 3 * w,)))
        else:
            for kk in range(k_lo, k_hi):
                for c in range(nr):
                    packed[j, kk, c] = b[kk * b_rs + (c0 + c) * b_cs] if c0 + c < m else zero


@njit(cache=True, inline="always")
def _tile(a, a_rs, a_cs, ar, ak, kc, packed, j, pk, bias, bc, c, cr, cc, first, floor):
    """c[cr : cr + 6, cc : cc + NR] = at_least((bias[bc : bc + NR] if first else c[cr : cr + 6, cc : cc + NR])
    + a(ar : ar + 6, ak : ak + kc) @ packed[j, pk : pk + kc], floor), where a(r, q) = a[r a_rs + q a_cs];
    floor: 0 for the ReLU, else -inf."""
    w = packed.shape[2] // VECTORS
    if first:
        c0 = load(bias, (bc,))
        c1 = load(bias, (bc + w,))
        c2 = load(bias, (bc + 2 * w,))
        c3 = load(bias, (bc + 3 * w,))
        a00, a01, a02, a03 = c0, c1, c2, c3
        a10, a11, a12, a13 = c0, c1, c2, c3
        a20, a21, a22, a23 = c0, c1, c2, c3
        a30, a31, a32, a33 = c0, c1, c2, c3
        a40, a41, a42, a43 = c0, c1, c2, c3
        a50, a51, a52, a53 = c0, c1, c2, c3
    else:
        a00, a01, a02, a03 = load(c, (cr, cc)), load(c, (cr, cc + w)), load(c, (cr, cc + 2 * w)), load(c, (cr, cc + 3 * w))
        a10, a11, a12, a13 = load(c, (cr + 1, cc)), load(c, (cr + 1, cc + w)), load(c, (cr + 1, cc + 2 * w)), load(c, (cr + 1, cc + 3 * w))
        a20, a21, a22, a23 = load(c, (cr + 2, cc)), load(c, (cr + 2, cc + w)), load(c, (cr + 2, cc + 2 * w)), load(c, (cr + 2, cc + 3 * w))
        a30, a31, a32, a33 = load(c, (cr + 3, cc)), load(c, (cr + 3, cc + w)), load(c, (cr + 3, cc + 2 * w)), load(c, (cr + 3, cc + 3 * w))
        a40, a41, a42, a43 = load(c, (cr + 4, cc)), load(c, (cr + 4, cc + w)), load(c, (cr + 4, cc + 2 * w)), load(c, (cr + 4, cc + 3 * w))
        a50, a51, a52, a53 = load(c, (cr + 5, cc)), load(c, (cr + 5, cc + w)), load(c, (cr + 5, cc + 2 * w)), load(c, (cr + 5, cc + 3 * w))
    r0 = ar * a_rs
    r1, r2, r3, r4, r5 = r0 + a_rs, r0 + 2 * a_rs, r0 + 3 * a_rs, r0 + 4 * a_rs, r0 + 5 * a_rs
    for kk in range(kc):
        p = pk + kk
        b0, b1, b2, b3 = load(packed, (j, p, 0)), load(packed, (j, p, w)), load(packed, (j, p, 2 * w)), load(packed, (j, p, 3 * w))
        q = (ak + kk) * a_cs
        x = splat_at(a, (r0 + q,))
        a00, a01, a02, a03 = mul_add(x, b0, a00), mul_add(x, b1, a01), mul_add(x, b2, a02), mul_add(x, b3, a03)
        x = splat_at(a, (r1 + q,))
        a10, a11, a12, a13 = mul_add(x, b0, a10), mul_add(x, b1, a11), mul_add(x, b2, a12), mul_add(x, b3, a13)
        x = splat_at(a, (r2 + q,))
        a20, a21, a22, a23 = mul_add(x, b0, a20), mul_add(x, b1, a21), mul_add(x, b2, a22), mul_add(x, b3, a23)
        x = splat_at(a, (r3 + q,))
        a30, a31, a32, a33 = mul_add(x, b0, a30), mul_add(x, b1, a31), mul_add(x, b2, a32), mul_add(x, b3, a33)
        x = splat_at(a, (r4 + q,))
        a40, a41, a42, a43 = mul_add(x, b0, a40), mul_add(x, b1, a41), mul_add(x, b2, a42), mul_add(x, b3, a43)
        x = splat_at(a, (r5 + q,))
        a50, a51, a52, a53 = mul_add(x, b0, a50), mul_add(x, b1, a51), mul_add(x, b2, a52), mul_add(x, b3, a53)
    store(c, (cr, cc), at_least(a00, floor)), store(c, (cr, cc + w), at_least(a01, floor)), store(c, (cr, cc + 2 * w), at_least(a02, floor)), store(c, (cr, cc + 3 * w), at_least(a03, floor))
    store(c, (cr + 1, cc), at_least(a10, floor)), store(c, (cr + 1, cc + w), at_least(a11, floor)), store(c, (cr + 1, cc + 2 * w), at_least(a12, floor)), store(c, (cr + 1, cc + 3 * w), at_least(a13, floor))
    store(c, (cr + 2, cc), at_least(a20, floor)), store(c, (cr + 2, cc + w), at_least(a21, floor)), store(c, (cr + 2, cc + 2 * w), at_least(a22, floor)), store(c, (cr + 2, cc + 3 * w), at_least(a23, floor))
    store(c, (cr + 3, cc), at_least(a30, floor)), store(c, (cr + 3, cc + w), at_least(a31, floor)), store(c, (cr + 3, cc + 2 * w), at_least(a32, floor)), store(c, (cr + 3, cc + 3 * w), at_least(a33, floor))
    store(c, (cr + 4, cc), at_least(a40, floor)), store(c, (cr + 4, cc + w), at_least(a41, floor)), store(c, (cr + 4, cc + 2 * w), at_least(a42, floor)), store(c, (cr + 4, cc + 3 * w), at_least(a43, floor))
    store(c, (cr + 5, cc), at_least(a50, floor)), store(c, (cr + 5, cc + w), at_least(a51, floor)), store(c, (cr + 5, cc + 2 * w), at_least(a52, floor)), store(c, (cr + 5, cc + 3 * w), at_least(a53, floor))


@inner
def _rows(a, a_rs, a_cs, packed, bias, out, r_lo, r_hi, k_lo, k_hi, j_lo, j_hi, apply_relu):
    """out[r_lo : r_hi] = relu?(a(r_lo : r_hi, k_lo : k_hi) @ b[k_lo : k_hi] + bias) in panels j_lo to j_hi:
    by k-blocks, then panels, then tiles of MR rows; bias (panels NR,) zero-padded.

    Tiles that run past n or m go through zero-padded copies a_copy (MR KC,) and c_copy (MR, NR), so
    nothing past a or out is read or written; a is copied only where rows are missing.

    a is read in place, not packed: for a = x.T (the backward's x.T @ g), whose tile reads MR
    neighbours from each of kc rows of x 4 KiB apart, a packed copy cost more than it saved
    ((1024, 4096) @ (4096, 1024): 25.5 ms packed, 24-29 ms in place, 20.8-22 ms from a contiguous x.T,
    np.ascontiguousarray(x.T) alone 26 ms)."""
    n, m = out.shape
    nr = packed.shape[2]
    a_copy = np.empty(MR * KC, a.dtype)
    c_copy = np.empty((MR, nr), a.dtype)
    zero = a.dtype.type(0)
    origin = np.intp(0)
    for k0 in range(k_lo, k_hi, KC):
        kc = min(KC, k_hi - k0)
        first, last = k0 == k_lo, k0 + kc == k_hi
        floor = splat(zero if last and apply_relu else a.dtype.type(-np.inf))
        for j in range(j_lo, j_hi):
            c0 = j * nr
            cols = min(nr, m - c0)
            for r in range(r_lo, r_hi, MR):
                rows = min(MR, r_hi - r)
                src, rs, cs, ar = a, a_rs, a_cs, r
                dst, cr, cc = out, r, c0
                if rows < MR:
                    for i in range(MR):
                        for kk in range(kc):
                            a_copy[i * KC + kk] = a[(r + i) * a_rs + (k0 + kk) * a_cs] if i < rows else zero
                    src, rs, cs, ar = a_copy, np.intp(KC), np.intp(1), origin
                edge = rows < MR or cols < nr
                if edge:
                    dst, cr, cc = c_copy, origin, origin
                    if not first:
                        for i in range(rows):
                            for q in range(cols):
                                c_copy[i, q] = out[r + i, c0 + q]
                # One call site, inlined: each compiled copy of the tile is optimized and compiled to machine
                # code again at every level of calls above it (0.3-0.7 s each on a cold first call).
                _tile(src, rs, cs, ar, k0 if rows == MR else origin, kc, packed, j, k0, bias, c0, dst, cr, cc,
                      first, floor)
                if edge:
                    for i in range(rows):
                        for q in range(cols):
                            out[r + i, c0 + q] = c_copy[i, q]


def _task_entry(parts, args, task):
    """Task `task` of _tasks (a C callback, _native): parts[p] for its chunk of rows, run of panels and part p of
    k; args as _tasks writes them. Returns 0, or 1 where it raised."""
    a_size, a_rs, a_cs, k = args[1], args[2], args[3], args[4]
    b_size, b_rs, b_cs, m = args[6], args[7], args[8], args[9]
    pack, panels, nr, k_parts, n, chunk_rows, panel_groups, apply_relu = (args[10], args[12], args[13], args[15],
                                                                          args[16], args[17], args[18], args[19])
    a_, b_ = carray(pointer(args[0], parts), a_size), carray(pointer(args[5], parts), b_size)
    packed_ = carray(pointer(args[11], parts), (panels, k, nr))
    parts_ = carray(parts, (k_parts, n, m))
    step = (panels + panel_groups - 1) // panel_groups
    k_step = (k + k_parts - 1) // k_parts
    chunk, group, part = task // (panel_groups * k_parts), task // k_parts % panel_groups, task % k_parts
    j_lo, j_hi = group * step, min(panels, (group + 1) * step)
    k_lo, k_hi = part * k_step, min(k, (part + 1) * k_step)
    bias_ = carray(pointer(args[14] if part == 0 else args[20], parts), panels * nr)  # the bias once, in part 0
    try:
        if pack:
            _pack(b_, b_rs, b_cs, m, packed_, j_lo, j_hi, k_lo, k_hi)
        _rows(a_, a_rs, a_cs, packed_, bias_, parts_[part], chunk * chunk_rows,
              min(n, (chunk + 1) * chunk_rows), k_lo, k_hi, j_lo, j_hi, apply_relu != 0 and k_parts == 1)
    except Exception:  # noqa: BLE001 -- an exception cannot leave a C callback: _tasks reports it
        return 1
    return 0


@njit(cache=True, inline="always")
def _task_block(a, a_rs, a_cs, k, b, b_rs, b_cs, m, pack, packed, bias, zero_bias, parts, chunk_rows, panel_groups,
                apply_relu, entry):
    """The task block of _tasks' arguments (_native.task_block), filled as _task_entry reads them."""
    k_parts, n, _ = parts.shape
    block, args = task_block(entry, parts.ctypes.data, np.int64(21))
    args[0], args[1], args[2], args[3], args[4] = a.ctypes.data, a.size, a_rs, a_cs, k
    args[5], args[6], args[7], args[8], args[9] = b.ctypes.data, b.size, b_rs, b_cs, m
    args[10], args[11], args[12], args[13] = pack, packed.ctypes.data, packed.shape[0], packed.shape[2]
    args[14], args[15], args[16] = bias.ctypes.data, k_parts, n
    args[17], args[18], args[19], args[20] = chunk_rows, panel_groups, apply_relu, zero_bias.ctypes.data
    return block


# The GEMM's one driver, compiled once a dtype whatever the layouts of a and b. Its tasks run _task_entry through
# its address (_native): Numba optimizes and compiles to machine code every function a compiled function calls
# once more inside it (2.0 s of a cold first call when a prange loop called the task's code directly).
@njit(cache=True)
def _tasks(a, a_rs, a_cs, k, b, b_rs, b_cs, m, pack, packed, bias, zero_bias, parts, chunk_rows, panel_groups,
           apply_relu, tasks, entry, runner):
    """parts[p] = a(:, p-th run of k) @ b(same run of k) (+ bias if p == 0), relu'd if there is one part,
    parts (k_parts, n, m). `tasks` tasks of chunk_rows rows (a multiple of MR), one of panel_groups runs of panels
    and one run of k, on the threads where there are several (_native.run_tasks: a busy core slows only the
    tasks its thread took). pack: each task first packs its own panels and run of k of b into packed (only
    with one chunk of rows, where no two tasks share them); else packed holds b already. zero_bias: zeros the size
    of bias, the other parts' (passed, not made in the task: np.zeros_like there took 0.19 s of a cold first call).
    entry: _task_entry's address; runner: _native.runner(), or 0 for one task. Returns nonzero where a task failed."""
    block = _task_block(a, a_rs, a_cs, k, b, b_rs, b_cs, m, pack, packed, bias, zero_bias, parts, chunk_rows,
                        panel_groups, apply_relu, entry)
    return run_tasks(runner, block, tasks)


@lru_cache(maxsize=None)
def _zeros(size, dtype):
    """A zero bias of `size` elements, made once a size and dtype; nothing writes it (not marked read-only:
    Numba would compile _tasks again for a read-only array)."""
    return np.zeros(size, dtype)


def _padded_bias(bias, size, dtype):
    """bias (m,) or None as `size` >= m elements, zero past m: bias itself where it already is that (gemm at
    (64, 64) @ (64, 128) with a bias took 9.05 us padding a copy each call, 8.05 us so)."""
    if bias is None:
        return _zeros(size, np.dtype(dtype))
    if bias.size == size and bias.dtype == dtype and bias.flags.c_contiguous:
        return bias
    padded = np.zeros(size, dtype)
    padded[: bias.size] = bias
    return padded


def _elements(arr):
    """arr (r, c) as (its elements in memory order (r c,), row stride, column stride), strides in elements:
    every layout reaches the compiled code as one type, so Numba compiles the GEMM once, not once for
    a C-contiguous a and again for x.T (2.1 s of the backward's cold first call, measured). Arrays
    that are neither C- nor F-contiguous are copied first."""
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr)
    return arr.ravel(order="K"), arr.strides[0] // arr.itemsize, arr.strides[1] // arr.itemsize


def _panels(b, nr):
    """(packed, to_pack): b itself as (1, k, nr) where it is one whole C-contiguous panel, nothing to pack;
    else a new (panels, k, nr) array for the packing to fill."""
    k, m = b.shape
    if m == nr and b.flags.c_contiguous:
        return b.reshape(1, k, nr), False
    return np.empty(((m + nr - 1) // nr, k, nr), b.dtype), True


def sharing(n, k, m, panels):
    """How gemm cuts (n, k) @ (k, m), m in `panels` panels, into tasks: (chunk_rows, panel_groups, k_parts),
    tasks = chunks of rows x groups of panels x parts of k.

    Below PARALLEL_MIN_FLOPS one task. Else chunks of CHUNK_ROWS rows where that makes MIN_TASKS of them;
    else the panels cut into groups, a number that divides them where one does, with one chunk of all
    rows where that makes MIN_TASKS tasks ((256, 1024) @ (1024, 1024), 16 panels: 3 chunks of rows x 3
    uneven groups 1.33 ms, x 2 or 4 even ones 1.10 ms, one chunk x 8 groups 1.07 ms); else chunks and
    groups together, or where that is still too few tasks and k is long (x.T @ g for a narrow layer),
    one chunk, the groups and parts of k, summed after."""
    tiles = -(-n // MR)
    if n * k * m < PARALLEL_MIN_FLOPS:
        return tiles * MR, 1, 1
    chunks = -(-tiles // (CHUNK_ROWS // MR))
    chunk_rows = -(-tiles // chunks) * MR  # chunks of as even a size as the tiles allow
    if chunks >= MIN_TASKS:
        return chunk_rows, 1, 1
    wanted = min(panels, MIN_TASKS)
    groups = next((g for g in range(wanted, panels + 1) if panels % g == 0), wanted)
    if groups >= MIN_TASKS:
        return tiles * MR, groups, 1
    if chunks * groups >= MIN_TASKS or k < 2 * KC:
        return chunk_rows, groups, 1
    return tiles * MR, groups, min(MAX_K_PARTS, k // KC)


def gemm(a, b, bias, apply_relu, out):
    """out[:] = relu?(a @ b + bias?): a (n, k), b (k, m), bias (m,) or None, out (n, m) C-contiguous, k >= 1.

    b is packed into panels (panels, k, NR), zero past column m, by the tasks themselves where there is one
    chunk of rows (4 MiB of (1024, 1024) took 0.1 ms on one thread), else before them; a b that is one whole
    C-contiguous panel is its own packed form."""
    n, k = a.shape
    m = b.shape[1]
    nr = panel_width(out.dtype)
    panels = (m + nr - 1) // nr
    padded_bias = _padded_bias(bias, panels * nr, out.dtype)
    chunk_rows, panel_groups, k_parts = sharing(n, k, m, panels)
    b_elements, b_rs, b_cs = _elements(b)
    packed, to_pack = _panels(b, nr)
    pack_in_tasks = to_pack and chunk_rows >= n
    if to_pack and not pack_in_tasks:
        _pack(b_elements, b_rs, b_cs, m, packed, 0, panels, 0, k)
    parts = out.reshape(1, n, m) if k_parts == 1 else np.empty((k_parts, n, m), out.dtype)
    tasks = -(-n // chunk_rows) * panel_groups * k_parts
    if _tasks(*_elements(a), k, b_elements, b_rs, b_cs, m, pack_in_tasks, packed, padded_bias,
              _zeros(padded_bias.size, out.dtype), parts, chunk_rows, panel_groups, apply_relu, tasks,
              task_entry(_task_entry, out.dtype), runner() if tasks > 1 else 0):
        raise MemoryError("gemm: a task failed (out of memory for its edge tiles' copies)")
    if k_parts > 1:  # NumPy's sum: nothing more for Numba to compile
        np.sum(parts, axis=0, out=out)
        if apply_relu:
            np.maximum(out, 0, out=out)  # NaN stays NaN
    return out


@inner
def product_here(a, a_rs, a_cs, b, b_rs, b_cs, bias, apply_relu, out, entry):
    """out[:] = relu?(a(n, k) @ b(k, m) + bias?) through gemm's tasks on the calling thread, for compiled callers
    (kernels.mlp_step) where suits_serial; else nothing. a(r, q) = a[r a_rs + q a_cs] and b(q, c) =
    b[q b_rs + c b_cs] (a, b: elements in memory order, strides in elements: transposed views too), bias (m,) or
    (0,) for none, out (n, m) C-contiguous; entry: task_entry(_task_entry, out's dtype), or 0 for none.

    The task is gemm's C callback (compiled once, shared with the linear layers' calls), called here directly:
    through run_tasks its caller would link in the threading layer's symbols, which exist only once Numba's
    threads have started. Returns -1 where it did nothing (the caller's BLAS product then), 0 when done, 1
    where the task failed (out of memory)."""
    n, m = out.shape
    if entry == 0 or n == 0:
        return -1
    k = a.size // n
    if not suits_serial(n, k, m, out.itemsize):
        return -1
    nr = VECTORS * (BYTES // out.itemsize)
    panels = (m + nr - 1) // nr
    padded = np.zeros(panels * nr, out.dtype)
    for c in range(bias.size):
        padded[c] = bias[c]
    packed = np.empty((panels, k, nr), out.dtype)
    block = _task_block(a, a_rs, a_cs, np.int64(k), b, b_rs, b_cs, np.int64(m), np.bool_(True), packed, padded,
                        padded, out.reshape((1, n, m)), np.int64(-(-n // MR) * MR), np.int64(1), apply_relu,
                        entry)  # one part of k: no zero bias read (padded stands in)
    block[1] = call(block[0], (block[2], block[3], np.int64(0)))  # its one task
    return block[1]  # read after the call: the block (its arguments) stays alive through it
