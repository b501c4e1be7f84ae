"""How the CPU kernels use threads.

Below PARALLEL_MIN_ELEMENTS a memory-bound kernel (center) runs on one thread:
waking the thread team costs microseconds to tens of microseconds. At 10^5 float32
two threads took 13-18 us against 15-19 us on one when alone, but 72 us in a full
report run right after the large GEMMs (measured): one thread is the steadier choice.

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
