"""Where the CPU kernels get their output buffers, and the scratch they keep between calls.

``empty``: one function, so the test suite can swap it for one that fills every buffer
with NaN ("poison") and prove that each kernel writes every element it returns.
``scratch``: the pool of large scratch buffers (ScratchPool); the tests give each test one that keeps
nothing, so that every call's scratch comes from the poisoned ``empty`` too.
"""

import threading
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np


def empty(shape, dtype):
    return np.empty(shape, dtype)


class ScratchPool:
    """Scratch buffers kept from one call to the next, by key, up to max_bytes in all.

    A fresh buffer of megabytes may be page-faulted in at every call, as glibc hands large blocks back to the
    kernel when they are freed (always above 32 MB; below it, depending on what the process freed before). The
    long rows' FFT, float32 (/tmp/q/long_ab2.py, /tmp/q/longvar3.py, 2026-11-24): (1, 2^22), 32 MB of scratch,
    6.5-6.6 ms a call with a fresh buffer, 5.0-5.3 ms with the kept one; (2, 2^20), 8 MB, 3.4-3.9 ms fresh in
    a process whose freed buffers went back to the kernel, with 12 ms calls now and then, 1.5-1.8 ms kept.
    A buffer is taken for one call and given back after it, so calls at the same time each get their own;
    the least recently used keys go first once max_bytes would be passed, and a buffer larger than
    max_bytes is never kept.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._free = OrderedDict()  # key -> a buffer nobody is using
        self._bytes = 0
        self._lock = threading.Lock()

    @contextmanager
    def take(self, key, size: int, dtype):
        """A 1-D buffer of `size` elements of dtype for the block, the one given back under key if there is one
        (its contents: whatever the last call left), else a new one from empty()."""
        with self._lock:
            buf = self._free.pop(key, None)
            if buf is not None:
                self._bytes -= buf.nbytes
        if buf is None or buf.size != size or buf.dtype != dtype:
            buf = empty(size, dtype)
        try:
            yield buf
        finally:
            self._give_back(key, buf)

    def _give_back(self, key, buf):
        if buf.nbytes > self.max_bytes:
            return
        with self._lock:
            if key in self._free:  # another call's buffer came back first: keep one
                return
            while self._free and self._bytes + buf.nbytes > self.max_bytes:
                self._bytes -= self._free.popitem(last=False)[1].nbytes
            self._free[key] = buf
            self._bytes += buf.nbytes

    def clear(self):
        """Drop every kept buffer (their memory goes back once no call is using them)."""
        with self._lock:
            self._free.clear()
            self._bytes = 0


scratch = ScratchPool(max_bytes=128 << 20)
