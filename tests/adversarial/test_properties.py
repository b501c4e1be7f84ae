"""Properties that held under adversarial testing and must keep holding (issue "Nothing a user does breaks
it"): every op, on any memory layout of its inputs, gives the contiguous result, never writes an input and
never returns an array sharing an input's memory; any bytes handed to fl.load are refused with the one
error type (or read, if they are a checkpoint), quickly."""

import time

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import fastlayers as fl
import kernels


def _reversed_view(a):
    return np.flip(np.flip(a).copy())  # the same values, every stride negative


def _unaligned(a):
    buffer = np.empty(a.nbytes + 1, np.uint8)
    out = buffer[1:].view(a.dtype).reshape(a.shape)  # one byte off the allocation's alignment
    out[...] = a
    return out


def _read_only(a):
    out = a.copy()
    out.setflags(write=False)
    return out


def _strided(a):
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim else np.zeros(2, a.dtype)[:1].reshape(())
    if a.ndim:
        wide[..., ::2] = a
        return wide[..., ::2]
    wide[...] = a
    return wide


LAYOUTS = {
    "negative strides": _reversed_view,
    "fortran order": np.asfortranarray,
    "unaligned": _unaligned,
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
    "read-only": _read_only,
    "every other element": _strided,
}
OPS = {op.name: op for op in kernels.OPS}


def _outputs(result):
    return [r for r in (result if isinstance(result, tuple) else (result,)) if r is not None]


@given(name=st.sampled_from(sorted(OPS)), layout=st.sampled_from(sorted(LAYOUTS)), seed=st.integers(0, 2**32 - 1))
def test_any_layout_gives_the_contiguous_result_writes_nothing_and_aliases_nothing(name, layout, seed):
    op = OPS[name]
    rng = np.random.default_rng(seed)
    for inputs, options in op.examples(rng):
        changed = tuple(LAYOUTS[layout](a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in inputs)
        before = [np.copy(a) if isinstance(a, np.ndarray) else a for a in changed]
        y, y_changed = op.forward(*inputs, **options), op.forward(*changed, **options)
        np.testing.assert_array_equal(y_changed, y, err_msg=f"{name}, {layout}")
        grad_y = rng.standard_normal(np.shape(y)).astype(np.result_type(y))
        grads = op.backward(grad_y, y, *inputs, **options)
        grads_changed = op.backward(LAYOUTS[layout](grad_y) if grad_y.ndim else grad_y, y_changed, *changed, **options)
        for got, want in zip(grads_changed, grads):
            assert (got is None) == (want is None)
            if got is not None:
                np.testing.assert_array_equal(got, want, err_msg=f"{name} backward, {layout}")
        for a, b in zip(changed, before):
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)  # never written
                for out in _outputs(y_changed) + _outputs(grads_changed):
                    assert not np.shares_memory(out, a), f"{name}: an output shares an input's memory"


@given(data=st.binary(max_size=300))
def test_any_bytes_are_refused_with_the_one_error_type_or_read(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "file"
    path.write_bytes(data)
    start = time.perf_counter()
    try:
        loaded = fl.load(path)
    except fl.CheckpointError as e:
        assert str(path) in str(e)
    else:
        assert isinstance(loaded, dict)
    assert time.perf_counter() - start < 1.0


@given(header=st.dictionaries(st.text(max_size=5), st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "F64", "BF16", "I8", "F8_E5M2", "X"]),
    "shape": st.lists(st.integers(-1, 4), max_size=3),
    "data_offsets": st.lists(st.integers(-2, 64), min_size=0, max_size=3)}), max_size=3),
    payload=st.binary(max_size=64))
def test_crafted_headers_are_refused_with_the_one_error_type_or_read(header, payload, tmp_path_factory):
    import json
    import struct

    body = json.dumps(header).encode()
    path = tmp_path_factory.mktemp("crafted") / "file"
    path.write_bytes(struct.pack("<Q", len(body)) + body + payload)
    try:
        loaded = fl.load(path)
    except fl.CheckpointError:
        return
    assert isinstance(loaded, dict)
