"""When a CPU kernel spreads its work over Numba's threads.

Below this many elements a kernel runs on one thread: starting the thread pool
costs a few microseconds, more than small inputs take altogether.
"""

PARALLEL_MIN_ELEMENTS = 1 << 15
