"""kernels.cpu._alloc.ScratchPool: large scratch kept from call to call, one buffer per call at a time, bounded."""

import threading

import numpy as np
import pytest

from kernels.cpu._alloc import ScratchPool


def _address(a):
    return a.__array_interface__["data"][0]


def test_a_buffer_given_back_is_the_next_call_s():
    pool = ScratchPool(max_bytes=1 << 20)
    with pool.take("k", 1000, np.float32) as a:
        a[:] = 7
    with pool.take("k", 1000, np.float32) as b:
        assert _address(b) == _address(a) and b.dtype == np.float32 and b.shape == (1000,)
        assert np.all(b == 7)  # what the last call left: scratch, not zeros


def test_calls_at_the_same_time_get_their_own_buffers_and_one_is_kept():
    pool = ScratchPool(max_bytes=1 << 20)
    with pool.take("k", 100, np.float64) as a, pool.take("k", 100, np.float64) as b:
        assert _address(a) != _address(b)
    assert list(pool._free) == ["k"] and pool._bytes == 800


def test_another_size_or_dtype_under_a_key_gets_a_new_buffer():
    pool = ScratchPool(max_bytes=1 << 20)
    with pool.take("k", 100, np.float64) as a:
        pass
    with pool.take("k", 200, np.float64) as b:
        assert b.shape == (200,) and _address(b) != _address(a)
    with pool.take("k", 200, np.float32) as c:
        assert c.dtype == np.float32


def test_the_least_recently_used_go_first_and_nothing_over_the_bound_is_kept():
    pool = ScratchPool(max_bytes=3000)
    for key in "abc":
        with pool.take(key, 100, np.float64):  # 800 bytes each
            pass
    with pool.take("a", 100, np.float64):  # a is taken and given back: now the most recent
        pass
    with pool.take("d", 100, np.float64):  # 4 x 800 > 3000: b, the least recent, goes
        pass
    assert list(pool._free) == ["c", "a", "d"] and pool._bytes == 2400
    with pool.take("big", 1000, np.float64):  # 8000 bytes: used, never kept
        pass
    assert "big" not in pool._free and pool._bytes == 2400
    pool.clear()
    assert not pool._free and pool._bytes == 0


def test_an_exception_in_the_block_passes_through_and_the_buffer_comes_back():
    pool = ScratchPool(max_bytes=1 << 20)
    with pytest.raises(ZeroDivisionError):
        with pool.take("k", 10, np.float32):
            1 / 0
    assert list(pool._free) == ["k"]


def test_threads_never_share_a_buffer():
    pool = ScratchPool(max_bytes=1 << 20)
    clashes, lock, in_use = [], threading.Lock(), set()

    def work():
        for _ in range(200):
            with pool.take("k", 64, np.float64) as buf:
                with lock:
                    if _address(buf) in in_use:
                        clashes.append(_address(buf))
                    in_use.add(_address(buf))
                buf[:] = 1.0  # some work while holding it
                with lock:
                    in_use.discard(_address(buf))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and clashes == []
    assert pool._bytes == 512 and len(pool._free) == 1
