"""The complex FFT of a block of LANES rows, on vectors of LANES floats.

A block holds one length-m complex sequence per lane, transposed and split into real
and imaginary parts: element (index, lane) of either part sits at LANES * index + lane,
so a whole index is one vector, and every butterfly below works on whole vectors,
whatever its stride.

Mixed-radix Stockham (autosort, no bit reversal): butterflies for radices 8, 4, 2, 3
and 5, a direct DFT for primes up to 31; Bluestein's chirp-z for lengths with a
larger prime factor. For a stage of radix r on sub-length Ls = r * mm with stride s
(run = s * LANES floats):
    dst[run (r p + u) + e] = w_Ls^(p u) * sum_j src[run (p + j mm) + e] w_r^(j u),   e < run.

Each radix's stage is compiled once, as a C callback (kernels.cpu._native), and stockham calls the
stages by the addresses its plan holds: compiled into stockham, the butterflies were optimized and
compiled to machine code again at every level above it (the block, the run of blocks, the threads'
task, the four-step's parallel passes), and every radix was compiled for every length.
"""

from functools import lru_cache

import numba
import numpy as np
from numba import carray, njit, types

from ..cpu._inner import inner
from ..cpu._native import call, native
from ..cpu._simd import LANES, load, splat, store


@inner
def _twiddle(twr, twi, i):
    return splat(twr[i]), splat(twi[i])


@njit(cache=True, inline="always")
def _radix8(sr, si, dr, di, mm, s, twr, twi, off):
    """Two radix-4 butterflies (even and odd inputs), joined by w_8^u: 4 passes over a 2048-point block where
    radix 4 took 6 (a stage reads and writes the whole block)."""
    run = s * LANES
    c = sr.dtype.type(0.7071067811865476)  # 1 / sqrt(2)
    for p in range(mm):
        i0 = p * run
        o0 = 8 * p * run
        t = off + 7 * p
        for e in range(0, run, LANES):
            a0r, a0i = load(sr, i0 + e), load(si, i0 + e)
            a1r, a1i = load(sr, i0 + mm * run + e), load(si, i0 + mm * run + e)
            a2r, a2i = load(sr, i0 + 2 * mm * run + e), load(si, i0 + 2 * mm * run + e)
            a3r, a3i = load(sr, i0 + 3 * mm * run + e), load(si, i0 + 3 * mm * run + e)
            a4r, a4i = load(sr, i0 + 4 * mm * run + e), load(si, i0 + 4 * mm * run + e)
            a5r, a5i = load(sr, i0 + 5 * mm * run + e), load(si, i0 + 5 * mm * run + e)
            a6r, a6i = load(sr, i0 + 6 * mm * run + e), load(si, i0 + 6 * mm * run + e)
            a7r, a7i = load(sr, i0 + 7 * mm * run + e), load(si, i0 + 7 * mm * run + e)
            # E = DFT4(a0, a2, a4, a6), O = DFT4(a1, a3, a5, a7), as _radix4 computes one
            t0r, t0i, t1r, t1i = a0r + a4r, a0i + a4i, a0r - a4r, a0i - a4i
            t2r, t2i, t3r, t3i = a2r + a6r, a2i + a6i, a2i - a6i, a6r - a2r
            e0r, e0i, e2r, e2i = t0r + t2r, t0i + t2i, t0r - t2r, t0i - t2i
            e1r, e1i, e3r, e3i = t1r + t3r, t1i + t3i, t1r - t3r, t1i - t3i
            t0r, t0i, t1r, t1i = a1r + a5r, a1i + a5i, a1r - a5r, a1i - a5i
            t2r, t2i, t3r, t3i = a3r + a7r, a3i + a7i, a3i - a7i, a7r - a3r
            q0r, q0i, q2r, q2i = t0r + t2r, t0i + t2i, t0r - t2r, t0i - t2i
            q1r, q1i, q3r, q3i = t1r + t3r, t1i + t3i, t1r - t3r, t1i - t3i
            # w_8^u O_u: w_8 = (1 - i) / sqrt 2, w_8^2 = -i, w_8^3 = -(1 + i) / sqrt 2
            q1r, q1i = c * (q1r + q1i), c * (q1i - q1r)
            q2r, q2i = q2i, -q2r
            q3r, q3i = c * (q3i - q3r), -c * (q3r + q3i)
            store(dr, o0 + e, e0r + q0r)
            store(di, o0 + e, e0i + q0i)
            _twiddled(dr, di, o0 + run + e, e1r + q1r, e1i + q1i, twr, twi, t)
            _twiddled(dr, di, o0 + 2 * run + e, e2r + q2r, e2i + q2i, twr, twi, t + 1)
            _twiddled(dr, di, o0 + 3 * run + e, e3r + q3r, e3i + q3i, twr, twi, t + 2)
            _twiddled(dr, di, o0 + 4 * run + e, e0r - q0r, e0i - q0i, twr, twi, t + 3)
            _twiddled(dr, di, o0 + 5 * run + e, e1r - q1r, e1i - q1i, twr, twi, t + 4)
            _twiddled(dr, di, o0 + 6 * run + e, e2r - q2r, e2i - q2i, twr, twi, t + 5)
            _twiddled(dr, di, o0 + 7 * run + e, e3r - q3r, e3i - q3i, twr, twi, t + 6)


