"""Where the GPU kernels get their buffers.

One function, as on the CPU (kernels/cpu/_alloc.py), so the GPU tests can swap it
for one that fills every buffer with NaN and prove each kernel writes what it returns.
"""

import cupy


def empty(shape, dtype):
    return cupy.empty(shape, dtype)
