"""How the CPU kernels use threads.

Below PARALLEL_MIN_ELEMENTS a memory-bound kernel (center) runs on one thread:
waking the thread team costs microseconds to tens of microseconds. A single flat
array, split in equal chunks, pays for the team from FLAT_PARALLEL_MIN_ELEMENTS.

Numba's OpenMP threads and BLAS's threads share the cores. After a parallel
region, GNU OpenMP's idle threads spin for about 300,000 rounds before they
sleep, and OpenBLAS's do the same after a GEMM: a Numba kernel right after a
GEMM ran 10x slower on this project's 2-core machine, fighting the spinner for
its core. A short spin (GOMP_SPINCOUNT=10000) removed that and cost small
kernels nothing measurable; it is set here, before Numba first starts OpenMP,
unless the user set it. (It has no effect if OpenMP was already loaded.)
"""

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")

PARALLEL_MIN_ELEMENTS = 1 << 18
# One flat array split in equal halves pays from here: at 10^5 float32, 13 us on two threads
# against 15 us on one; at 3 * 10^4, 7.2 us against 6.3 us (measured, 2026-11-22).
FLAT_PARALLEL_MIN_ELEMENTS = 1 << 16