@njit(cache=True, inline="always")
def _twiddled(dr, di, o, xr, xi, twr, twi, i):
    """dst[o] = x * w, w = twiddle i."""
    wr, wi = _twiddle(twr, twi, i)
    store(dr, o, xr * wr - xi * wi)
    store(di, o, xr * wi + xi * wr)


@njit(cache=True, inline="always")
def _radix4(sr, si, dr, di, mm, s, twr, twi, off):
    run = s * LANES
    for p in range(mm):
        w1r, w1i = _twiddle(twr, twi, off + 3 * p)
        w2r, w2i = _twiddle(twr, twi, off + 3 * p + 1)
        w3r, w3i = _twiddle(twr, twi, off + 3 * p + 2)
        i0, i1, i2, i3 = p * run, (p + mm) * run, (p + 2 * mm) * run, (p + 3 * mm) * run
        o0 = 4 * p * run
        o1, o2, o3 = o0 + run, o0 + 2 * run, o0 + 3 * run
        for e in range(0, run, LANES):
            a0r, a0i, a1r, a1i = load(sr, i0 + e), load(si, i0 + e), load(sr, i1 + e), load(si, i1 + e)
            a2r, a2i, a3r, a3i = load(sr, i2 + e), load(si, i2 + e), load(sr, i3 + e), load(si, i3 + e)
            t0r, t0i, t1r, t1i = a0r + a2r, a0i + a2i, a0r - a2r, a0i - a2i
            t2r, t2i, t3r, t3i = a1r + a3r, a1i + a3i, a1i - a3i, a3r - a1r  # t3 = (a1 - a3) * (-i)
            store(dr, o0 + e, t0r + t2r)
            store(di, o0 + e, t0i + t2i)
            br, bi = t1r + t3r, t1i + t3i
            store(dr, o1 + e, br * w1r - bi * w1i)
            store(di, o1 + e, br * w1i + bi * w1r)
            br, bi = t0r - t2r, t0i - t2i
            store(dr, o2 + e, br * w2r - bi * w2i)
            store(di, o2 + e, br * w2i + bi * w2r)
            br, bi = t1r - t3r, t1i - t3i
            store(dr, o3 + e, br * w3r - bi * w3i)
            store(di, o3 + e, br * w3i + bi * w3r)


@njit(cache=True, inline="always")
def _radix2(sr, si, dr, di, mm, s, twr, twi, off):
    run = s * LANES
    for p in range(mm):
        wr, wi = _twiddle(twr, twi, off + p)
        i0, i1 = p * run, (p + mm) * run
        o0 = 2 * p * run
        o1 = o0 + run
        for e in range(0, run, LANES):
            a0r, a0i, a1r, a1i = load(sr, i0 + e), load(si, i0 + e), load(sr, i1 + e), load(si, i1 + e)
            store(dr, o0 + e, a0r + a1r)
            store(di, o0 + e, a0i + a1i)
            br, bi = a0r - a1r, a0i - a1i
            store(dr, o1 + e, br * wr - bi * wi)
            store(di, o1 + e, br * wi + bi * wr)


