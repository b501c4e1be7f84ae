"""What the CPU kernels share: output buffers (_alloc), when to use threads (_threads), 8-lane vectors (_simd).

Each op's Numba kernels live in its own folder, ``kernels/<op>/cpu.py``.
"""
