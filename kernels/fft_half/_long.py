"""Long rows: the four-step FFT, one row at a time, vectors across the row's columns.

Shapes: x (B, n) real; y and grad_y (B, n // 2) complex; grad_x (B, n). Rows whose complex
length m (n / 2 for even n) is LONG_MIN or more come here instead of cpu.py's blocks.

Why: a block of 8 rows of m = 2^19 is 32 MB, and every Stockham stage streamed it through
memory (4 rows of 2^20: 74 ms against FFTW's 4.5 ms, measured). Here one row z of length
m = m1 m2 is a matrix z[t1, t2] = z[m2 t1 + t2], and

    X[k1 + m1 k2] = sum_t2 w_m2^(t2 k2) w_m^(t2 k1) sum_t1 z[t1, t2] w_m1^(t1 k1):

1. columns: 8 adjacent columns t2 are the 8 lanes of one block (_stages' layout); its m1-point
   FFT, times the twiddles w_m^(t2 k1), goes transposed to B[t2, k1];
2. rows: 8 adjacent k1 of B are the 8 lanes of a block; its m2-point FFT is X[k1 + m1 k2].
A block (m1 or m2 by 8, m1 ~ m2 ~ sqrt(m)) stays in L2: the row crosses memory twice, not once
a stage. Lengths that do not split into two multiples of 16 with prime factors up to 31 go
through Bluestein, whose power-of-two convolutions are four-step transforms.
"""

from contextlib import contextmanager
from functools import lru_cache
from math import isqrt, ldexp, log2

import numpy as np
from numba import carray, njit

from ..cpu import _alloc
from ..cpu._inner import inner
from ..cpu._native import pointer, run_tasks, runner, task_block, task_entry
from ._plan import MAX_DIRECT_PRIME, _factorize, _stockham_plan, complex_length
from ._stages import real_unpack, stockham
from ..cpu._simd import LANES, load, load_pairs, reverse, store, store_pairs, store_tile

# m from which a row goes four-step: at m = 2^16 (16 rows) both ways took 1.41 ms; at m = 2^15
# (64 rows) the blocks took 2.58 ms, four-step 3.43 ms (measured)
LONG_MIN = 1 << 16
_TASKS = 16  # parallel chunks a pass is cut into: more than the threads, so a slowed thread holds up little
_CHUNK = 1 << 14  # elements per task of the elementwise passes

# --- plans ---


def _split(m: int):
    """(m1, m2), m1 m2 = m, both multiples of 2 LANES (the passes take two groups of LANES at a
    time) with prime factors up to 31, m1 <= m2 closest to sqrt(m); None if there is none."""
    unit = 2 * LANES
    if m % (unit * unit):
        return None
    best = None
    for m1 in range(unit, isqrt(m) + 1, unit):
        m2 = m // m1
        if m % m1 == 0 and m2 % unit == 0 and max(_factorize(m1) + _factorize(m2)) <= MAX_DIRECT_PRIME:
            best = (m1, m2)
    return best