@njit(cache=True, inline="always")
def _radix3(sr, si, dr, di, mm, s, twr, twi, off):
    run = s * LANES
    f = sr.dtype.type  # constants in the data's dtype
    h, half = f(0.8660254037844386), f(0.5)  # sin(2 pi / 3)
    for p in range(mm):
        w1r, w1i = _twiddle(twr, twi, off + 2 * p)
        w2r, w2i = _twiddle(twr, twi, off + 2 * p + 1)
        i0, i1, i2 = p * run, (p + mm) * run, (p + 2 * mm) * run
        o0 = 3 * p * run
        o1, o2 = o0 + run, o0 + 2 * run
        for e in range(0, run, LANES):
            a0r, a0i, a1r, a1i = load(sr, i0 + e), load(si, i0 + e), load(sr, i1 + e), load(si, i1 + e)
            a2r, a2i = load(sr, i2 + e), load(si, i2 + e)
            sr_, si_ = a1r + a2r, a1i + a2i
            mr, mi = a0r - half * sr_, a0i - half * si_
            rr, ri = h * (a1i - a2i), h * (a2r - a1r)  # -i sin(2 pi / 3) (a1 - a2)
            store(dr, o0 + e, a0r + sr_)
            store(di, o0 + e, a0i + si_)
            br, bi = mr + rr, mi + ri
            store(dr, o1 + e, br * w1r - bi * w1i)
            store(di, o1 + e, br * w1i + bi * w1r)
            br, bi = mr - rr, mi - ri
            store(dr, o2 + e, br * w2r - bi * w2i)
            store(di, o2 + e, br * w2i + bi * w2r)


@njit(cache=True, inline="always")
def _radix5(sr, si, dr, di, mm, s, twr, twi, off):
    run = s * LANES
    f = sr.dtype.type
    c1, c2 = f(0.30901699437494745), f(-0.8090169943749475)  # cos(2 pi / 5), cos(4 pi / 5)
    s1, s2 = f(0.9510565162951535), f(0.5877852522924731)  # sin(2 pi / 5), sin(4 pi / 5)
    for p in range(mm):
        w1r, w1i = _twiddle(twr, twi, off + 4 * p)
        w2r, w2i = _twiddle(twr, twi, off + 4 * p + 1)
        w3r, w3i = _twiddle(twr, twi, off + 4 * p + 2)
        w4r, w4i = _twiddle(twr, twi, off + 4 * p + 3)
        i0, i1, i2 = p * run, (p + mm) * run, (p + 2 * mm) * run
        i3, i4 = (p + 3 * mm) * run, (p + 4 * mm) * run
        o0 = 5 * p * run
        o1, o2, o3, o4 = o0 + run, o0 + 2 * run, o0 + 3 * run, o0 + 4 * run
        for e in range(0, run, LANES):
            a0r, a0i = load(sr, i0 + e), load(si, i0 + e)
            a1r, a1i, a4r, a4i = load(sr, i1 + e), load(si, i1 + e), load(sr, i4 + e), load(si, i4 + e)
            a2r, a2i, a3r, a3i = load(sr, i2 + e), load(si, i2 + e), load(sr, i3 + e), load(si, i3 + e)
            b1r, b1i, d1r, d1i = a1r + a4r, a1i + a4i, a1r - a4r, a1i - a4i
            b2r, b2i, d2r, d2i = a2r + a3r, a2i + a3i, a2r - a3r, a2i - a3i
            store(dr, o0 + e, a0r + b1r + b2r)
            store(di, o0 + e, a0i + b1i + b2i)
            # X1 = ta - i tc, X4 = ta + i tc; X2 = tb - i td, X3 = tb + i td; then the twiddles
            tar, tai = a0r + c1 * b1r + c2 * b2r, a0i + c1 * b1i + c2 * b2i
            tcr, tci = s1 * d1r + s2 * d2r, s1 * d1i + s2 * d2i
            xr, xi = tar + tci, tai - tcr
            store(dr, o1 + e, xr * w1r - xi * w1i)
            store(di, o1 + e, xr * w1i + xi * w1r)
            xr, xi = tar - tci, tai + tcr
            store(dr, o4 + e, xr * w4r - xi * w4i)
            store(di, o4 + e, xr * w4i + xi * w4r)
            tbr, tbi = a0r + c2 * b1r + c1 * b2r, a0i + c2 * b1i + c1 * b2i
            tdr, tdi = s2 * d1r - s1 * d2r, s2 * d1i - s1 * d2i
            xr, xi = tbr + tdi, tbi - tdr
            store(dr, o2 + e, xr * w2r - xi * w2i)
            store(di, o2 + e, xr * w2i + xi * w2r)
            xr, xi = tbr - tdi, tbi + tdr
            store(dr, o3 + e, xr * w3r - xi * w3i)
            store(di, o3 + e, xr * w3i + xi * w3r)


