"""fft_half (first half of the DFT of real rows) and its gradient on the CPU.

Shapes: x (B, n) real; y and grad_y (B, n // 2) complex; grad_x (B, n).

Our own FFT, no numpy.fft or scipy.fft: a mixed-radix Stockham transform
(radices 4, 2, 3 and any prime up to 31; autosort, so no bit reversal) and,
for lengths with a larger prime factor, Bluestein's chirp-z algorithm on a
power-of-two Stockham transform. Real input of even length n is packed as
n/2 complex samples, x[2m] + i x[2m+1], so each row costs one complex FFT of
half the length; the unpacking computes only the n // 2 coefficients returned.
The backward is the same trick run the other way: one complex FFT of length n/2.
"""

from functools import lru_cache

import numpy as np
from numba import get_num_threads, njit, prange

from . import _alloc
from ._threads import PARALLEL_MIN_ELEMENTS

_MAX_DIRECT_PRIME = 31  # a prime factor above this: Bluestein for the whole length


# --- plans: twiddle tables, computed in float64, cached per (length, dtype) ---


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


def _stockham_plan(m: int, complex_dtype):
    """(radices, twiddles, twiddle offsets, radix roots, root offsets) for a length-m FFT."""
    radices = _factorize(m)
    twiddles, tw_offsets, roots, root_offsets = [], [], [], []
    tw_len = root_len = 0
    length = m
    for r in radices:
        sub = length // r
        p = np.arange(sub)[:, None]
        u = np.arange(1, r)[None, :]
        tw_offsets.append(tw_len)
        twiddles.append(np.exp(-2j * np.pi * (p * u) / length).ravel())
        tw_len += sub * (r - 1)
        root_offsets.append(root_len)
        roots.append(np.exp(-2j * np.pi * np.arange(r) / r))
        root_len += r
        length = sub
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    return (
        np.array(radices, np.int64),
        cat(twiddles).astype(complex_dtype),
        np.array(tw_offsets, np.int64),
        cat(roots).astype(complex_dtype),
        np.array(root_offsets, np.int64),
    )


@lru_cache(maxsize=64)
def _plan(m: int, complex_dtype):
    """Plan for a complex FFT of length m: a Stockham plan, plus Bluestein's tables if needed.

    Bluestein: X_k = conj(b_k) sum_t (x_t conj(b_t)) b_(k-t), b_t = exp(i pi t^2 / m),
    a convolution done with a power-of-two FFT of length M >= 2m - 1.
    """
    complex_dtype = np.dtype(complex_dtype)
    if max(_factorize(m), default=1) <= _MAX_DIRECT_PRIME:
        empty = np.zeros(0, complex_dtype)
        return False, _stockham_plan(m, complex_dtype), (empty, empty)
    big = 1 << (2 * m - 2).bit_length()
    inner = _stockham_plan(big, complex_dtype)
    t = np.arange(m, dtype=np.int64)
    chirp = np.exp(1j * np.pi * ((t * t) % (2 * m)) / m)  # t^2 mod 2m keeps the angle exact
    kernel = np.zeros(big, np.complex128)
    kernel[:m] = chirp
    kernel[big - m + 1 :] = chirp[1:][::-1]
    kernel = kernel.astype(complex_dtype)
    _fft_inplace(kernel, np.empty_like(kernel), inner)
    return True, inner, (chirp.astype(complex_dtype), kernel)


