"""fft_half (first half of the DFT of real rows) and its gradient on the CPU.

Shapes: x (B, n) real; y and grad_y (B, n // 2) complex; grad_x (B, n).

Our own FFT, no numpy.fft or scipy.fft: a mixed-radix Stockham transform
(butterflies for radices 4, 2, 3 and 5, a direct small DFT for any other prime
up to 31; autosort, so no bit reversal) and, for lengths with a larger prime
factor, Bluestein's chirp-z algorithm on a power-of-two Stockham transform.

Where the speed comes from:
- Real input of even length n is packed as n/2 complex samples,
  x[2m] + i x[2m+1]: one complex FFT of half the length per row, and the
  unpacking computes only the n // 2 coefficients returned. The backward runs
  the same trick the other way.
- Rows are transformed R at a time, stored transposed and split into real and
  imaginary parts, (m, R) each: every butterfly works on R contiguous floats,
  so every stage vectorizes, whatever its stride (interleaved complex numbers
  one row at a time did not, and ran 5-10x slower).
- Blocks of rows are spread over the threads.
"""

from functools import lru_cache

import numpy as np
from numba import get_num_threads, njit, prange

from . import _alloc

_MAX_DIRECT_PRIME = 31  # a prime factor above this: Bluestein for the whole length
_MAX_ROWS_PER_BLOCK = 32
_TILE_ROWS = 8  # rows packed and unpacked together: no more lines of one cache set than L1's ways


# --- plans: twiddle tables, computed in float64 and cached per (length, dtype) ---


def _factorize(m: int) -> list:
    radices = []
    while m % 4 == 0:
        radices.append(4)
        m //= 4
    p = 2
    while m > 1:
        while m % p == 0:
            radices.append(p)
            m //= p
        p += 1
    return radices


def _stockham_plan(m: int, dtype):
    """(radices, twiddle re, im, twiddle offsets, root re, im, root offsets) for a length-m FFT, stage by stage.

    Stage with radix r on sub-length L = r * mm: twiddles w_L^(p u), p < mm, 1 <= u < r;
    roots w_r^k, k < r, used by the direct DFT of radices above 5.
    """
    radices = _factorize(m)
    twiddles, tw_offsets, roots, root_offsets = [], [0], [], [0]
    length = m
    for r in radices:
        sub = length // r
        twiddles.append(np.exp(-2j * np.pi * (np.arange(sub)[:, None] * np.arange(1, r)[None, :]) / length).ravel())
        tw_offsets.append(tw_offsets[-1] + sub * (r - 1))
        roots.append(np.exp(-2j * np.pi * np.arange(r) / r))
        root_offsets.append(root_offsets[-1] + r)
        length = sub
    tw = np.concatenate(twiddles) if twiddles else np.zeros(0, np.complex128)
    rt = np.concatenate(roots) if roots else np.zeros(0, np.complex128)
    return (np.array(radices, np.int64), tw.real.astype(dtype), tw.imag.astype(dtype), np.array(tw_offsets[:-1], np.int64),
            rt.real.astype(dtype), rt.imag.astype(dtype), np.array(root_offsets[:-1], np.int64))


@lru_cache(maxsize=64)
def _plan(m: int, dtype):
    """Plan for a complex FFT of length m: (use_bluestein, Stockham plan, Bluestein tables).

    Bluestein: X_k = conj(b_k) sum_t (x_t conj(b_t)) b_(k-t), b_t = exp(i pi t^2 / m),
    a circular convolution done by a power-of-two FFT of length M >= 2m - 1.
    Its tables: the chirp b (re, im) and the FFT of the convolution kernel (re, im).
    """
    dtype = np.dtype(dtype)
    if max(_factorize(m), default=1) <= _MAX_DIRECT_PRIME:
        empty = np.zeros(0, dtype)
        return False, _stockham_plan(m, dtype), (empty, empty, empty, empty)
    big = 1 << (2 * m - 2).bit_length()
    inner = _stockham_plan(big, dtype)
    t = np.arange(m, dtype=np.int64)
    chirp = np.exp(1j * np.pi * ((t * t) % (2 * m)) / m)  # t^2 mod 2m keeps the angle exact
    kernel = np.zeros(big, np.complex128)
    kernel[:m] = chirp
    kernel[big - m + 1 :] = chirp[1:][::-1]
    kr, ki = kernel.real.astype(dtype).reshape(big, 1).copy(), kernel.imag.astype(dtype).reshape(big, 1).copy()
    _stockham(kr, ki, np.empty_like(kr), np.empty_like(ki), inner)  # the kernel's FFT, by our own transform
    return True, inner, (chirp.real.astype(dtype), chirp.imag.astype(dtype), kr[:, 0].copy(), ki[:, 0].copy())


