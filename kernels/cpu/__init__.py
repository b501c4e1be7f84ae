"""What the CPU kernels share: output buffers (_alloc), when to use threads (_threads), 8-lane vectors (_simd).

Each op's Numba kernels live in its own folder, ``kernels/<op>/cpu.py``.

No literal integers as arguments to a compiled function, nor a loop variable that starts as one: Numba
compiles the callee for ``Literal[int](0)`` (or for that first pass of the loop) and again for ``int64``
at the other calls, each butterfly of the FFT twice until 2026-11-24 (1.0 s of its cold first call).
Pass ``np.int64(0)``; tests/kernels/test_compile.py checks every kernel's compiled signatures.
"""