def _four_step_plan(m1: int, m2: int, dtype):
    """(m1, m2, Stockham plan of m1, of m2, group twiddles re, im, lane twiddles re, im).

    Pass 1's twiddle w_m^(k1 t2), t2 = LANES g + l, is w_m^(LANES g k1) (group twiddles, laid out
    [g, k1]: a scalar) times w_m^(k1 l) (lane twiddles [k1, l]: a vector): m / LANES + m1 LANES
    values in place of m, a stream the size of the row saved (each made in float64, then rounded).
    """
    m = m1 * m2
    g = np.arange(m2 // LANES, dtype=np.int64)[:, None]
    k1 = np.arange(m1, dtype=np.int64)[None, :]
    groups = np.exp(-2j * np.pi * ((LANES * g * k1) % m) / m).ravel()  # exponents mod m keep the angle exact
    lanes = np.exp(-2j * np.pi * (k1.T * np.arange(LANES)[None, :]) / m).ravel()
    return (m1, m2, _stockham_plan(m1, dtype), _stockham_plan(m2, dtype), groups.real.astype(dtype),
            groups.imag.astype(dtype), lanes.real.astype(dtype), lanes.imag.astype(dtype))


@lru_cache(maxsize=16)
def long_plan(n: int, dtype):
    """(ints, floats): the four-step plan of m, or of M for Bluestein, with Bluestein's tables and the half
    twiddles, as two arrays that the tasks read by address (_four_step_views and _bluestein_views unpack them).

    Bluestein's tables as in _plan: the chirp b_t = exp(i pi t^2 / m) (length m) and the FFT of
    the convolution kernel (length M, the power of two >= 2m - 1), here in float64 by NumPy
    (a table, made once) before rounding. Half twiddles exp(-2 pi i k / n), k < n // 2.
    ints:   [bluestein?, m1, m2, stages of m1 (k1), of m2 (k2), m1's radices, stage addresses, twiddle offsets,
             root offsets (k1 each), m2's (k2 each), 19 bounds in floats]
    floats: m1's twiddles re, im, roots re, im | m2's | group twiddles re, im, lane twiddles re, im |
            chirp re, im | kernel FFT re, im | half twiddles re, im
    """
    dtype = np.dtype(dtype)
    m = complex_length(n)
    empty = np.zeros(0, dtype)
    half = np.exp(-2j * np.pi * np.arange(n // 2) / n)
    halves = [half.real.astype(dtype), half.imag.astype(dtype)]
    split = _split(m)
    if split is not None:
        bluestein, four_step, tables = False, _four_step_plan(*split, dtype), [empty] * 4
    else:
        big = 1 << (2 * m - 2).bit_length()
        t = np.arange(m, dtype=np.int64)
        chirp = np.exp(1j * np.pi * ((t * t) % (2 * m)) / m)  # t^2 mod 2m keeps the angle exact
        kernel = np.zeros(big, np.complex128)
        kernel[:m] = chirp
        kernel[big - m + 1 :] = chirp[1:][::-1]
        spectrum = np.fft.fft(kernel)
        bluestein, four_step = True, _four_step_plan(*_split(big), dtype)
        tables = [chirp.real.astype(dtype), chirp.imag.astype(dtype), spectrum.real.astype(dtype),
                  spectrum.imag.astype(dtype)]
    m1, m2, plan1, plan2, gr, gi, lr, li = four_step
    parts = [plan1[2], plan1[3], plan1[5], plan1[6], plan2[2], plan2[3], plan2[5], plan2[6], gr, gi, lr, li,
             *tables, *halves]
    bounds = np.cumsum([0] + [len(p) for p in parts])
    ints = np.concatenate([[int(bluestein), m1, m2, len(plan1[0]), len(plan2[0])], plan1[0], plan1[1], plan1[4],
                           plan1[7], plan2[0], plan2[1], plan2[4], plan2[7], bounds])
    return ints.astype(np.int64), np.concatenate(parts).astype(dtype)


@inner
def _bounds(ints):
    """long_plan's 19 bounds of its parts in floats (they end ints)."""
    return ints[5 + 4 * ints[3] + 4 * ints[4] :]


@inner
def _four_step_views(ints, floats):
    """long_plan's arrays as _pass_task reads them: ((m1, m2, Stockham plan of m1, of m2, group twiddles re, im,
    lane twiddles re, im), half twiddles re, im)."""
    k1, k2 = ints[3], ints[4]
    i2 = 5 + 4 * k1  # m2's stages
    b = _bounds(ints)
    plan1 = (ints[5 : 5 + k1], ints[5 + k1 : 5 + 2 * k1], floats[b[0] : b[1]], floats[b[1] : b[2]],
             ints[5 + 2 * k1 : 5 + 3 * k1], floats[b[2] : b[3]], floats[b[3] : b[4]], ints[5 + 3 * k1 : 5 + 4 * k1])
    plan2 = (ints[i2 : i2 + k2], ints[i2 + k2 : i2 + 2 * k2], floats[b[4] : b[5]], floats[b[5] : b[6]],
             ints[i2 + 2 * k2 : i2 + 3 * k2], floats[b[6] : b[7]], floats[b[7] : b[8]], ints[i2 + 3 * k2 : i2 + 4 * k2])
    fs = (ints[1], ints[2], plan1, plan2, floats[b[8] : b[9]], floats[b[9] : b[10]], floats[b[10] : b[11]],
          floats[b[11] : b[12]])
    return fs, floats[b[16] : b[17]], floats[b[17] : b[18]]


@inner
def _bluestein_views(ints, floats):
    """long_plan's Bluestein tables as _chirp_task reads them: (chirp re, im, kernel FFT re, im); empty for a
    four-step length."""
    b = _bounds(ints)
    return floats[b[12] : b[13]], floats[b[13] : b[14]], floats[b[14] : b[15]], floats[b[15] : b[16]]


# --- the four-step transform of one row ---


@inner
def _blocks(size, dtype_of):
    """Four arrays of `size` for one task's block and its Stockham scratch, 32 elements apart
    (see cpu._scratch: arrays a power of two apart share cache sets)."""
    stride = size + 32
    buf = np.empty(4 * stride, dtype_of.dtype)
    return buf[:size], buf[stride : stride + size], buf[2 * stride : 2 * stride + size], buf[3 * stride : 3 * stride + size]


@inner
def _twiddle_into_tiles(ar, ai, g, gr, gi, lr, li, tiles_r, tiles_i):
    """Column group g's transformed block (m1 LANES,) times w_m^(t2 k1), into B's tiles (pass 1's end);
    gr ... li: the four-step plan's twiddles."""
    m1 = ar.shape[0] // LANES
    for k1 in range(m1):
        j = LANES * k1
        w1r, w1i = gr[g * m1 + k1], gi[g * m1 + k1]
        w2r, w2i = load(lr, j), load(li, j)
        twr, twi = w2r * w1r - w2i * w1i, w2r * w1i + w2i * w1r
        yr, yi = load(ar, j), load(ai, j)
        store(ar, j, yr * twr - yi * twi)
        store(ai, j, yr * twi + yi * twr)
    c = g * LANES
    for k1 in range(0, m1, LANES):  # into B's tile of 2 LANES k1 by LANES t2
        q1, col = k1 // (2 * LANES), k1 % (2 * LANES)
        store_tile(ar, k1, tiles_r[q1, c : c + LANES], col)
        store_tile(ai, k1, tiles_i[q1, c : c + LANES], col)


@inner
def _columns(pairs, sr, si, interleaved, br, bi, fs, task, tasks):
    """Task `task` of `tasks` of pass 1: B[t2, k1] = w_m^(t2 k1) sum_t1 z[m2 t1 + t2] w_m1^(t1 k1), as br, bi
    (m,) each, laid out [k1 // 2 LANES, t2, k1 % 2 LANES]: pass 2 reads each of its blocks as one contiguous run.

    z: the interleaved (re, im) floats `pairs` (2m,) if `interleaved`, else (sr, si), each (m,).
    Two groups of LANES columns at a time, so that each read takes whole 64-byte cache lines.
    """
    m1, m2, plan1, _, gr, gi, lr, li = fs
    tiles_r, tiles_i = br.reshape(m1 // (2 * LANES), m2, 2 * LANES), bi.reshape(m1 // (2 * LANES), m2, 2 * LANES)
    pairs_of_groups = m2 // (2 * LANES)
    size = m1 * LANES
    zr, zi, wr, wi = _blocks(size, br)
    ur, ui, vr, vi = _blocks(size, br)
    for q in range(task * pairs_of_groups // tasks, (task + 1) * pairs_of_groups // tasks):
        c0 = 2 * LANES * q
        for t1 in range(m1):
            i = t1 * m2 + c0
            if interleaved:
                ar, ai = load_pairs(pairs, 2 * i)
                cr, ci = load_pairs(pairs, 2 * i + 2 * LANES)
            else:
                ar, ai, cr, ci = load(sr, i), load(si, i), load(sr, i + LANES), load(si, i + LANES)
            store(zr, LANES * t1, ar)
            store(zi, LANES * t1, ai)
            store(ur, LANES * t1, cr)
            store(ui, LANES * t1, ci)
        ar, ai, _, _ = stockham(zr, zi, wr, wi, plan1)
        _twiddle_into_tiles(ar, ai, 2 * q, gr, gi, lr, li, tiles_r, tiles_i)
        cr, ci, _, _ = stockham(ur, ui, vr, vi, plan1)
        _twiddle_into_tiles(cr, ci, 2 * q + 1, gr, gi, lr, li, tiles_r, tiles_i)


@inner
def _rows(br, bi, dr, di, pairs, interleaved, fs, task, tasks):
    """Task `task` of `tasks` of pass 2: X[k1 + m1 k2] = sum_t2 B[t2, k1] w_m2^(t2 k2), into (dr, di) (m,) each, or as
    interleaved (re, im) floats into `pairs` (2m,) if `interleaved`. Two groups of LANES k1 at a
    time, as in pass 1."""
    m1, m2, _, plan2, _, _, _, _ = fs
    pairs_of_groups = m1 // (2 * LANES)
    size = m2 * LANES
    zr, zi, wr, wi = _blocks(size, br)
    ur, ui, vr, vi = _blocks(size, br)
    for q in range(task * pairs_of_groups // tasks, (task + 1) * pairs_of_groups // tasks):
        k0 = 2 * LANES * q
        for t2 in range(m2):
            i = (q * m2 + t2) * 2 * LANES  # B's layout: k1 // 2 LANES, t2, k1 % 2 LANES
            store(zr, LANES * t2, load(br, i))
            store(zi, LANES * t2, load(bi, i))
            store(ur, LANES * t2, load(br, i + LANES))
            store(ui, LANES * t2, load(bi, i + LANES))
        ar, ai, _, _ = stockham(zr, zi, wr, wi, plan2)
        cr, ci, _, _ = stockham(ur, ui, vr, vi, plan2)
        for k2 in range(m2):  # both groups' results together: whole cache lines written
            k, j = k2 * m1 + k0, LANES * k2
            if interleaved:
                store_pairs(pairs, 2 * k, load(ar, j), load(ai, j))
                store_pairs(pairs, 2 * k + 2 * LANES, load(cr, j), load(ci, j))
            else:
                store(dr, k, load(ar, j))
                store(di, k, load(ai, j))
                store(dr, k + LANES, load(cr, j))
                store(di, k + LANES, load(ci, j))


# --- Bluestein, for lengths four-step does not split ---


@inner
def _chirp_in(zr, zi, real, scale, chr_, chi, ur, ui, c):
    """u = z conj(b) for t < m, 0 up to M, z = zr + i scale zi (zr alone where `real`: zi is not read); chunk c of
    _CHUNK (each elementwise pass: a task a chunk)."""
    m, big = zr.shape[0], ur.shape[0]
    zero = zr.dtype.type(0)
    for t in range(c * _CHUNK, min((c + 1) * _CHUNK, big)):
        if t < m:
            im = zero if real else scale * zi[t]
            ur[t] = zr[t] * chr_[t] + im * chi[t]
            ui[t] = im * chr_[t] - zr[t] * chi[t]
        else:
            ur[t] = 0
            ui[t] = 0


@inner
def _times_kernel(vr, vi, kr, ki, c):
    """v = conj(v K): conjugating before and after a forward FFT inverts it (but for 1/M); chunk c."""
    big = vr.shape[0]
    for t in range(c * _CHUNK, min((c + 1) * _CHUNK, big)):
        ar, ai = vr[t], vi[t]
        vr[t] = ar * kr[t] - ai * ki[t]
        vi[t] = -(ar * ki[t] + ai * kr[t])


@inner
def _chirp_out(ur, ui, chr_, chi, zr, zi, real, scale, c):
    """z = conj(u) conj(b) / M for t < m, its imaginary part times scale (its real part alone where `real`: zi is
    not written); chunk c."""
    m = zr.shape[0]
    inverse = zr.dtype.type(1.0 / ur.shape[0])
    for t in range(c * _CHUNK, min((c + 1) * _CHUNK, m)):
        cr, ci = chr_[t] * inverse, chi[t] * inverse
        ar, ai = ur[t], -ui[t]
        zr[t] = ar * cr + ai * ci
        if not real:
            zi[t] = scale * (ai * cr - ar * ci)


# --- the real transform's ends: Z of the packed row to fft_half, and back ---


@inner
def _unpack_one(zr, zi, hr, hi, y, k, j):
    y[2 * k], y[2 * k + 1] = real_unpack(zr[k], zi[k], zr[j], -zi[j], hr[k], hi[k], zr.dtype.type(0.5))


@inner
def _unpack_forward(zr, zi, hr, hi, y, c):
    """y[k] (as (re, im) floats, (2m,)) = E_k + w_n^k O_k, k < m, from Z = FFT(x[2t] + i x[2t + 1]) (m,):
    E_k = (Z_k + conj(Z_(m-k))) / 2, O_k = (Z_k - conj(Z_(m-k))) / 2i, Z_m = Z_0; chunk c."""
    m = zr.shape[0]
    h = zr.dtype.type(0.5)
    k, end = c * _CHUNK, min((c + 1) * _CHUNK, m)
    if k == 0:
        _unpack_one(zr, zi, hr, hi, y, np.int64(0), np.int64(0))  # not literals (kernels/cpu/__init__)
        k = 1
    while k + LANES <= end:
        j = m - k - (LANES - 1)  # Z_(m-k-7) .. Z_(m-k), reversed: the mirrors of k .. k + 7
        xr, xi = real_unpack(load(zr, k), load(zi, k), reverse(load(zr, j)), -reverse(load(zi, j)), load(hr, k),
                             load(hi, k), h)
        store_pairs(y, 2 * k, xr, xi)
        k += LANES
    for k in range(k, end):
        _unpack_one(zr, zi, hr, hi, y, k, m - k)


@inner
def _pack_one(g, hr, hi, zr, zi, k, j):
    h = zr.dtype.type(0.5)
    cr, ci, mr, mi = g[2 * k], -g[2 * k + 1], g[2 * j], g[2 * j + 1]
    wr, wi, vr, vi = hr[k], hi[k], hr[j], hi[j]
    dr, di = cr * wr - ci * wi, cr * wi + ci * wr
    er, ei = mr * vr + mi * vi, mi * vr - mr * vi
    zr[k] = h * (cr + mr) - h * (di + ei)
    zi[k] = h * (ci + mi) + h * (dr + er)


@inner
def _pack_backward(g, hr, hi, zr, zi, c):
    """z_k = hc_k + i hd_k (m,) from g (as (re, im) floats, (2m,)): with c_k = conj(g_k) and
    d_k = c_k w_n^k, hc and hd are c and d made Hermitian, so one FFT of z gives both real
    halves of grad_x: grad_x[2t] = Re FFT(z)_t, grad_x[2t + 1] = Im FFT(z)_t (see cpu._backward_block); chunk c."""
    m = zr.shape[0]
    h = zr.dtype.type(0.5)
    k, end = c * _CHUNK, min((c + 1) * _CHUNK, m)
    if k == 0:
        _pack_one(g, hr, hi, zr, zi, np.int64(0), np.int64(0))
        k = 1
    while k + LANES <= end:
        j = m - k - (LANES - 1)
        gr, gi = load_pairs(g, 2 * k)
        mr, mi = load_pairs(g, 2 * j)
        cr, ci, mr, mi = gr, -gi, reverse(mr), reverse(mi)  # c_k, conj(c_(m-k))
        wr, wi, vr, vi = load(hr, k), load(hi, k), reverse(load(hr, j)), reverse(load(hi, j))
        dr, di = cr * wr - ci * wi, cr * wi + ci * wr
        er, ei = mr * vr + mi * vi, mi * vr - mr * vi
        hcr, hci, hdr, hdi = h * (cr + mr), h * (ci + mi), h * (dr + er), h * (di + ei)
        store(zr, k, hcr - hdi)
        store(zi, k, hci + hdr)
        k += LANES
    for k in range(k, end):
        _pack_one(g, hr, hi, zr, zi, k, m - k)


@inner
def _split_pairs(pairs, zr, zi, c):
    """zr[t], zi[t] = pairs[2t], pairs[2t + 1]; chunk c."""
    m = zr.shape[0]
    for t in range(c * _CHUNK, min((c + 1) * _CHUNK, m)):
        zr[t], zi[t] = pairs[2 * t], pairs[2 * t + 1]


@inner
def _join_pairs(zr, zi, pairs, c):
    """pairs[2t], pairs[2t + 1] = zr[t], zi[t]; chunk c."""
    m = zr.shape[0]
    for t in range(c * _CHUNK, min((c + 1) * _CHUNK, m)):
        pairs[2 * t], pairs[2 * t + 1] = zr[t], zi[t]


# --- odd n: two real rows in one complex transform ---
# For odd n the packing above does not apply: a row is the complex FFT of x itself. Two rows x0, x1 go through one
# Bluestein transform as z = x0 + i s x1 (the transform is linear), and each row's spectrum is taken back from Z by
# the symmetry of a real row's spectrum, X_(n-k) = conj(X_k). s, a power of two (exact), brings x1's norm to x0's:
# a row's rounding error is then relative to its own norm, as if it went alone. A row goes alone (x1 = 0) where it
# is the last, or either row's norm is 0 or not finite (a row's inf or NaN stays in its own spectrum), or as
# _pairing says.


@inner
def _norms(ar, ai, sr, si, c):
    """sr[c], si[c] = the sums of squares of chunk c of ar and ai (L,) each, summed in float64, kept in sr's dtype (inf
    past its range: _pairing)."""
    s0, s1 = 0.0, 0.0
    for t in range(c * _CHUNK, min((c + 1) * _CHUNK, ar.shape[0])):
        a, b = np.float64(ar[t]), np.float64(ai[t])
        s0 += a * a
        s1 += b * b
    sr[c], si[c] = s0, s1


@inner
def _separate(zr, zi, y0, y1, one, scale, c):
    """y0[k] = X0_k = (Z_k + conj(Z_(n-k))) / 2 and y1[k] = X1_k = scale (Z_k - conj(Z_(n-k))) / 2i, k < n // 2, as
    (re, im) floats (2 (n // 2),) each, from Z = FFT(x0 + i x1 / scale) (zr, zi) (n,), Z_n = Z_0; y0 alone where
    `one`; chunk c."""
    n = zr.shape[0]
    h = zr.dtype.type(0.5)
    hs = h * scale
    for k in range(c * _CHUNK, min((c + 1) * _CHUNK, n // 2)):  # halves first: a sum past the largest float stays
        j = n - k if k > 0 else 0
        y0[2 * k] = h * zr[k] + h * zr[j]
        y0[2 * k + 1] = h * zi[k] - h * zi[j]
        if not one:
            y1[2 * k] = hs * zi[k] + hs * zi[j]
            y1[2 * k + 1] = hs * zr[j] - hs * zr[k]


@inner
def _pair_pack(g0, g1, one, scale, zr, zi, c):
    """z (zr, zi) (n,) from g0, g1 (as (re, im) floats, (2 (n // 2),) each; g1 = 0 where `one`), for grad_x0 + i scale
    grad_x1 = FFT(z): grad_x_t = Re FFT(u)_t with u_k = conj(g_k) for k < n // 2, 0 above, and Re FFT(u) =
    FFT(hu) for u made Hermitian, hu_k = (u_k + conj(u_(n-k))) / 2; z = hu0 + i scale hu1, whose FFT has the two
    real rows as its real and imaginary parts; chunk c of the n outputs."""
    n = zr.shape[0]
    half = n // 2
    h = zr.dtype.type(0.5)
    zero = zr.dtype.type(0)
    for t in range(c * _CHUNK, min((c + 1) * _CHUNK, n)):
        k = t if t < half else n - t  # u_t's index, or its mirror's
        if t == 0:
            zr[t], zi[t] = g0[0], zero if one else scale * g1[0]  # hu_0 = Re u_0
        elif k >= half:  # t = half or half + 1 (n = 2 half + 1): u is 0 there and at the mirror
            zr[t], zi[t] = zero, zero
        else:
            a0, b0 = g0[2 * k], g0[2 * k + 1]
            a1, b1 = (zero, zero) if one else (scale * g1[2 * k], scale * g1[2 * k + 1])
            if t < half:  # u0_t / 2 + i u1_t / 2, u = conj(g)
                zr[t], zi[t] = h * (a0 + b1), h * (a1 - b0)
            else:  # conj(u0_k) / 2 + i conj(u1_k) / 2
                zr[t], zi[t] = h * (a0 - b1), h * (a1 + b0)


# --- the passes as tasks (kernels/cpu/_native): three C callbacks, each compiled once, where a length needs it ---

# Each call of a pass names its operands in args: a pairs array P (interleaved (re, im) floats), two (re, im)
# pairs of arrays A and B, and a flag; which of them a pass reads and writes is in _pass_task, _chirp_task and
# _pairs_task.
# The passes' numbers and the flags are NumPy integers: as Python literals, each value passed would compile the
# callee once more (kernels/cpu/__init__).
_COLUMNS, _ROWS, _CHIRP_IN, _TIMES_KERNEL, _CHIRP_OUT, _UNPACK, _PACK, _SPLIT, _JOIN, _SEPARATE, _PAIR_PACK, _NORMS = (
    np.int64(k) for k in range(12))
# the flag: P interleaved (columns) or written (rows); A's imaginary part 0 (chirp in) or B's not written (chirp
# out); one row, not two (separate, pair pack)
_NO, _YES = np.int64(0), np.int64(1)
_ARGS = 16  # ints, size, floats, size, pass, tasks, P, size, A re, im, size, B re, im, size, flag, shift
# shift: the exponent e of the power of two 2^e that chirp in, chirp out, separate and pair pack scale the second
# row by (the imaginary part), set before each (odd n's pairs of rows)
_SHIFT = 15


@inner
def _operands(floats, args):
    """(P, A re, im, B re, im, flag, 2^shift) of a pass's task from args; floats: a pointer of the task's dtype."""
    p = carray(pointer(args[6], floats), args[7])
    ar, ai = carray(pointer(args[8], floats), args[10]), carray(pointer(args[9], floats), args[10])
    br, bi = carray(pointer(args[11], floats), args[13]), carray(pointer(args[12], floats), args[13])
    return p, ar, ai, br, bi, args[14] != 0, p.dtype.type(ldexp(1.0, args[_SHIFT]))


def _pass_task(floats, args, task):
    """Task `task` of the four-step pass or half-spectrum pass args[4] (columns, rows, unpack, pack; a C
    callback, _native); floats: the plan's floats (long_plan), which give the dtype it is compiled for. Returns
    0, or 1 where the task raised."""
    ints, floats_ = carray(pointer(args[0], np.int64), args[1]), carray(floats, args[3])
    kind, tasks = args[4], args[5]
    p, ar, ai, br, bi, flag, scale = _operands(floats, args)
    fs, hr, hi = _four_step_views(ints, floats_)
    try:  # only the work (kernels/cpu/_native)
        if kind == _COLUMNS:
            _columns(p, ar, ai, flag, br, bi, fs, task, tasks)
        elif kind == _ROWS:
            _rows(ar, ai, br, bi, p, flag, fs, task, tasks)
        elif kind == _UNPACK:
            _unpack_forward(ar, ai, hr, hi, p, task)
        else:
            _pack_backward(p, hr, hi, ar, ai, task)
    except Exception:  # noqa: BLE001
        return 1
    return 0


def _chirp_task(floats, args, task):
    """Task `task` of Bluestein's pass args[4] (chirp in, times kernel, chirp out, split, join), as _pass_task: a
    callback of their own, compiled only for lengths that go through Bluestein (in _pass_task, they took about 1 s
    of every four-step length's cold first call, 2^21 points: python /tmp/r/cold_long.py, 2026-11-25)."""
    ints, floats_ = carray(pointer(args[0], np.int64), args[1]), carray(floats, args[3])
    kind = args[4]
    p, ar, ai, br, bi, flag, scale = _operands(floats, args)
    chr_, chi, kr, ki = _bluestein_views(ints, floats_)
    try:  # only the work (kernels/cpu/_native)
        if kind == _CHIRP_IN:
            _chirp_in(ar, ai, flag, scale, chr_, chi, br, bi, task)
        elif kind == _TIMES_KERNEL:
            _times_kernel(ar, ai, kr, ki, task)
        elif kind == _CHIRP_OUT:
            _chirp_out(ar, ai, chr_, chi, br, bi, flag, scale, task)
        elif kind == _SPLIT:
            _split_pairs(p, ar, ai, task)
        else:
            _join_pairs(ar, ai, p, task)
    except Exception:  # noqa: BLE001
        return 1
    return 0


def _pairs_task(floats, args, task):
    """Task `task` of odd n's passes args[4] (norms, separate, pair pack), as _pass_task: a callback of their own,
    compiled where n is odd (in _pass_task, they took 0.5-0.7 s more of every long row's cold first call, measured)."""
    kind = args[4]
    p, ar, ai, br, bi, flag, scale = _operands(floats, args)
    try:  # only the work (kernels/cpu/_native)
        if kind == _NORMS:
            _norms(ar, ai, br, bi, task)
        elif kind == _SEPARATE:
            _separate(ar, ai, p, br, flag, scale, task)
        else:
            _pair_pack(p, br, flag, scale, ar, ai, task)
    except Exception:  # noqa: BLE001
        return 1
    return 0


@inner
def _run_pass(block, args, kind, tasks, p, ar, ai, br, bi, flag, runner):
    """_pass_task's pass `kind` in `tasks` tasks over P = p, A = (ar, ai), B = (br, bi), on the threads where
    runner is _native.runner(). The arrays are the caller's, or views of them: alive through the call. Returns
    nonzero where a task failed."""
    args[4], args[5], args[6], args[7] = kind, tasks, p.ctypes.data, p.size
    args[8], args[9], args[10] = ar.ctypes.data, ai.ctypes.data, ar.size
    args[11], args[12], args[13], args[14] = br.ctypes.data, bi.ctypes.data, br.size, flag
    return run_tasks(runner, block, tasks)


@inner
def _run_pass_of(entry, block, args, kind, tasks, p, ar, ai, br, bi, flag, runner):
    """_run_pass for a pass of another task function (_chirp_task, _pairs_task); entry: its address."""
    own = block[0]
    block[0] = entry
    failed = _run_pass(block, args, kind, tasks, p, ar, ai, br, bi, flag, runner)
    block[0] = own
    return failed


@inner
def _chunks(size):
    return (size + _CHUNK - 1) // _CHUNK


@inner
def _four_step(block, args, m1, m2, p, sr, si, interleaved, br, bi, dr, di, out_pairs, to_pairs, runner):
    """The four-step FFT of z, m = m1 m2: P = p (interleaved) or (sr, si) (m,) each, into (dr, di) or, to_pairs,
    out_pairs (2m,); (br, bi) (m,) hold B between the passes."""
    if _run_pass(block, args, _COLUMNS, min(m2 // (2 * LANES), _TASKS), p, sr, si, br, bi, interleaved, runner):
        return 1
    return _run_pass(block, args, _ROWS, min(m1 // (2 * LANES), _TASKS), out_pairs, br, bi, dr, di, to_pairs, runner)


@inner
def _bluestein(block, args, chirp_entry, m1, m2, sr, si, real_in, shift_in, zr, zi, real_out, shift_out, br, bi, ur,
               ui, vr, vi, runner):
    """The FFT of z = sr + i 2^shift_in si (m,) into (zr, zi) (m,), zi times 2^shift_out; zr, zi may be sr, si:
    X_k = conj(b_k) sum_t z_t conj(b_t) b_(k-t), a circular convolution of length M by two four-step FFTs.
    real_in: si is not read, z = sr; real_out: only zr is written. br ... vi: scratch (M,); chirp_entry:
    _chirp_task's address."""
    none = zr[:0]
    big = ur.size
    args[_SHIFT] = shift_in
    failed = _run_pass_of(chirp_entry, block, args, _CHIRP_IN, _chunks(big), none, sr, si, ur, ui, real_in, runner)
    failed = failed or _four_step(block, args, m1, m2, none, ur, ui, _NO, br, bi, vr, vi, none, _NO, runner)
    failed = failed or _run_pass_of(chirp_entry, block, args, _TIMES_KERNEL, _chunks(big), none, vr, vi, none, none,
                                    _NO, runner)
    failed = failed or _four_step(block, args, m1, m2, none, vr, vi, _NO, br, bi, ur, ui, none, _NO, runner)
    args[_SHIFT] = shift_out
    return failed or _run_pass_of(chirp_entry, block, args, _CHIRP_OUT, _chunks(zr.size), none, ur, ui, zr, zi,
                                  real_out, runner)


@inner
def _pairing(block, args, pairs_entry, rows, r, partials_r, partials_i, runner):
    """(one, shift) for row r of rows (B, L) and the row after it: one = _YES where row r goes alone (it is the last,
    or either row's norm is 0 or not finite: inf or NaN in it, or a chunk's sum of squares past the rows' dtype;
    or the norms are more than 2^60 apart), else _NO and the shift e that brings row r + 1's norm
    (2^e |row r + 1|) to row r's. partials_r, partials_i: scratch of the rows' dtype, a chunk's element each.

    The chunks' sums are kept in the rows' dtype, and that is what keeps a shared transform from overflowing where
    one row's alone would not (that row's inf would reach the other): in float32, rows whose chunk of _CHUNK
    squares passes 3.4e38 (elements past about 1e17) go alone, far below where Bluestein could overflow (its
    largest value is at most 2 M L^1.5 |z|, |z| <= sqrt(3) times the larger norm: under 3.4e38 for every L up to
    2^22); in float64, past 1.8e308 (elements past about 1e152)."""
    if r + 1 == rows.shape[0]:
        return _YES, _NO
    a, b = rows[r], rows[r + 1]
    chunks = _chunks(a.size)
    if _run_pass_of(pairs_entry, block, args, _NORMS, chunks, a[:0], a, b, partials_r[:chunks], partials_i[:chunks],
                    _NO, runner):
        return _YES, _NO
    s0, s1 = 0.0, 0.0
    for c in range(chunks):
        s0 += partials_r[c]
        s1 += partials_i[c]
    if not (0 < s0 < np.inf and 0 < s1 < np.inf and 2.0**-120 <= s0 / s1 <= 2.0**120):
        return _YES, _NO
    return _NO, np.int64(round(0.5 * log2(s0 / s1)))


# The drivers, one for each way a length goes (four-step, Bluestein for even n, Bluestein two rows at a time for
# odd n), each compiled on its first use: one driver for all three took 0.4 s more of a four-step length's cold
# first call (python /tmp/r/cold_long.py, 2026-11-25). Each takes (x or g, y or grad_x, long_plan's ints and floats,
# _scratch()'s eight arrays, _driven()'s three entries, the runner), the arrays it does not use among them.


@njit(cache=True, inline="always")
def _block(entry, ints, floats):
    """(block, args): the task block of a row's passes (entry: _pass_task's address), the plan in args."""
    block, args = task_block(entry, floats.ctypes.data, np.int64(_ARGS))
    args[0], args[1], args[2], args[3] = ints.ctypes.data, ints.size, floats.ctypes.data, floats.size
    args[_SHIFT] = 0
    return block, args


@njit(cache=True)
def _forward_rows(x, y, ints, floats, zr, zi, br, bi, ur, ui, vr, vi, entry, chirp_entry, pairs_entry, runner):
    """y (B, 2 (n // 2)) floats = fft_half of x (B, n), n even and m = n / 2 four-step, one row at a time, each
    pass on the threads. Returns nonzero where a task failed."""
    m1, m2 = ints[1], ints[2]  # long_plan's; not _four_step_views: that compiles in the task only
    block, args = _block(entry, ints, floats)
    none = x[0, :0]
    for r in range(x.shape[0]):
        if _four_step(block, args, m1, m2, x[r], none, none, _YES, br, bi, zr, zi, none, _NO, runner):
            return 1
        if _run_pass(block, args, _UNPACK, _chunks(zr.size), y[r], zr, zi, none, none, _NO, runner):
            return 1
    return 0


@njit(cache=True)
def _forward_bluestein_rows(x, y, ints, floats, zr, zi, br, bi, ur, ui, vr, vi, entry, chirp_entry, pairs_entry,
                            runner):
    """_forward_rows where m = n / 2 goes through Bluestein."""
    m1, m2 = ints[1], ints[2]
    block, args = _block(entry, ints, floats)
    none = x[0, :0]
    for r in range(x.shape[0]):
        failed = _run_pass_of(chirp_entry, block, args, _SPLIT, _chunks(zr.size), x[r], zr, zi, none, none, _NO,
                              runner)
        failed = failed or _bluestein(block, args, chirp_entry, m1, m2, zr, zi, _NO, _NO, zr, zi, _NO, _NO, br, bi,
                                      ur, ui, vr, vi, runner)
        if failed or _run_pass(block, args, _UNPACK, _chunks(zr.size), y[r], zr, zi, none, none, _NO, runner):
            return 1
    return 0


@njit(cache=True)
def _forward_odd_rows(x, y, ints, floats, zr, zi, br, bi, ur, ui, vr, vi, entry, chirp_entry, pairs_entry, runner):
    """_forward_rows for odd n: the complex FFT of x itself, always Bluestein (odd m never splits), two rows at a
    time."""
    m1, m2 = ints[1], ints[2]
    block, args = _block(entry, ints, floats)
    rows, n = x.shape
    r = np.int64(0)  # not a literal 0: _pairing would compile for Literal[int](0) too (kernels/cpu/__init__)
    while r < rows:
        one, shift = _pairing(block, args, pairs_entry, x, r, vr, vi, runner)
        second = r + 1 - one  # not read (one)
        if _bluestein(block, args, chirp_entry, m1, m2, x[r], x[second], one, shift, zr, zi, _NO, _NO, br, bi, ur,
                      ui, vr, vi, runner):
            return 1
        args[_SHIFT] = -shift
        if _run_pass_of(pairs_entry, block, args, _SEPARATE, _chunks(n // 2), y[r], zr, zi, y[second], y[second], one,
                        runner):
            return 1
        r += 2 - one
    return 0


@njit(cache=True)
def _backward_rows(g, grad_x, ints, floats, zr, zi, br, bi, ur, ui, vr, vi, entry, chirp_entry, pairs_entry, runner):
    """grad_x (B, n) from g (B, 2 (n // 2)) floats, n even and m = n / 2 four-step, one row at a time, each pass
    on the threads. Returns nonzero where a task failed."""
    m1, m2 = ints[1], ints[2]
    block, args = _block(entry, ints, floats)
    none = g[0, :0]
    for r in range(grad_x.shape[0]):
        if _run_pass(block, args, _PACK, _chunks(zr.size), g[r], zr, zi, none, none, _NO, runner):
            return 1
        if _four_step(block, args, m1, m2, none, zr, zi, _NO, br, bi, none, none, grad_x[r], _YES, runner):
            return 1
    return 0


@njit(cache=True)
def _backward_bluestein_rows(g, grad_x, ints, floats, zr, zi, br, bi, ur, ui, vr, vi, entry, chirp_entry, pairs_entry,
                             runner):
    """_backward_rows where m = n / 2 goes through Bluestein."""
    m1, m2 = ints[1], ints[2]
    block, args = _block(entry, ints, floats)
    none = g[0, :0]
    for r in range(grad_x.shape[0]):
        failed = _run_pass(block, args, _PACK, _chunks(zr.size), g[r], zr, zi, none, none, _NO, runner)
        failed = failed or _bluestein(block, args, chirp_entry, m1, m2, zr, zi, _NO, _NO, zr, zi, _NO, _NO, br, bi,
                                      ur, ui, vr, vi, runner)
        if failed or _run_pass_of(chirp_entry, block, args, _JOIN, _chunks(zr.size), grad_x[r], zr, zi, none, none,
                                  _NO, runner):
            return 1
    return 0


@njit(cache=True)
def _backward_odd_rows(g, grad_x, ints, floats, zr, zi, br, bi, ur, ui, vr, vi, entry, chirp_entry, pairs_entry,
                       runner):
    """_backward_rows for odd n: grad_x_t = Re(sum_k conj(g_k) w^(kt)), the FFT of conj(g) padded to n, two rows at
    a time."""
    m1, m2 = ints[1], ints[2]
    block, args = _block(entry, ints, floats)
    rows, n = grad_x.shape
    r = np.int64(0)  # not a literal 0 (as in _forward_odd_rows)
    while r < rows:
        one, shift = _pairing(block, args, pairs_entry, g, r, vr, vi, runner)
        second = r + 1 - one  # not read or written (one)
        args[_SHIFT] = shift
        if _run_pass_of(pairs_entry, block, args, _PAIR_PACK, _chunks(n), g[r], zr, zi, g[second], g[second], one,
                        runner):
            return 1
        if _bluestein(block, args, chirp_entry, m1, m2, zr, zi, _NO, _NO, grad_x[r], grad_x[second], one, -shift, br,
                      bi, ur, ui, vr, vi, runner):
            return 1
        r += 2 - one
    return 0


def is_long(n: int) -> bool:
    return complex_length(n) >= LONG_MIN


def _layout(n, dtype):
    """(elements, offsets, sizes) of the scratch of a long row: zr, zi (m,); br, bi (m, or M for Bluestein); and
    Bluestein's ur, ui, vr, vi (M,), else empty; each 32 elements past the one before (see cpu._scratch)."""
    m = complex_length(n)
    ints = long_plan(n, dtype)[0]
    big = ints[1] * ints[2] if ints[0] else 0
    sizes = [m, m, big or m, big or m] + [big] * 4
    offsets = np.cumsum([0] + [size + 32 for size in sizes])
    return int(offsets[-1]), offsets, sizes


def _driven(n, dtype, forward):
    """(the driver for rows of n of dtype, its three entries: _pass_task's address, _chirp_task's where Bluestein
    runs, _pairs_task's for odd n, else 0: no pass of theirs runs), compiling each on first use."""
    bluestein = long_plan(n, dtype)[0][0] != 0
    if n % 2:
        driver = _forward_odd_rows if forward else _backward_odd_rows
    elif bluestein:
        driver = _forward_bluestein_rows if forward else _backward_bluestein_rows
    else:
        driver = _forward_rows if forward else _backward_rows
    return driver, (task_entry(_pass_task, dtype), task_entry(_chirp_task, dtype) if bluestein else 0,
                    task_entry(_pairs_task, dtype) if n % 2 else 0)


@contextmanager
def _scratch(n, dtype):
    """The scratch arrays of _layout, in one buffer of _alloc's pool, kept from call to call: a fresh one could be
    page-faulted in at every call, up to half of the call's time (_alloc.ScratchPool). Allocated by NumPy, which
    asks the kernel for huge pages at these sizes: allocated inside Numba, the four arrays of a 2^22 row took
    4-5 ms more (page faults, measured). Through _alloc, so that the tests' NaN poison shows any scratch read
    before it is written."""
    elements, offsets, sizes = _layout(n, dtype)
    with _alloc.scratch.take(("fft_half long rows", n, np.dtype(dtype)), elements, dtype) as buf:
        yield [buf[o : o + size] for o, size in zip(offsets, sizes)]


def fft_half(x, y):
    """y (B, n // 2) complex = fft_half of x (B, n) float, for long rows."""
    n = x.shape[1]
    driver, entries = _driven(n, x.dtype, True)
    with _scratch(n, x.dtype) as scratch:
        failed = driver(np.ascontiguousarray(x), y.view(x.dtype), *long_plan(n, x.dtype), *scratch, *entries, runner())
    if failed:
        raise MemoryError("fft_half: a task of a long row's pass failed (out of memory for its scratch)")


def fft_half_backward(grad_y, grad_x):
    """grad_x (B, n) from grad_y (B, n // 2) complex, for long rows."""
    n = grad_x.shape[1]
    driver, entries = _driven(n, grad_x.dtype, False)
    with _scratch(n, grad_x.dtype) as scratch:
        failed = driver(np.ascontiguousarray(grad_y).view(grad_x.dtype), grad_x, *long_plan(n, grad_x.dtype), *scratch,
                        *entries, runner())
    if failed:
        raise MemoryError("fft_half_backward: a task of a long row's pass failed (out of memory for its scratch)")