@lru_cache(maxsize=64)
def _half_twiddles(n: int, dtype):
    """exp(-2 pi i k / n) for k < n // 2 (re, im): the twiddles that unpack the real-input trick."""
    w = np.exp(-2j * np.pi * np.arange(n // 2) / n)
    return w.real.astype(dtype), w.imag.astype(dtype)


# --- one stage of the complex FFT on a block, real and imaginary parts apart ---
# A block (L, R) is used flat: element (index, row) sits at index * R + row. For a stage
# of radix r with stride s, mm = L / r and run = s * R:
#   dst[run (r p + u) + e] = w_L^(p u) * sum_j src[run (p + j mm) + e] w_r^(j u),  e < run,
# so each butterfly sweeps `run` contiguous floats: every stage vectorizes, and later
# stages (larger s) in longer sweeps. Offsets are unsigned: Numba then drops its
# negative-index check, which would otherwise stop the vectorizer.


@njit(cache=True)
def _radix4(sr, si, dr, di, mm, s, rows, twr, twi, off):
    run = s * rows
    n, urows = np.uint64(run), np.uint64(rows)
    for p in range(mm):
        w1r, w1i = twr[off + 3 * p], twi[off + 3 * p]
        w2r, w2i = twr[off + 3 * p + 1], twi[off + 3 * p + 1]
        w3r, w3i = twr[off + 3 * p + 2], twi[off + 3 * p + 2]
        i0, i1 = np.uint64(p * run), np.uint64((p + mm) * run)
        i2, i3 = np.uint64((p + 2 * mm) * run), np.uint64((p + 3 * mm) * run)
        o0 = np.uint64(4 * p * run)
        o1 = o0 + n  # chained: uint64 + int64 would be int64 again
        o2 = o1 + n
        o3 = o2 + n
        for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
            cb = np.uint64(q * rows)
            for t in range(urows):
                e = cb + t
                t0r, t0i = sr[i0 + e] + sr[i2 + e], si[i0 + e] + si[i2 + e]
                t1r, t1i = sr[i0 + e] - sr[i2 + e], si[i0 + e] - si[i2 + e]
                t2r, t2i = sr[i1 + e] + sr[i3 + e], si[i1 + e] + si[i3 + e]
                t3r, t3i = si[i1 + e] - si[i3 + e], sr[i3 + e] - sr[i1 + e]  # (a1 - a3) * (-i)
                dr[o0 + e], di[o0 + e] = t0r + t2r, t0i + t2i
                br, bi = t1r + t3r, t1i + t3i
                dr[o1 + e], di[o1 + e] = br * w1r - bi * w1i, br * w1i + bi * w1r
                br, bi = t0r - t2r, t0i - t2i
                dr[o2 + e], di[o2 + e] = br * w2r - bi * w2i, br * w2i + bi * w2r
                br, bi = t1r - t3r, t1i - t3i
                dr[o3 + e], di[o3 + e] = br * w3r - bi * w3i, br * w3i + bi * w3r


@njit(cache=True)
def _radix2(sr, si, dr, di, mm, s, rows, twr, twi, off):
    run = s * rows
    n, urows = np.uint64(run), np.uint64(rows)
    for p in range(mm):
        wr, wi = twr[off + p], twi[off + p]
        i0, i1 = np.uint64(p * run), np.uint64((p + mm) * run)
        o0 = np.uint64(2 * p * run)
        o1 = o0 + n
        for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
            cb = np.uint64(q * rows)
            for t in range(urows):
                e = cb + t
                dr[o0 + e], di[o0 + e] = sr[i0 + e] + sr[i1 + e], si[i0 + e] + si[i1 + e]
                br, bi = sr[i0 + e] - sr[i1 + e], si[i0 + e] - si[i1 + e]
                dr[o1 + e], di[o1 + e] = br * wr - bi * wi, br * wi + bi * wr


@njit(cache=True)
def _radix3(sr, si, dr, di, mm, s, rows, twr, twi, off):
    run = s * rows
    n, urows = np.uint64(run), np.uint64(rows)
    f = sr.dtype.type  # constants in the data's dtype: a float64 literal would turn float32 math into float64
    h, half = f(0.8660254037844386), f(0.5)  # sin(2 pi / 3)
    for p in range(mm):
        w1r, w1i = twr[off + 2 * p], twi[off + 2 * p]
        w2r, w2i = twr[off + 2 * p + 1], twi[off + 2 * p + 1]
        i0, i1, i2 = np.uint64(p * run), np.uint64((p + mm) * run), np.uint64((p + 2 * mm) * run)
        o0 = np.uint64(3 * p * run)
        o1 = o0 + n
        o2 = o1 + n
        for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
            cb = np.uint64(q * rows)
            for t in range(urows):
                e = cb + t
                sr_, si_ = sr[i1 + e] + sr[i2 + e], si[i1 + e] + si[i2 + e]
                mr, mi = sr[i0 + e] - half * sr_, si[i0 + e] - half * si_
                rr, ri = h * (si[i1 + e] - si[i2 + e]), h * (sr[i2 + e] - sr[i1 + e])  # -i sin(2pi/3) (a1 - a2)
                dr[o0 + e], di[o0 + e] = sr[i0 + e] + sr_, si[i0 + e] + si_
                br, bi = mr + rr, mi + ri
                dr[o1 + e], di[o1 + e] = br * w1r - bi * w1i, br * w1i + bi * w1r
                br, bi = mr - rr, mi - ri
                dr[o2 + e], di[o2 + e] = br * w2r - bi * w2i, br * w2i + bi * w2r


@njit(cache=True)
def _radix5(sr, si, dr, di, mm, s, rows, twr, twi, off):
    # Three sweeps through scratch rows, not one: with every stream in one loop LLVM's
    # cost model declined to vectorize it (measured: scalar code, 3x slower).
    run = s * rows
    n, urows = np.uint64(run), np.uint64(rows)
    f = sr.dtype.type
    c1, c2 = f(0.30901699437494745), f(-0.8090169943749475)  # cos(2 pi / 5), cos(4 pi / 5)
    s1, s2 = f(0.9510565162951535), f(0.5877852522924731)  # sin(2 pi / 5), sin(4 pi / 5)
    tmp = np.empty((8, run), sr.dtype)
    b1r, b1i, b2r, b2i, d1r, d1i, d2r, d2i = tmp[0], tmp[1], tmp[2], tmp[3], tmp[4], tmp[5], tmp[6], tmp[7]
    for p in range(mm):
        w = off + 4 * p
        w1r, w1i, w2r, w2i = twr[w], twi[w], twr[w + 1], twi[w + 1]
        w3r, w3i, w4r, w4i = twr[w + 2], twi[w + 2], twr[w + 3], twi[w + 3]
        i0, i1, i2 = np.uint64(p * run), np.uint64((p + mm) * run), np.uint64((p + 2 * mm) * run)
        i3, i4 = np.uint64((p + 3 * mm) * run), np.uint64((p + 4 * mm) * run)
        o0 = np.uint64(5 * p * run)
        o1 = o0 + n
        o2 = o1 + n
        o3 = o2 + n
        o4 = o3 + n
        for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
            cb = np.uint64(q * rows)
            for t in range(urows):
                e = cb + t
                b1r[e], b1i[e] = sr[i1 + e] + sr[i4 + e], si[i1 + e] + si[i4 + e]
                b2r[e], b2i[e] = sr[i2 + e] + sr[i3 + e], si[i2 + e] + si[i3 + e]
                d1r[e], d1i[e] = sr[i1 + e] - sr[i4 + e], si[i1 + e] - si[i4 + e]
                d2r[e], d2i[e] = sr[i2 + e] - sr[i3 + e], si[i2 + e] - si[i3 + e]
        # X0 = a0 + b1 + b2; X1 = ta - i tc, X4 = ta + i tc; X2 = tb - i td, X3 = tb + i td; then twiddles.
        for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
            cb = np.uint64(q * rows)
            for t in range(urows):
                e = cb + t
                a0r, a0i = sr[i0 + e], si[i0 + e]
                tar, tai = a0r + c1 * b1r[e] + c2 * b2r[e], a0i + c1 * b1i[e] + c2 * b2i[e]
                tcr, tci = s1 * d1r[e] + s2 * d2r[e], s1 * d1i[e] + s2 * d2i[e]
                dr[o0 + e], di[o0 + e] = a0r + b1r[e] + b2r[e], a0i + b1i[e] + b2i[e]
                xr, xi = tar + tci, tai - tcr
                dr[o1 + e], di[o1 + e] = xr * w1r - xi * w1i, xr * w1i + xi * w1r
                xr, xi = tar - tci, tai + tcr
                dr[o4 + e], di[o4 + e] = xr * w4r - xi * w4i, xr * w4i + xi * w4r
        for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
            cb = np.uint64(q * rows)
            for t in range(urows):
                e = cb + t
                a0r, a0i = sr[i0 + e], si[i0 + e]
                tbr, tbi = a0r + c2 * b1r[e] + c1 * b2r[e], a0i + c2 * b1i[e] + c1 * b2i[e]
                tdr, tdi = s2 * d1r[e] - s1 * d2r[e], s2 * d1i[e] - s1 * d2i[e]
                xr, xi = tbr + tdi, tbi - tdr
                dr[o2 + e], di[o2 + e] = xr * w2r - xi * w2i, xr * w2i + xi * w2r
                xr, xi = tbr - tdi, tbi + tdr
                dr[o3 + e], di[o3 + e] = xr * w3r - xi * w3i, xr * w3i + xi * w3r


@njit(cache=True)
def _radix_direct(sr, si, dr, di, mm, s, rows, r, twr, twi, off, rootr, rooti, root_off):
    """A prime radix up to 31: the r-point DFT done directly, O(r^2)."""
    run = s * rows
    urows = np.uint64(rows)
    for p in range(mm):
        for u in range(r):
            o = np.uint64((r * p + u) * run)
            for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
                cb = np.uint64(q * rows)
                for t in range(urows):
                    e = cb + t
                    dr[o + e] = 0
                    di[o + e] = 0
            for j in range(r):
                i = np.uint64((p + j * mm) * run)
                k = root_off + (j * u) % r
                cr, ci = rootr[k], rooti[k]
                for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
                    cb = np.uint64(q * rows)
                    for t in range(urows):
                        e = cb + t
                        dr[o + e] += sr[i + e] * cr - si[i + e] * ci
                        di[o + e] += sr[i + e] * ci + si[i + e] * cr
            if u > 0:
                wr, wi = twr[off + p * (r - 1) + u - 1], twi[off + p * (r - 1) + u - 1]
                for q in range(s):  # a short inner loop of `rows` floats: measured 2x faster than one long sweep
                    cb = np.uint64(q * rows)
                    for t in range(urows):
                        e = cb + t
                        br, bi = dr[o + e], di[o + e]
                        dr[o + e], di[o + e] = br * wr - bi * wi, br * wi + bi * wr


@njit(cache=True)
def _stockham(zr, zi, wr, wi, plan):
    """In-place FFT along axis 0 of the block (zr, zi), (m, R); (wr, wi) is scratch of the same shape."""
    radices, twr, twi, tw_offsets, rootr, rooti, root_offsets = plan
    length, rows = zr.shape
    stride, size = 1, zr.size
    sr, si, dr, di = zr.reshape(size), zi.reshape(size), wr.reshape(size), wi.reshape(size)
    for st in range(radices.shape[0]):
        r = radices[st]
        mm = length // r
        off = tw_offsets[st]
        if r == 4:
            _radix4(sr, si, dr, di, mm, stride, rows, twr, twi, off)
        elif r == 2:
            _radix2(sr, si, dr, di, mm, stride, rows, twr, twi, off)
        elif r == 3:
            _radix3(sr, si, dr, di, mm, stride, rows, twr, twi, off)
        elif r == 5:
            _radix5(sr, si, dr, di, mm, stride, rows, twr, twi, off)
        else:
            _radix_direct(sr, si, dr, di, mm, stride, rows, r, twr, twi, off, rootr, rooti, root_offsets[st])
        sr, si, dr, di = dr, di, sr, si
        length = mm
        stride *= r
    if radices.shape[0] % 2 == 1:
        zr[:] = wr
        zi[:] = wi


@njit(cache=True)
def _bluestein(zr, zi, ur, ui, wr, wi, inner, tables):
    """In-place FFT of the block (zr, zi), (m, R), by Bluestein; (ur, ui), (wr, wi) are (M, R) scratch."""
    chr_, chi, kr, ki = tables
    m, rows = zr.shape
    big = ur.shape[0]
    for k in range(m):  # u = z * conj(chirp)
        cr, ci = chr_[k], chi[k]
        for t in range(rows):
            ur[k, t] = zr[k, t] * cr + zi[k, t] * ci
            ui[k, t] = zi[k, t] * cr - zr[k, t] * ci
    ur[m:] = 0
    ui[m:] = 0
    _stockham(ur, ui, wr, wi, inner)
    for k in range(big):  # times the kernel's FFT, conjugated: conj before and after a forward FFT inverts it
        cr, ci = kr[k], ki[k]
        for t in range(rows):
            ar, ai = ur[k, t], ui[k, t]
            ur[k, t] = ar * cr - ai * ci
            ui[k, t] = -(ar * ci + ai * cr)
    _stockham(ur, ui, wr, wi, inner)
    scale = zr.dtype.type(1.0 / big)
    for k in range(m):  # z = conj(u) / M * conj(chirp)
        cr, ci = chr_[k] * scale, chi[k] * scale
        for t in range(rows):
            ar, ai = ur[k, t], -ui[k, t]
            zr[k, t] = ar * cr + ai * ci
            zi[k, t] = ai * cr - ar * ci


@njit(cache=True)
def _cfft(zr, zi, work, use_bluestein, plan, tables):
    if use_bluestein:
        _bluestein(zr, zi, work[0], work[1], work[2], work[3], plan, tables)
    else:
        _stockham(zr, zi, work[0], work[1], plan)


# --- blocks of rows of real input ---


# Loops below run k outer, t inner: each write to the block lands next to the previous
# one, and the reads of the R rows share the cache lines of the k before (measured faster
# than row by row, which wrote the block with a stride of R). They take _TILE_ROWS rows at
# a time: rows 4 KiB apart (n = 1024 floats) all fall in one set of the 8-way L1 cache, so
# 32 rows at once evicted each other's lines before the next k used them (packing took 3x
# the FFT itself at (1024, 1024), measured).


@njit(cache=True)
def _forward_block(x, y, r0, rows, zr, zi, work, use_bluestein, plan, tables, hr, hi):
    """y[r0:r0+rows] (as (re, im) float pairs) = fft_half of x[r0:r0+rows]."""
    n = x.shape[1]
    h = zr.dtype.type(0.5)
    xs, ys = x[r0 : r0 + rows], y[r0 : r0 + rows]
    if n % 2 == 0:
        half = n // 2
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for k in range(half):
                for t in range(t0, t1):
                    zr[k, t] = xs[t, 2 * k]
                    zi[k, t] = xs[t, 2 * k + 1]
        _cfft(zr, zi, work, use_bluestein, plan, tables)
        # Z = E + i O (E, O: transforms of the even and odd samples); X_k = E_k + w^k O_k.
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for k in range(half):
                kc = half - k if k else 0
                wr, wi = hr[k], hi[k]
                for t in range(t0, t1):
                    ar, ai, br, bi = zr[k, t], zi[k, t], zr[kc, t], -zi[kc, t]  # Z_k and conj(Z_(N-k))
                    er, ei = h * (ar + br), h * (ai + bi)
                    orr, oi = h * (ai - bi), h * (br - ar)  # (Z_k - conj(Z_(N-k))) / 2i
                    ys[t, 2 * k] = er + wr * orr - wi * oi
                    ys[t, 2 * k + 1] = ei + wr * oi + wi * orr
    else:
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for k in range(n):
                for t in range(t0, t1):
                    zr[k, t] = xs[t, k]
                    zi[k, t] = 0
        _cfft(zr, zi, work, use_bluestein, plan, tables)
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for k in range(n // 2):
                for t in range(t0, t1):
                    ys[t, 2 * k] = zr[k, t]
                    ys[t, 2 * k + 1] = zi[k, t]


@njit(cache=True)
def _backward_block(g, n, grad_x, r0, rows, zr, zi, work, use_bluestein, plan, tables, hr, hi):
    """grad_x_t = Re(sum_k conj(g_k) w^(k t)), w = exp(-2 pi i / n), k < n // 2; g as (re, im) float pairs."""
    half = n // 2
    h = zr.dtype.type(0.5)
    gs, outs = g[r0 : r0 + rows], grad_x[r0 : r0 + rows]
    if n % 2 == 0:
        # Even and odd t are the real parts of two length-n/2 DFTs, of c_k = conj(g_k) and of c_k w^k.
        # A Hermitian-symmetrised input has a real DFT, so one complex FFT of hc + i hd gives both.
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for k in range(half):
                kc = half - k if k else 0
                wr, wi, vr, vi = hr[k], hi[k], hr[kc], hi[kc]
                for t in range(t0, t1):
                    cr, ci, mr, mi = gs[t, 2 * k], -gs[t, 2 * k + 1], gs[t, 2 * kc], gs[t, 2 * kc + 1]  # c_k, conj(c_kc)
                    dr_, di_ = cr * wr - ci * wi, cr * wi + ci * wr  # d_k = c_k w^k
                    er, ei = mr * vr + mi * vi, mi * vr - mr * vi  # conj(d_kc) = conj(c_kc) conj(w^kc)
                    hcr, hci = h * (cr + mr), h * (ci + mi)
                    hdr, hdi = h * (dr_ + er), h * (di_ + ei)
                    zr[k, t] = hcr - hdi  # hc + i hd
                    zi[k, t] = hci + hdr
        _cfft(zr, zi, work, use_bluestein, plan, tables)
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for m in range(half):
                for t in range(t0, t1):
                    outs[t, 2 * m] = zr[m, t]
                    outs[t, 2 * m + 1] = zi[m, t]
    else:
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for k in range(half):
                for t in range(t0, t1):
                    zr[k, t] = gs[t, 2 * k]
                    zi[k, t] = -gs[t, 2 * k + 1]
        zr[half:] = 0
        zi[half:] = 0
        _cfft(zr, zi, work, use_bluestein, plan, tables)
        for t0 in range(0, rows, _TILE_ROWS):  # a few rows at a time: see above
            t1 = min(rows, t0 + _TILE_ROWS)
            for k in range(n):
                for t in range(t0, t1):
                    outs[t, k] = zr[k, t]


@njit(cache=True)
def _scratch(m, big, rows_per_block, use_bluestein, dtype_of):
    """Flat buffers for one task: the block (2, m, R) and the transform's work space."""
    z = np.empty(2 * m * rows_per_block, dtype_of.dtype)
    work = np.empty((4 if use_bluestein else 2) * max(m, big) * rows_per_block, dtype_of.dtype)
    return z, work


@njit(cache=True)
def _views(z, work, m, big, rows, use_bluestein):
    """The block (m, rows) re and im, and (k, max(m, big), rows) work arrays, at the front of the buffers."""
    zz = z[: 2 * m * rows].reshape(2, m, rows)
    k = 4 if use_bluestein else 2
    return zz, work[: k * max(m, big) * rows].reshape(k, max(m, big), rows)


@njit(cache=True)
def _forward_blocks(x, y, b0, b1, rows_per_block, m, big, use_bluestein, plan, tables, hr, hi):
    """Blocks b0 <= b < b1 of rows_per_block rows, with scratch allocated once."""
    z, work = _scratch(m, big, rows_per_block, use_bluestein, y)
    for b in range(b0, b1):
        r0 = b * rows_per_block
        rows = min(rows_per_block, x.shape[0] - r0)
        zz, ww = _views(z, work, m, big, rows, use_bluestein)
        _forward_block(x, y, r0, rows, zz[0], zz[1], ww, use_bluestein, plan, tables, hr, hi)


@njit(cache=True)
def _backward_blocks(g, n, grad_x, b0, b1, rows_per_block, m, big, use_bluestein, plan, tables, hr, hi):
    z, work = _scratch(m, big, rows_per_block, use_bluestein, grad_x)
    for b in range(b0, b1):
        r0 = b * rows_per_block
        rows = min(rows_per_block, g.shape[0] - r0)
        zz, ww = _views(z, work, m, big, rows, use_bluestein)
        _backward_block(g, n, grad_x, r0, rows, zz[0], zz[1], ww, use_bluestein, plan, tables, hr, hi)


# Serial and parallel drivers differ only in range/prange: two functions, so Numba's
# on-disk cache keeps them apart; small inputs skip the thread launch. The parallel ones
# give each task (one per thread) a contiguous run of blocks and one set of scratch.


@njit(cache=True)
def _forward_serial(x, y, m, big, rows_per_block, tasks, use_bluestein, plan, tables, hr, hi):
    blocks = (x.shape[0] + rows_per_block - 1) // rows_per_block
    _forward_blocks(x, y, 0, blocks, rows_per_block, m, big, use_bluestein, plan, tables, hr, hi)


@njit(cache=True, parallel=True)
def _forward_parallel(x, y, m, big, rows_per_block, tasks, use_bluestein, plan, tables, hr, hi):
    blocks = (x.shape[0] + rows_per_block - 1) // rows_per_block
    for task in prange(tasks):
        _forward_blocks(x, y, task * blocks // tasks, (task + 1) * blocks // tasks, rows_per_block, m, big,
                        use_bluestein, plan, tables, hr, hi)


@njit(cache=True)
def _backward_serial(g, n, grad_x, m, big, rows_per_block, tasks, use_bluestein, plan, tables, hr, hi):
    blocks = (g.shape[0] + rows_per_block - 1) // rows_per_block
    _backward_blocks(g, n, grad_x, 0, blocks, rows_per_block, m, big, use_bluestein, plan, tables, hr, hi)


@njit(cache=True, parallel=True)
def _backward_parallel(g, n, grad_x, m, big, rows_per_block, tasks, use_bluestein, plan, tables, hr, hi):
    blocks = (g.shape[0] + rows_per_block - 1) // rows_per_block
    for task in prange(tasks):
        _backward_blocks(g, n, grad_x, task * blocks // tasks, (task + 1) * blocks // tasks, rows_per_block, m, big,
                         use_bluestein, plan, tables, hr, hi)


def _complex_length(n: int) -> int:
    """Length of the complex FFT behind a real row of n: n/2 when n is even."""
    return n // 2 if n % 2 == 0 else n


_PARALLEL_MIN_POINTS = 4096  # rows * m: an FFT does O(log m) work a point, so threads pay off sooner than elsewhere
_COMPLEX = {np.dtype(np.float32): np.dtype(np.complex64), np.dtype(np.float64): np.dtype(np.complex128)}


def _schedule(rows: int, m: int):
    """(rows per block, tasks, parallel?): blocks wide enough to vectorize, one task per thread.

    32 rows vectorize fully (LLVM's vector loop takes 8 lanes x 4 at a time; at 16 rows part
    of each butterfly ran scalar: 2.6 against 4.0 ns a point for m = 512, measured) while a
    block of rows up to m = 1024 and its work space still fit in L2. Longer rows take 16:
    at (64, 65536) blocks of 16 rows took 10 ms, of 8 rows 23 ms (each butterfly half
    scalar), of 32 rows 28 ms (two 16 MiB working sets fighting over L3) — measured.
    """
    widest = _MAX_ROWS_PER_BLOCK if m <= 1024 else 16
    threads = get_num_threads()
    if rows < 2 or rows * m < _PARALLEL_MIN_POINTS:
        return min(rows, widest), 1, False
    per_block = max(1, min(widest, -(-rows // threads)))
    blocks = -(-rows // per_block)
    return per_block, min(blocks, threads), blocks > 1


def fft_half(x):
    """x (B, n) float → (B, n // 2) complex: fft(x)[:, :n // 2]."""
    rows, n = x.shape
    y = _alloc.empty((rows, n // 2), _COMPLEX[x.dtype])
    if rows == 0 or n < 2:
        return y
    m = _complex_length(n)
    use_bluestein, plan, tables = _plan(m, x.dtype)
    per_block, tasks, parallel = _schedule(rows, m)
    driver = _forward_parallel if parallel else _forward_serial
    hr, hi = _half_twiddles(n, x.dtype)
    driver(x, y.view(x.dtype), m, tables[2].shape[0], per_block, tasks, use_bluestein, plan, tables, hr, hi)
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
    m = _complex_length(n)
    use_bluestein, plan, tables = _plan(m, dtype)
    per_block, tasks, parallel = _schedule(rows, m)
    driver = _backward_parallel if parallel else _backward_serial
    hr, hi = _half_twiddles(n, dtype)
    driver(grad_y.view(dtype), n, grad_x, m, tables[2].shape[0], per_block, tasks, use_bluestein, plan, tables, hr, hi)
    return grad_x