@njit(cache=True, inline="always")
def _radix_direct(sr, si, dr, di, mm, s, r, twr, twi, off, rootr, rooti, root_off):
    """A prime radix up to 31: the r-point DFT done directly, O(r^2) vectors."""
    run = s * LANES
    for p in range(mm):
        for u in range(r):
            o = (r * p + u) * run
            for e in range(0, run, LANES):
                i = p * run + e
                accr, acci = load(sr, i), load(si, i)
                for j in range(1, r):
                    i = (p + j * mm) * run + e
                    cr, ci = _twiddle(rootr, rooti, root_off + (j * u) % r)
                    ar, ai = load(sr, i), load(si, i)
                    accr, acci = accr + ar * cr - ai * ci, acci + ar * ci + ai * cr
                if u > 0:
                    wr, wi = _twiddle(twr, twi, off + p * (r - 1) + u - 1)
                    accr, acci = accr * wr - acci * wi, accr * wi + acci * wr
                store(dr, o + e, accr)
                store(di, o + e, acci)


# The stages as C callbacks, one argument list for all: (src re, im, dst re, im, their size, twiddles re, im, their
# size, roots re, im, their size, mm, s, r, twiddle offset, root offset); each inlines its butterfly.


def _radix4_stage(sr, si, dr, di, size, twr, twi, n_tw, rootr, rooti, n_roots, mm, s, r, off, root_off):
    _radix4(carray(sr, size), carray(si, size), carray(dr, size), carray(di, size), mm, s, carray(twr, n_tw),
            carray(twi, n_tw), off)
    return 0


def _radix8_stage(sr, si, dr, di, size, twr, twi, n_tw, rootr, rooti, n_roots, mm, s, r, off, root_off):
    _radix8(carray(sr, size), carray(si, size), carray(dr, size), carray(di, size), mm, s, carray(twr, n_tw),
            carray(twi, n_tw), off)
    return 0


def _radix2_stage(sr, si, dr, di, size, twr, twi, n_tw, rootr, rooti, n_roots, mm, s, r, off, root_off):
    _radix2(carray(sr, size), carray(si, size), carray(dr, size), carray(di, size), mm, s, carray(twr, n_tw),
            carray(twi, n_tw), off)
    return 0


def _radix3_stage(sr, si, dr, di, size, twr, twi, n_tw, rootr, rooti, n_roots, mm, s, r, off, root_off):
    _radix3(carray(sr, size), carray(si, size), carray(dr, size), carray(di, size), mm, s, carray(twr, n_tw),
            carray(twi, n_tw), off)
    return 0


def _radix5_stage(sr, si, dr, di, size, twr, twi, n_tw, rootr, rooti, n_roots, mm, s, r, off, root_off):
    _radix5(carray(sr, size), carray(si, size), carray(dr, size), carray(di, size), mm, s, carray(twr, n_tw),
            carray(twi, n_tw), off)
    return 0


def _direct_stage(sr, si, dr, di, size, twr, twi, n_tw, rootr, rooti, n_roots, mm, s, r, off, root_off):
    _radix_direct(carray(sr, size), carray(si, size), carray(dr, size), carray(di, size), mm, s, r,
                  carray(twr, n_tw), carray(twi, n_tw), off, carray(rootr, n_roots), carray(rooti, n_roots), root_off)
    return 0


_STAGES = {8: _radix8_stage, 4: _radix4_stage, 2: _radix2_stage, 3: _radix3_stage, 5: _radix5_stage}


@njit(cache=True, inline="always")
def real_unpack(zkr, zki, ckr, cki, wr, wi, h):
    """(re, im) of X_k = E_k + w^k O_k, the real-input trick's unpacking, from Z_k (zk), conj(Z_(m-k)) (ck) and
    w^k: E = (Z_k + conj Z_(m-k)) / 2, O = (Z_k - conj Z_(m-k)) / 2i; h is 0.5. Vectors or scalars, lane by lane."""
    er, ei = h * (zkr + ckr), h * (zki + cki)
    orr, oi = h * (zki - cki), h * (ckr - zkr)
    return er + wr * orr - wi * oi, ei + wr * oi + wi * orr


