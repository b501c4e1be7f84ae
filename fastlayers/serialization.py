"""fl.save / fl.load: safetensors checkpoints, written atomically, never unpickled.

Every problem with a file fl.load is given — not a regular file, truncated, a pickle,
a header that does not fit, a dtype we do not read — is a CheckpointError (a
ValueError) naming the file and what is wrong, raised before anything is returned.
"""

import json
import os
import stat
import struct
import tempfile

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _safetensors_load
from safetensors.numpy import save as _safetensors_save

from .parameter import _host

_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
_READABLE_DTYPES = {"F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"}
_RESERVED_KEYS = {"__metadata__"}  # safetensors keeps its header's metadata under this name


class CheckpointError(ValueError):
    """A file fl.load cannot read as a checkpoint, or a dict fl.save cannot write as one."""


def save(state_dict, path):
    """Write {name: array} to path in the safetensors format, whatever the extension.

    The bytes go to a temporary file beside path (``.<name>.<pid>.fastlayers-tmp*``),
    are flushed to disk, then renamed over path: a crash leaves the old file or the
    new one, never half of one; the next save removes a dead process's temporaries.
    Through a symbolic link the link's target is written. The file gets path's
    permissions if it existed, else the umask's, as any other file write.
    """
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) for k in state_dict):
        raise TypeError("save: expected a dict of {str name: array}, such as model.state_dict()")
    reserved = sorted(_RESERVED_KEYS.intersection(state_dict))
    if reserved:
        raise CheckpointError(f"save: {reserved[0]!r} is reserved by the safetensors format; rename that entry")
    arrays = {name: np.asarray(_host(a), order="C") for name, a in state_dict.items()}  # 0-d stays 0-d
    data = _safetensors_save(arrays)
    target = os.path.realpath(os.fspath(path))  # through a symbolic link, its target
    folder, name = os.path.split(target)
    prefix = f".{name}.{os.getpid()}.fastlayers-tmp"
    _remove_stale_temporaries(folder, name)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), _mode_for(target))
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _mode_for(target) -> int:
    """The existing file's permission bits, or those a new file gets under the umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_stale_temporaries(folder, name):
    """Temporaries of saves to this file by processes that no longer run (killed mid-write)."""
    start = f".{name}."
    for entry in os.listdir(folder):
        if not entry.startswith(start) or ".fastlayers-tmp" not in entry:
            continue
        pid = entry[len(start):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            try:
                os.unlink(os.path.join(folder, entry))
            except FileNotFoundError:
                pass


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def load(path):
    """Read a safetensors file into {name: NumPy array}.

    Anything else — a pickle (torch.save's format), a truncated or foreign file, a
    FIFO or a device — is refused with a CheckpointError; nothing in the file is
    ever executed, and no more is read than the file holds.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"load: cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"load: {path} is not a regular file (a FIFO, a device or a folder?)")
    with open(path, "rb") as f:
        data = f.read(info.st_size)
    _check_safetensors(data, path)
    try:
        return _safetensors_load(data)
    except (SafetensorError, ValueError, KeyError, OverflowError) as e:
        raise CheckpointError(f"load: {path} is not a readable safetensors checkpoint: {e}") from None


def _check_safetensors(data: bytes, path):
    def refuse(why):
        hint = " (it looks like a pickle, e.g. from torch.save; fastlayers never unpickles)" if _is_pickle(data) else ""
        raise CheckpointError(f"load: {path} is not a safetensors checkpoint: {why}{hint}")

    if len(data) < 8:
        refuse(f"only {len(data)} bytes")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(len(data) - 8, _MAX_HEADER_BYTES):
        refuse(f"its header claims {header_len} bytes, the file holds {len(data) - 8} after the length")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, ValueError, RecursionError):
        refuse("its header is not JSON")
    if not isinstance(header, dict):
        refuse("its header is not a table of tensors")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if dtype not in _READABLE_DTYPES:
            refuse(f"tensor {name!r} has dtype {dtype!r}, which fastlayers does not read "
                   f"(it reads {', '.join(sorted(_READABLE_DTYPES))}; convert BF16 or F8 tensors to F32 first)")
    return header


def _is_pickle(data: bytes) -> bool:
    return data[:1] == b"\x80" or data[:2] == b"PK"  # pickle protocol >= 2; torch's zip-wrapped pickle
