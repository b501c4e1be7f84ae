"""fl.save / fl.load: safetensors checkpoints, written atomically, never unpickled."""

import json
import os
import struct
import tempfile

import numpy as np
from safetensors.numpy import load as _safetensors_load
from safetensors.numpy import save as _safetensors_save

from .parameter import _host

_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit


def save(state_dict, path):
    """Write {name: array} to path in the safetensors format, whatever the extension.

    The bytes go to a temporary file beside path, are flushed to disk, then
    renamed over path: a crash leaves the old file or the new one, never half of one.
    """
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) for k in state_dict):
        raise TypeError("save: expected a dict of {str name: array}, such as model.state_dict()")
    arrays = {name: np.ascontiguousarray(_host(a)) for name, a in state_dict.items()}
    data = _safetensors_save(arrays)
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path):
    """Read a safetensors file into {name: NumPy array}.

    Anything else — a pickle (torch.save's format), a truncated or foreign file —
    is refused with a ValueError; nothing in the file is ever executed.
    """
    with open(path, "rb") as f:
        data = f.read()
    _check_safetensors(data, path)
    return _safetensors_load(data)


def _check_safetensors(data: bytes, path):
    def refuse(why):
        hint = " (it looks like a pickle, e.g. from torch.save; fastlayers never unpickles)" if _is_pickle(data) else ""
        raise ValueError(f"load: {path} is not a safetensors checkpoint: {why}{hint}")

    if len(data) < 8:
        refuse(f"only {len(data)} bytes")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(len(data) - 8, _MAX_HEADER_BYTES):
        refuse("its header length does not fit the file")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, ValueError):
        refuse("its header is not JSON")
    if not isinstance(header, dict):
        refuse("its header is not a table of tensors")


def _is_pickle(data: bytes) -> bool:
    return data[:1] == b"\x80" or data[:2] == b"PK"  # pickle protocol >= 2; torch's zip-wrapped pickle
