"""When the CPU kernels use more than one thread (how they share the cores with BLAS: kernels._cores).

Below PARALLEL_MIN_ELEMENTS a memory-bound kernel (center) runs on one thread:
waking the thread team costs microseconds to tens of microseconds. At 10^5 float32
two threads took 12-13.5 us against 15.5-19 us on one, back to back; but right
after a GEMM, when the second thread has to be woken, 30-40 us against 18-24 us
(measured). A layer after a Linear is the common case: one thread it is.
"""

PARALLEL_MIN_ELEMENTS = 1 << 18