@lru_cache(maxsize=None)
def stage_entry(r: int, dtype) -> int:
    """The address of radix r's stage compiled for dtype (compiled on first use, cached on disk)."""
    real, i64 = types.CPointer(numba.from_dtype(np.dtype(dtype))), types.int64
    return native(_STAGES.get(r, _direct_stage), (real, real, real, real, i64, real, real, i64, real, real, i64,
                                                  *(i64,) * 5))


@njit(cache=True)
def stockham(zr, zi, wr, wi, plan):
    """FFT of the block (zr, zi), (m LANES,), with (wr, wi) as scratch of the same size; all four contiguous.

    plan: (radices, stage addresses, twiddles re, im, twiddle offsets, roots re, im, root offsets), _plan's.
    Returns (result re, im, free re, im): the result lies in one pair, the other is free.
    """
    radices, entries, twr, twi, tw_offsets, rootr, rooti, root_offsets = plan
    length = zr.shape[0] // LANES
    stride = np.int64(1)  # not a literal 1 (kernels/cpu/__init__)
    sr, si, dr, di = zr, zi, wr, wi
    for st in range(radices.shape[0]):
        r = radices[st]
        mm = length // r
        call(entries[st], (sr.ctypes.data, si.ctypes.data, dr.ctypes.data, di.ctypes.data, sr.size, twr.ctypes.data,
                           twi.ctypes.data, twr.size, rootr.ctypes.data, rooti.ctypes.data, rootr.size, mm, stride, r,
                           tw_offsets[st], root_offsets[st]))  # returns 0: a stage allocates nothing, cannot fail
        sr, si, dr, di = dr, di, sr, si
        length = mm
        stride *= r
    return sr, si, dr, di


@inner
def _bluestein(zr, zi, work, inner, tables):
    """FFT of the block (zr, zi), (m LANES,), by Bluestein, in place; work: four (M LANES,) arrays.

    X_k = conj(b_k) sum_t (z_t conj(b_t)) b_(k-t), b_t = exp(i pi t^2 / m): a circular
    convolution by power-of-two FFTs of length M >= 2m - 1. tables: the chirp b (re, im)
    and the FFT of the convolution kernel (re, im).
    """
    chr_, chi, kr, ki = tables
    m, big = zr.shape[0] // LANES, kr.shape[0]
    ur, ui = work[0], work[1]
    for k in range(m):  # u = z * conj(chirp)
        i = LANES * k
        cr, ci = splat(chr_[k]), splat(chi[k])
        ar, ai = load(zr, i), load(zi, i)
        store(ur, i, ar * cr + ai * ci)
        store(ui, i, ai * cr - ar * ci)
    ur[m * LANES :] = 0
    ui[m * LANES :] = 0
    ar_, ai_, br_, bi_ = stockham(ur, ui, work[2], work[3], inner)
    for k in range(big):  # times the kernel's FFT, conjugated: conj before and after a forward FFT inverts it
        i = LANES * k
        cr, ci = splat(kr[k]), splat(ki[k])
        ar, ai = load(ar_, i), load(ai_, i)
        store(ar_, i, ar * cr - ai * ci)
        store(ai_, i, -(ar * ci + ai * cr))
    ar_, ai_, br_, bi_ = stockham(ar_, ai_, br_, bi_, inner)
    scale = zr.dtype.type(1.0 / big)
    for k in range(m):  # z = conj(u) / M * conj(chirp)
        i = LANES * k
        cr, ci = splat(chr_[k] * scale), splat(chi[k] * scale)
        ar, ai = load(ar_, i), -load(ai_, i)
        store(zr, i, ar * cr + ai * ci)
        store(zi, i, ai * cr - ar * ci)


@inner
def transform(zr, zi, work, plan, tables):
    """FFT of the block (zr, zi); work: four arrays of max(m, M) LANES (the last two only for Bluestein).
    tables: Bluestein's, or None: then Numba drops the Bluestein branch when it compiles (a None argument
    is a type of its own), and lengths that never need it never compile it ((3, 1000) float32: 6.1 -> 5.6 s
    cold, (64, 1000), on both threads: 10.4 -> 7.8 s).

    Returns (result re, im, free re, im), each (m LANES,).
    """
    size = zr.shape[0]
    if tables is not None:
        _bluestein(zr, zi, work, plan, tables)
        return zr, zi, work[0][:size], work[1][:size]
    return stockham(zr, zi, work[0][:size], work[1][:size], plan)
