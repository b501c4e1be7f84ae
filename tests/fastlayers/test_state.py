"""state_dict, load_state_dict, save and load: strict, atomic, lazy-aware, never unpickling."""

import os
import pickle

import numpy as np
import pytest

import fastlayers as fl


def _snapshot(net):
    return {name: (None if p.data is None else p.data.copy()) for name, p in net.named_parameters()}


def _assert_unchanged(net, snapshot):
    for name, p in net.named_parameters():
        if snapshot[name] is None:
            assert not p.initialized, name
        else:
            np.testing.assert_array_equal(p.data, snapshot[name], err_msg=name)


def test_lazy_model_loads_before_its_first_call(tmp_path, rng):
    net = fl.Sequential(fl.LazyLinear(16, activation="relu"), fl.LazyTensorReduction(3))
    x = rng.random((4, 5), dtype=np.float32)
    y = net(x)
    fl.save(net.state_dict(), tmp_path / "ckpt")
    fresh = fl.Sequential(fl.LazyLinear(16, activation="relu"), fl.LazyTensorReduction(3))
    fresh.load_state_dict(fl.load(tmp_path / "ckpt"))
    assert all(p.initialized for p in fresh.parameters())
    assert fresh[0].in_features == 5 and fresh[1].in_features == 16
    np.testing.assert_array_equal(fresh(x), y)


def test_state_dict_of_uninitialized_model_names_the_parameter():
    with pytest.raises(RuntimeError, match=r"'0.weight' is not initialized"):
        fl.Sequential(fl.LazyLinear(3)).state_dict()


@pytest.mark.parametrize("corrupt, error, match", [
    (lambda d: d.pop("1.bias"), KeyError, r"missing keys \['1.bias'\]"),
    (lambda d: d.update(extra=np.ones(2, np.float32)), KeyError, r"unexpected keys \['extra'\]"),
    (lambda d: d.update({"1.weight": np.ones((4, 2), np.float32)}), ValueError, r"'1.weight' has shape \(4, 2\).*expects \(4, 1\)"),
    (lambda d: d.update({"1.bias": np.ones(1, np.float64)}), ValueError, r"'1.bias' is float64.*float32"),
])
def test_failed_load_leaves_the_model_as_it_was(corrupt, error, match, rng):
    net = fl.Sequential(fl.Linear(3, 4), fl.Linear(4, 1))
    state = {k: rng.random(v.shape).astype(v.dtype) for k, v in net.state_dict().items()}  # every key valid...
    corrupt(state)  # ...but one
    before = _snapshot(net)
    with pytest.raises(error, match=match):
        net.load_state_dict(state)
    _assert_unchanged(net, before)


def test_failed_load_into_a_lazy_model_leaves_it_lazy(rng):
    net = fl.Sequential(fl.LazyLinear(4), fl.LazyTensorReduction(2))
    state = {"0.weight": rng.random((3, 4), dtype=np.float32), "0.bias": rng.random(4, dtype=np.float32),
             "1.weight": rng.random((4, 5, 2), dtype=np.float32)}  # (I, I, K) needs equal first axes
    with pytest.raises(ValueError, match="'1.weight' has shape"):
        net.load_state_dict(state)
    assert not any(p.initialized for p in net.parameters())


def test_non_strict_load_takes_the_matching_keys(rng):
    net = fl.Sequential(fl.Linear(3, 4), fl.Linear(4, 1))
    new_weight = rng.random((3, 4), dtype=np.float32)
    net.load_state_dict({"0.weight": new_weight, "unrelated": np.ones(1)}, strict=False)
    np.testing.assert_array_equal(net[0].weight.data, new_weight)


def test_loaded_arrays_are_copies(rng):
    net = fl.Linear(2, 2)
    state = net.state_dict()
    src = {k: v.copy() for k, v in state.items()}
    net.load_state_dict(src)
    src["weight"][0, 0] = 123.0
    assert net.weight.data[0, 0] != 123.0


def test_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.params"
    path.write_bytes(pickle.dumps({"weight": Exploit()}))
    with pytest.raises(ValueError, match="not a safetensors checkpoint.*pickle"):
        fl.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"abc", b"\xff" * 64, b"\x08\x00\x00\x00\x00\x00\x00\x00not json"])
def test_foreign_or_truncated_files_are_refused(tmp_path, content):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a safetensors checkpoint"):
        fl.load(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    fl.save({"w": np.arange(100, dtype=np.float32)}, tmp_path / "full")
    data = (tmp_path / "full").read_bytes()
    (tmp_path / "cut").write_bytes(data[: len(data) - 40])
    with pytest.raises(Exception):  # safetensors: the tensors do not fit the file
        fl.load(tmp_path / "cut")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    fl.save({"w": np.ones(3, np.float32)}, path)
    original = path.read_bytes()

    def crash(*args):
        raise OSError("disk died mid-write")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk died"):
        fl.save({"w": np.zeros(1000, np.float32)}, path)
    assert path.read_bytes() == original  # the old checkpoint is intact
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left behind


def test_file_opens_in_a_plain_safetensors_reader(tmp_path, rng):
    from safetensors import safe_open

    net = fl.Sequential(fl.Linear(3, 2), fl.TensorReduction(2, 2))
    fl.save(net.state_dict(), tmp_path / "net.bin")
    with safe_open(str(tmp_path / "net.bin"), framework="numpy") as f:
        assert sorted(f.keys()) == ["0.bias", "0.weight", "1.weight"]
        np.testing.assert_array_equal(f.get_tensor("1.weight"), net[1].weight.data)


def test_file_opens_in_pytorch(tmp_path):
    torch_safetensors = pytest.importorskip("safetensors.torch", reason="PyTorch is not installed")
    net = fl.Linear(3, 2)
    fl.save(net.state_dict(), tmp_path / "net.safetensors")
    tensors = torch_safetensors.load_file(str(tmp_path / "net.safetensors"))
    np.testing.assert_array_equal(tensors["weight"].numpy(), net.weight.data)


def test_optimizer_built_before_lazy_init_keeps_working(rng):
    net = fl.Sequential(fl.LazyLinear(4), fl.LazyLinear(1))
    opt = fl.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = rng.random((8, 3), dtype=np.float32)
    y = net(x)
    before = net[0].weight.data.copy()
    net.backward(np.ones_like(y))
    opt.step()
    assert not np.array_equal(net[0].weight.data, before)
    assert opt.params[0] is net[0].weight
