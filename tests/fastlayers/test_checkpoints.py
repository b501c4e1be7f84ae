"""Checkpoints that used to hang, fail to round-trip or fail with foreign errors (issue "Nothing a user does
breaks it", items 5-9): each refused or handled, with one error type naming the file."""

import json
import os
import stat
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import fastlayers as fl


def _raw_checkpoint(header: dict, payload: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + payload


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    start = time.perf_counter()
    with pytest.raises(fl.CheckpointError, match=r"pipe is not a regular file"):
        fl.load(fifo)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_link_to_a_device_is_refused_without_reading_it(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    link = tmp_path / "model.params"
    link.symlink_to(device)
    with pytest.raises(fl.CheckpointError, match="not a regular file"):
        fl.load(link)


def test_a_header_longer_than_the_file_is_refused(tmp_path):
    path = tmp_path / "liar"
    path.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    with pytest.raises(fl.CheckpointError, match=r"liar is not a safetensors checkpoint: its header claims"):
        fl.load(path)


def test_reserved_and_non_string_keys_are_refused_at_save(tmp_path):
    with pytest.raises(fl.CheckpointError, match="'__metadata__' is reserved"):
        fl.save({"__metadata__": np.ones(2)}, tmp_path / "x")
    with pytest.raises(TypeError, match="str name"):
        fl.save({1: np.ones(2)}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_0d_parameter_round_trips(tmp_path):
    class Scale(fl.Module):
        def __init__(self):
            super().__init__()
            self.s = fl.Parameter(np.array(2.5, np.float32))

        def forward(self, x):
            return x * self.s

    net = Scale()
    fl.save(net.state_dict(), tmp_path / "s")
    loaded = fl.load(tmp_path / "s")
    assert loaded["s"].shape == ()
    clone = Scale()
    clone.s.data = np.array(0.0, np.float32)
    clone.load_state_dict(loaded)
    assert clone.s.data == np.float32(2.5) and clone.s.shape == ()


def test_malformed_files_raise_one_error_type_naming_the_file(tmp_path):
    cases = {
        "overlap": _raw_checkpoint({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
        "short": _raw_checkpoint({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
        "bf16": _raw_checkpoint({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
        "f8": _raw_checkpoint({"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2),
        "nested": struct.pack("<Q", 20000) + b"[" * 10000 + b"]" * 10000,
        "not a table": _raw_checkpoint([1, 2]),  # noqa
        "zip": b"PK\x03\x04" + b"\0" * 60,
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(fl.CheckpointError, match=str(path).replace("\\", "\\\\")) as info:
            fl.load(path)
        if name in ("bf16", "f8"):
            assert "convert BF16 or F8 tensors to F32" in str(info.value)


def test_checkpoints_get_the_permissions_of_a_normal_file_write(tmp_path):
    path = tmp_path / "net.params"
    old = os.umask(0o022)
    try:
        fl.save({"w": np.ones(2)}, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    os.chmod(path, 0o640)
    fl.save({"w": np.zeros(2)}, path)  # an existing file keeps its mode
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_saving_through_a_symlink_writes_its_target(tmp_path):
    target = tmp_path / "real.params"
    fl.save({"w": np.ones(2)}, target)
    link = tmp_path / "latest.params"
    link.symlink_to(target)
    fl.save({"w": np.full(2, 7.0)}, link)
    assert link.is_symlink()
    np.testing.assert_array_equal(fl.load(target)["w"], [7.0, 7.0])


def test_a_save_killed_mid_write_leaves_a_temporary_the_next_save_removes(tmp_path):
    path = tmp_path / "big.params"
    code = ("import os, numpy as np, fastlayers as fl\n"
            "os.fsync = lambda fd: os.kill(os.getpid(), 9)\n"  # dies after writing, before the rename
            f"fl.save({{'w': np.ones(1000)}}, {str(path)!r})\n")
    subprocess.run([sys.executable, "-c", code], timeout=120)
    leftovers = [p for p in os.listdir(tmp_path) if p != "big.params"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".big.params.") and "fastlayers-tmp" in leftovers[0]
    fl.save({"w": np.ones(2)}, path)
    assert os.listdir(tmp_path) == ["big.params"]