@lru_cache(maxsize=64)
def _half_twiddles(n: int, complex_dtype):
    """exp(-2 pi i k / n) for k < n // 2: the twiddles that unpack the real-input trick."""
    return np.exp(-2j * np.pi * np.arange(n // 2) / n).astype(complex_dtype)


# --- the complex FFT of one row ---


@njit(cache=True)
def _stage(src, dst, length, stride, r, tw, tw_off, roots, root_off, a):
    """One decimation-in-frequency stage of radix r (Stockham: src and dst differ).

    dst[q + s(r p + u)] = w_L^(p u) * sum_j src[q + s(p + j m)] w_r^(j u),  m = L / r.
    """
    m = length // r
    s = stride
    if r == 4:
        for p in range(m):
            w1, w2, w3 = tw[tw_off + 3 * p], tw[tw_off + 3 * p + 1], tw[tw_off + 3 * p + 2]
            for q in range(s):
                a0, a1 = src[q + s * p], src[q + s * (p + m)]
                a2, a3 = src[q + s * (p + 2 * m)], src[q + s * (p + 3 * m)]
                t0, t1, t2 = a0 + a2, a0 - a2, a1 + a3
                d = a1 - a3
                t3 = complex(d.imag, -d.real)  # (a1 - a3) * (-i)
                o = q + s * 4 * p
                dst[o] = t0 + t2
                dst[o + s] = (t1 + t3) * w1
                dst[o + 2 * s] = (t0 - t2) * w2
                dst[o + 3 * s] = (t1 - t3) * w3
    elif r == 2:
        for p in range(m):
            w1 = tw[tw_off + p]
            for q in range(s):
                a0, a1 = src[q + s * p], src[q + s * (p + m)]
                o = q + s * 2 * p
                dst[o] = a0 + a1
                dst[o + s] = (a0 - a1) * w1
    elif r == 3:
        half_sqrt3 = 0.8660254037844386
        for p in range(m):
            w1, w2 = tw[tw_off + 2 * p], tw[tw_off + 2 * p + 1]
            for q in range(s):
                a0, a1, a2 = src[q + s * p], src[q + s * (p + m)], src[q + s * (p + 2 * m)]
                t = a1 + a2
                d = a1 - a2
                base = a0 - 0.5 * t
                rot = complex(half_sqrt3 * d.imag, -half_sqrt3 * d.real)  # -i (sqrt3/2) d
                o = q + s * 3 * p
                dst[o] = a0 + t
                dst[o + s] = (base + rot) * w1
                dst[o + 2 * s] = (base - rot) * w2
    else:
        for p in range(m):
            for q in range(s):
                for j in range(r):
                    a[j] = src[q + s * (p + j * m)]
                o = q + s * r * p
                for u in range(r):
                    acc = a[0]
                    for j in range(1, r):
                        acc += a[j] * roots[root_off + (j * u) % r]
                    if u > 0:
                        acc *= tw[tw_off + p * (r - 1) + u - 1]
                    dst[o + s * u] = acc


@njit(cache=True)
def _stockham(z, work, plan):
    """In-place FFT of z (length m) by the Stockham plan; work is scratch of the same length."""
    radices, tw, tw_offsets, roots, root_offsets = plan
    a = np.empty(max(radices.max(), 1) if radices.size else 1, z.dtype)
    length, stride = z.shape[0], 1
    src, dst = z, work
    for st in range(radices.shape[0]):
        r = radices[st]
        _stage(src, dst, length, stride, r, tw, tw_offsets[st], roots, root_offsets[st], a)
        src, dst = dst, src
        length //= r
        stride *= r
    if radices.shape[0] % 2 == 1:
        z[:] = work


@njit(cache=True)
def _fft_inplace(z, work, plan):
    _stockham(z, work, plan)


@njit(cache=True)
def _bluestein(z, bufs, inner, chirp, kernel):
    """In-place FFT of z (length m) by Bluestein; bufs is (2, M) scratch."""
    m = z.shape[0]
    big = kernel.shape[0]
    u, work = bufs[0], bufs[1]
    for t in range(m):
        u[t] = z[t] * np.conj(chirp[t])
    u[m:] = 0
    _stockham(u, work, inner)
    for k in range(big):
        u[k] = np.conj(u[k] * kernel[k])  # conj before and after a forward FFT: the inverse
    _stockham(u, work, inner)
    scale = 1.0 / big
    for k in range(m):
        z[k] = np.conj(u[k]) * scale * np.conj(chirp[k])


@njit(cache=True)
def _cfft(z, work, bufs, use_bluestein, plan, chirp, kernel):
    if use_bluestein:
        _bluestein(z, bufs, plan, chirp, kernel)
    else:
        _stockham(z, work, plan)


# --- rows of real input ---


@njit(cache=True)
def _forward_row(x, z, work, bufs, use_bluestein, plan, chirp, kernel, half_tw, y):
    n = x.shape[0]
    if n % 2 == 0:
        half = n // 2
        for k in range(half):
            z[k] = complex(x[2 * k], x[2 * k + 1])
        _cfft(z, work, bufs, use_bluestein, plan, chirp, kernel)
        # Z = E + i O (E, O: transforms of even and odd samples); X_k = E_k + w^k O_k.
        for k in range(half):
            zk = z[k]
            zc = np.conj(z[(half - k) % half])
            even = (zk + zc) * 0.5
            d = (zk - zc) * 0.5
            odd = complex(d.imag, -d.real)  # (zk - zc) / (2i)
            y[k] = even + half_tw[k] * odd
    else:
        for t in range(n):
            z[t] = x[t]
        _cfft(z, work, bufs, use_bluestein, plan, chirp, kernel)
        for k in range(n // 2):
            y[k] = z[k]


@njit(cache=True)
def _backward_row(g, n, z, work, bufs, use_bluestein, plan, chirp, kernel, half_tw, grad_x):
    """grad_x_t = Re(sum_k conj(g_k) w^(k t)), w = exp(-2 pi i / n), k < n // 2."""
    if n % 2 == 0:
        half = n // 2
        # Even and odd t are the real parts of two length-n/2 DFTs, of c_k = conj(g_k) and of
        # c_k w^k. A Hermitian-symmetrised input has a real DFT, so one complex FFT gives both.
        for k in range(half):
            kc = (half - k) % half
            c, c_mirror = np.conj(g[k]), g[kc]  # g[kc] is conj(c_(N-k))
            d, d_mirror = c * half_tw[k], np.conj(np.conj(g[kc]) * half_tw[kc])
            hc = (c + c_mirror) * 0.5
            hd = (d + d_mirror) * 0.5
            z[k] = hc + complex(-hd.imag, hd.real)  # hc + i hd
        _cfft(z, work, bufs, use_bluestein, plan, chirp, kernel)
        for m in range(half):
            grad_x[2 * m] = z[m].real
            grad_x[2 * m + 1] = z[m].imag
    else:
        half = n // 2
        for k in range(half):
            z[k] = np.conj(g[k])
        z[half:] = 0
        _cfft(z, work, bufs, use_bluestein, plan, chirp, kernel)
        for t in range(n):
            grad_x[t] = z[t].real


@njit(cache=True, parallel=True)
def _forward_rows(x, m, chunks, use_bluestein, plan, chirp, kernel, half_tw, y):
    rows = x.shape[0]
    for c in prange(chunks):
        z = np.empty(m, y.dtype)
        work = np.empty(m, y.dtype)
        bufs = np.empty((2, kernel.shape[0]), y.dtype)
        for r in range(c * rows // chunks, (c + 1) * rows // chunks):
            _forward_row(x[r], z, work, bufs, use_bluestein, plan, chirp, kernel, half_tw, y[r])


@njit(cache=True, parallel=True)
def _backward_rows(g, n, m, chunks, use_bluestein, plan, chirp, kernel, half_tw, grad_x):
    rows = g.shape[0]
    for c in prange(chunks):
        z = np.empty(m, g.dtype)
        work = np.empty(m, g.dtype)
        bufs = np.empty((2, kernel.shape[0]), g.dtype)
        for r in range(c * rows // chunks, (c + 1) * rows // chunks):
            _backward_row(g[r], n, z, work, bufs, use_bluestein, plan, chirp, kernel, half_tw, grad_x[r])


def _complex_length(n: int) -> int:
    """Length of the complex FFT behind a real row of n: n/2 when n is even."""
    return n // 2 if n % 2 == 0 else n


def _chunks(rows: int, n: int) -> int:
    return min(rows, get_num_threads()) if rows * n >= PARALLEL_MIN_ELEMENTS else min(rows, 1)


def fft_half(x):
    """x (B, n) float → (B, n // 2) complex: fft(x)[:, :n // 2]."""
    rows, n = x.shape
    cdtype = np.result_type(x.dtype, np.complex64)
    y = _alloc.empty((rows, n // 2), cdtype)
    m = _complex_length(n)
    use_bluestein, plan, (chirp, kernel) = _plan(m, cdtype)
    _forward_rows(x, m, _chunks(rows, n), use_bluestein, plan, chirp, kernel, _half_twiddles(n, cdtype), y)
    return y


def fft_half_backward(grad_y, n):
    """grad_y (B, n // 2) complex → grad_x (B, n) real."""
    rows = grad_y.shape[0]
    real_dtype = grad_y.real.dtype
    grad_x = _alloc.empty((rows, n), real_dtype)
    m = _complex_length(n)
    cdtype = grad_y.dtype
    use_bluestein, plan, (chirp, kernel) = _plan(m, cdtype)
    _backward_rows(
        grad_y, n, m, _chunks(rows, n), use_bluestein, plan, chirp, kernel, _half_twiddles(n, cdtype), grad_x
    )
    return grad_x
