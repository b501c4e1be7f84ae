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
- Threads take tasks: a chunk of rows of C, and with fewer than MIN_TASKS chunks a run of its
  panels; a task holds every k-block of its part of C, so no thread waits for another until
  the end (TBB steals tasks, so a busy core slows one thread's share only). With one chunk of
  one panel and a long k (x.T @ g for a narrow layer), k itself is split and the parts summed.
- Tiles that run past n or m go through small zero-padded copies (_edge_tile).
"""

import numpy as np
from numba import config, njit, prange

from ._wide import lanes, load, mul_add, relu, splat, store

MR = 6
VECTORS = 4  # vectors of columns in a tile: NR = VECTORS * lanes(dtype)
KC = 512
CHUNK_ROWS = 16 * MR
PARALLEL_MIN_FLOPS = 1 << 21  # n k m below this: one thread, waking the team costs more than it saves
SUITS_MIN_FLOPS = 1 << 24
MIN_TASKS = 8  # fewer tasks than this and a busy core would leave one thread a large share
MAX_K_PARTS = 16


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
    89 us against BLAS's 18 at (1024, 128) @ (128, 10); at k = 10, 28 us against 14. Below 2^24
    multiply-adds a GEMM has too few tasks to share a busy core: the digits epoch at batch 1024, whose
    largest is (1024, 64) @ (64, 128) (47 against 69 us quiet), ran at 0.73x NumPy's speed with one core
    busy through ours, 1.05x through BLAS (fastlayers bench --busy 1)."""
    return m >= panel_width(dtype) and k >= 32 and n * k * m >= SUITS_MIN_FLOPS


@njit(cache=True)
def _pack(b, packed):
    """packed[j, kk, c] = b[kk, j NR + c], 0 past b's last column; packed (panels, k, NR). One thread: in
    parallel it saved 0.1 of the 18 ms of (4096, 1024) @ (1024, 1024) and cost 0.7 s of compiling."""
    k, m = b.shape
    panels, _, nr = packed.shape
    w = nr // VECTORS
    zero = packed.dtype.type(0)
    for j in range(panels):
        c0 = j * nr
        if c0 + nr <= m and b.strides[1] == b.itemsize:  # a whole panel of rows with unit stride: vector copies
            for kk in range(k):
                store(packed, (j, kk, 0), load(b, (kk, c0)))
                store(packed, (j, kk, w), load(b, (kk, c0 + w)))
                store(packed, (j, kk, 2 * w), load(b, (kk, c0 + 2 * w)))
                store(packed, (j, kk, 3 * w), load(b, (kk, c0 + 3 * w)))
        else:
            for kk in range(k):
                for c in range(nr):
                    packed[j, kk, c] = b[kk, c0 + c] if c0 + c < m else zero


@njit(cache=True)
def _tile(a, ar, ak, kc, packed, j, pk, bias, bc, c, cr, cc, first, last, apply_relu):
    """c[cr : cr + 6, cc : cc + NR] (+)= a[ar : ar + 6, ak : ak + kc] @ packed[j, pk : pk + kc].

    first: start from bias[bc : bc + NR], else from c; last: apply the ReLU (if apply_relu) and store.
    """
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
    for kk in range(kc):
        p = pk + kk
        b0, b1, b2, b3 = load(packed, (j, p, 0)), load(packed, (j, p, w)), load(packed, (j, p, 2 * w)), load(packed, (j, p, 3 * w))
        k = ak + kk
        x = splat(a[ar, k])
        a00, a01, a02, a03 = mul_add(x, b0, a00), mul_add(x, b1, a01), mul_add(x, b2, a02), mul_add(x, b3, a03)
        x = splat(a[ar + 1, k])
        a10, a11, a12, a13 = mul_add(x, b0, a10), mul_add(x, b1, a11), mul_add(x, b2, a12), mul_add(x, b3, a13)
        x = splat(a[ar + 2, k])
        a20, a21, a22, a23 = mul_add(x, b0, a20), mul_add(x, b1, a21), mul_add(x, b2, a22), mul_add(x, b3, a23)
        x = splat(a[ar + 3, k])
        a30, a31, a32, a33 = mul_add(x, b0, a30), mul_add(x, b1, a31), mul_add(x, b2, a32), mul_add(x, b3, a33)
        x = splat(a[ar + 4, k])
        a40, a41, a42, a43 = mul_add(x, b0, a40), mul_add(x, b1, a41), mul_add(x, b2, a42), mul_add(x, b3, a43)
        x = splat(a[ar + 5, k])
        a50, a51, a52, a53 = mul_add(x, b0, a50), mul_add(x, b1, a51), mul_add(x, b2, a52), mul_add(x, b3, a53)
    if last and apply_relu:
        a00, a01, a02, a03 = relu(a00), relu(a01), relu(a02), relu(a03)
        a10, a11, a12, a13 = relu(a10), relu(a11), relu(a12), relu(a13)
        a20, a21, a22, a23 = relu(a20), relu(a21), relu(a22), relu(a23)
        a30, a31, a32, a33 = relu(a30), relu(a31), relu(a32), relu(a33)
        a40, a41, a42, a43 = relu(a40), relu(a41), relu(a42), relu(a43)
        a50, a51, a52, a53 = relu(a50), relu(a51), relu(a52), relu(a53)
    store(c, (cr, cc), a00), store(c, (cr, cc + w), a01), store(c, (cr, cc + 2 * w), a02), store(c, (cr, cc + 3 * w), a03)
    store(c, (cr + 1, cc), a10), store(c, (cr + 1, cc + w), a11), store(c, (cr + 1, cc + 2 * w), a12), store(c, (cr + 1, cc + 3 * w), a13)
    store(c, (cr + 2, cc), a20), store(c, (cr + 2, cc + w), a21), store(c, (cr + 2, cc + 2 * w), a22), store(c, (cr + 2, cc + 3 * w), a23)
    store(c, (cr + 3, cc), a30), store(c, (cr + 3, cc + w), a31), store(c, (cr + 3, cc + 2 * w), a32), store(c, (cr + 3, cc + 3 * w), a33)
    store(c, (cr + 4, cc), a40), store(c, (cr + 4, cc + w), a41), store(c, (cr + 4, cc + 2 * w), a42), store(c, (cr + 4, cc + 3 * w), a43)
    store(c, (cr + 5, cc), a50), store(c, (cr + 5, cc + w), a51), store(c, (cr + 5, cc + 2 * w), a52), store(c, (cr + 5, cc + 3 * w), a53)


@njit(cache=True)
def _edge_tile(a, r0, k0, kc, packed, j, bias, out, first, last, apply_relu, a_copy, c_copy):
    """_tile for out's rows r0.. and panel j where fewer than MR rows or NR columns are left: through
    zero-padded copies a_copy (MR, KC) and c_copy (MR, NR), so nothing past a or out is read or written."""
    n, m = out.shape
    nr = packed.shape[2]
    rows, cols = min(MR, n - r0), min(nr, m - j * nr)
    if not first:
        for i in range(rows):
            for q in range(cols):
                c_copy[i, q] = out[r0 + i, j * nr + q]
    origin = np.intp(0)  # not the literal 0, which would compile a second _tile (0.4 s)
    if rows == MR:  # only columns missing: a is read in place
        _tile(a, r0, k0, kc, packed, j, k0, bias, j * nr, c_copy, origin, origin, first, last, apply_relu)
    else:
        zero = a_copy.dtype.type(0)
        for i in range(MR):
            for kk in range(kc):
                a_copy[i, kk] = a[r0 + i, k0 + kk] if i < rows else zero
        _tile(a_copy, origin, origin, kc, packed, j, k0, bias, j * nr, c_copy, origin, origin, first, last,
              apply_relu)
    for i in range(rows):
        for q in range(cols):
            out[r0 + i, j * nr + q] = c_copy[i, q]


@njit(cache=True)
def _rows(a, packed, bias, out, r_lo, r_hi, k_lo, k_hi, j_lo, j_hi, apply_relu):
    """out[r_lo : r_hi] = relu?(a[r_lo : r_hi, k_lo : k_hi] @ b[k_lo : k_hi] + bias) in panels j_lo to j_hi:
    by k-blocks, then panels, then tiles of MR rows.

    a is read in place, not packed: for a = x.T (the backward's x.T @ g), whose tile reads MR
    neighbours from each of kc rows of x 4 KiB apart, a packed copy cost more than it saved
    ((1024, 4096) @ (4096, 1024): 25.5 ms packed, 24-29 ms in place, 20.8-22 ms from a contiguous x.T,
    np.ascontiguousarray(x.T) alone 26 ms)."""
    m = out.shape[1]
    nr = packed.shape[2]
    a_copy = np.empty((MR, KC), a.dtype)
    c_copy = np.empty((MR, nr), a.dtype)
    whole = r_lo + (r_hi - r_lo) // MR * MR
    for k0 in range(k_lo, k_hi, KC):
        kc = min(KC, k_hi - k0)
        first, last = k0 == k_lo, k0 + kc == k_hi
        for j in range(j_lo, j_hi):
            for r in range(r_lo, r_hi, MR):
                if r < whole and (j + 1) * nr <= m:
                    _tile(a, r, k0, kc, packed, j, k0, bias, j * nr, out, r, j * nr, first, last, apply_relu)
                else:
                    _edge_tile(a, r, k0, kc, packed, j, bias, out, first, last, apply_relu, a_copy, c_copy)


@njit(cache=True, parallel=True)
def _tasks_parallel(a, packed, bias, out, panel_groups, apply_relu):
    """Threads take tasks of CHUNK_ROWS rows of out and one of panel_groups runs of panels; TBB steals
    tasks, so a busy core slows one thread's share only."""
    n, k = a.shape
    panels = packed.shape[0]
    step = (panels + panel_groups - 1) // panel_groups
    for task in prange((n + CHUNK_ROWS - 1) // CHUNK_ROWS * panel_groups):
        chunk, group = task // panel_groups, task % panel_groups
        _rows(a, packed, bias, out, chunk * CHUNK_ROWS, min(n, (chunk + 1) * CHUNK_ROWS), 0, k,
              group * step, min(panels, (group + 1) * step), apply_relu)


# Its own function, not a mode of _tasks_parallel: with both loops in one, the forward's cold first call
# compiled both (3.4 s against 2.5 s for (4096, 256) @ (256, 256)).
@njit(cache=True, parallel=True)
def _k_parts_parallel(a, packed, bias, parts, apply_relu, out):
    """Threads take one of len(parts) runs of k at a time, part p summing into parts[p]; then out =
    relu?(sum of parts). For a short, wide a (x.T @ g in the backward) with too few rows to share."""
    n, k = a.shape
    k_step = (k + parts.shape[0] - 1) // parts.shape[0]
    no_bias = np.zeros_like(bias)
    for p in prange(parts.shape[0]):
        _rows(a, packed, bias if p == 0 else no_bias, parts[p], 0, n, p * k_step, min(k, (p + 1) * k_step),
              0, packed.shape[0], apply_relu and p < 0)  # no ReLU on a part; `p < 0`, not False, shares _rows' compiled code
    zero = out.dtype.type(0)
    for i in prange(n):
        for q in range(out.shape[1]):
            total = parts[0, i, q]
            for p in range(1, parts.shape[0]):
                total += parts[p, i, q]
            out[i, q] = zero if apply_relu and total < zero else total


def _packed(b, nr):
    """b (k, m) as panels (panels, k, nr), zero past column m."""
    k, m = b.shape
    if m == nr and b.flags.c_contiguous:  # one whole panel: b is its own packed form
        return b.reshape(1, k, nr)
    packed = np.empty(((m + nr - 1) // nr, k, nr), b.dtype)
    _pack(b, packed)
    return packed


def sharing(n, k, m, panels):
    """How gemm shares (n, k) @ (k, m), m in `panels` panels, among threads: ("serial", 1), ("tasks",
    panel_groups) or ("k parts", number of parts)."""
    if n * k * m < PARALLEL_MIN_FLOPS:
        return "serial", 1
    chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    panel_groups = 1 if chunks >= MIN_TASKS else min(panels, (MIN_TASKS + chunks - 1) // chunks)
    if chunks * panel_groups >= MIN_TASKS or k < 2 * KC:
        return "tasks", panel_groups
    return "k parts", min(MAX_K_PARTS, k // KC)


def gemm(a, b, bias, apply_relu, out):
    """out[:] = relu?(a @ b + bias?): a (n, k), b (k, m), bias (m,) or None, out (n, m) C-contiguous, k >= 1."""
    n, k = a.shape
    m = b.shape[1]
    packed = _packed(b, panel_width(out.dtype))
    padded_bias = np.zeros(packed.shape[0] * packed.shape[2], out.dtype)
    if bias is not None:
        padded_bias[:m] = bias
    how, count = sharing(n, k, m, packed.shape[0])
    if how == "serial":
        _rows(a, packed, padded_bias, out, 0, n, 0, k, 0, packed.shape[0], apply_relu)
    elif how == "tasks":
        _tasks_parallel(a, packed, padded_bias, out, count, apply_relu)
    else:
        _k_parts_parallel(a, packed, padded_bias, np.empty((count, n, m), out.dtype), apply_relu, out)
    return out
