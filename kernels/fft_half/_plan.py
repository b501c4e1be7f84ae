"""Plans for the CPU FFT: radices and twiddle tables, computed in float64 and cached per (length, dtype)."""

from functools import lru_cache

import numpy as np

from ._stages import stage_entry, stockham
from ..cpu._inner import inner
from ..cpu._simd import LANES

MAX_DIRECT_PRIME = 31  # a prime factor above this: Bluestein for the whole length


def _factorize(m: int) -> list:
    """m's radices, stage by stage: its factor 2^k as radix 8 (fewest stages, each a pass over the block)
    with 4s or a 2 for what is left, k = 1: 2, 2: 4, 4: 4 4, 3j + 1: 8 (j - 1 times) 4 4, 3j + 2: 8 (j times)
    4; then the odd primes, smallest first."""
    k = (m & -m).bit_length() - 1
    m >>= k
    eights, rest = divmod(k, 3)
    if rest == 1 and eights:
        eights, rest = eights - 1, 4  # 8 * 2 as 4 * 4
    radices = [8] * eights + {0: [], 1: [2], 2: [4], 4: [4, 4]}[rest]
    p = 3
    while m > 1:
        while m % p == 0:
            radices.append(p)
            m //= p
        p += 1
    return radices


def _stockham_plan(m: int, dtype):
    """(radices, stage addresses, twiddle re, im, twiddle offsets, root re, im, root offsets) for a length-m FFT,
    stage by stage (the addresses: _stages.stage_entry, each radix's stage compiled for dtype).

    Stage with radix r on sub-length Ls = r * mm: twiddles w_Ls^(p u), p < mm, 1 <= u < r;
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
    entries = np.array([stage_entry(r, np.dtype(dtype)) for r in radices], np.int64)
    return (np.array(radices, np.int64), entries, tw.real.astype(dtype), tw.imag.astype(dtype),
            np.array(tw_offsets[:-1], np.int64), rt.real.astype(dtype), rt.imag.astype(dtype),
            np.array(root_offsets[:-1], np.int64))


def _complex_plan(m: int, dtype):
    """Plan for a complex FFT of length m: (use_bluestein, Stockham plan, Bluestein tables).

    Bluestein's tables: the chirp b_t = exp(i pi t^2 / m) (re, im, length m) and the FFT
    of the convolution kernel (re, im, length M, the power of two >= 2m - 1).
    """
    if max(_factorize(m), default=1) <= MAX_DIRECT_PRIME:
        empty = np.zeros(0, dtype)
        return False, _stockham_plan(m, dtype), (empty, empty, empty, empty)
    big = 1 << (2 * m - 2).bit_length()
    inner = _stockham_plan(big, dtype)
    t = np.arange(m, dtype=np.int64)
    chirp = np.exp(1j * np.pi * ((t * t) % (2 * m)) / m)  # t^2 mod 2m keeps the angle exact
    kernel = np.zeros(big, np.complex128)
    kernel[:m] = chirp
    kernel[big - m + 1 :] = chirp[1:][::-1]
    # the kernel's FFT, by our own transform: the kernel in every lane of one block
    kr = np.repeat(kernel.real.astype(dtype), LANES)
    ki = np.repeat(kernel.imag.astype(dtype), LANES)
    rr, ri, _, _ = stockham(kr, ki, np.empty_like(kr), np.empty_like(ki), inner)
    return True, inner, (chirp.real.astype(dtype), chirp.imag.astype(dtype), rr[::LANES].copy(), ri[::LANES].copy())


def complex_length(n: int) -> int:
    """Length of the complex FFT behind a real row of n: n/2 when n is even."""
    return n // 2 if n % 2 == 0 else n


@lru_cache(maxsize=64)
def plan(n: int, dtype):
    """Everything fft_half and its gradient need for real rows of length n: (ints, floats, bluestein).

    Two arrays because a kernel call pays for every array it is given (fifteen took 1.6 us
    a call, two 0.5 us, measured): views() unpacks them inside the kernel. bluestein: None,
    or Bluestein's four tables (views into floats), passed apart so that lengths without
    them compile no Bluestein code (transform).
    ints:   [bluestein?, m, M, stages, radices, stage addresses, twiddle offsets, root offsets, 11 bounds in floats]
    floats: twiddles re, im | roots re, im | chirp re, im | kernel FFT re, im | half twiddles re, im
    (half twiddles: exp(-2 pi i k / n), k < n // 2, which unpack the real-input trick).
    """
    dtype = np.dtype(dtype)
    m = complex_length(n)
    use_bluestein, stages, tables = _complex_plan(m, dtype)
    radices, entries, twr, twi, tw_offsets, rootr, rooti, root_offsets = stages
    half = np.exp(-2j * np.pi * np.arange(n // 2) / n)
    parts = [twr, twi, rootr, rooti, *tables, half.real.astype(dtype), half.imag.astype(dtype)]
    bounds = np.cumsum([0] + [len(p) for p in parts])
    ints = np.concatenate([[int(use_bluestein), m, len(tables[2]), len(radices)], radices, entries, tw_offsets, root_offsets,
                           bounds])
    floats = np.concatenate(parts).astype(dtype)
    bluestein = tuple(floats[bounds[i] : bounds[i + 1]] for i in range(4, 8)) if use_bluestein else None
    return ints.astype(np.int64), floats, bluestein


@inner
def views(ints, floats):
    """plan()'s arrays as (m, M, Stockham plan, half twiddles re, im)."""
    k = ints[3]
    b = ints[4 + 4 * k :]
    stages = (ints[4 : 4 + k], ints[4 + k : 4 + 2 * k], floats[b[0] : b[1]], floats[b[1] : b[2]],
              ints[4 + 2 * k : 4 + 3 * k], floats[b[2] : b[3]], floats[b[3] : b[4]], ints[4 + 3 * k : 4 + 4 * k])
    return ints[1], ints[2], stages, floats[b[8] : b[9]], floats[b[9] : b[10]]


@inner
def bluestein_tables(ints, floats):
    """plan()'s Bluestein tables (chirp re, im, kernel FFT re, im), from its two arrays."""
    b = ints[4 + 4 * ints[3] :]
    return floats[b[4] : b[5]], floats[b[5] : b[6]], floats[b[6] : b[7]], floats[b[7] : b[8]]
