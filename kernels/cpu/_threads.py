"""When the CPU kernels use more than one thread (how they share the cores with BLAS: kernels._cores).

Below PARALLEL_MIN_ELEMENTS a memory-bound kernel (center) runs on one thread:
waking the thread team costs microseconds to tens of microseconds. At 10^5 float32
two threads took 16.5 us against 19.9 us on one, back to back, but 36.0 us against
29.9 us right after a linear_relu, when the second thread has to be woken; at 2^18
two threads won both ways (python -m bench.after_gemm). A layer after a Linear is
the common case: below 2^18, one thread.
"""

PARALLEL_MIN_ELEMENTS = 1 << 18
