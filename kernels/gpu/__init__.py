"""What the GPU kernels share: buffers (_alloc) and compiling and launching CUDA sources (_modules).

Each op's CuPy code and CUDA source live in its own folder, ``kernels/<op>/gpu.py`` and ``<op>.cu``.
"""
