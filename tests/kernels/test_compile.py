"""How the CPU kernels compile: no compiled function is specialized for a literal argument.

A literal integer passed to a compiled function (or a loop variable that starts as one) makes Numba compile
the callee once for ``Literal[int](k)`` and again for ``int64`` at its other calls: the FFT's butterflies
were each compiled twice for it (kernels/cpu/__init__). This runs every op on its test examples and on its
quick benchmark sizes (the threads' paths), on long rows (a pair of odd ones) and a training step (MLPStep),
then reads what every kernel function was compiled for, in a fresh process with an empty Numba cache: code
loaded from the cache compiles nothing, so it would show nothing.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
from numba.core import types
from numba.core.dispatcher import Dispatcher

import kernels


def _run_everything(rng):
    for op in kernels.OPS:
        for inputs, options in op.examples(rng):  # float32, as the quick sizes: a literal is one in any dtype
            inputs = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in inputs]
            y = op.forward(*inputs, **options)
            op.backward(np.ones_like(y), y, *inputs, **options)
        for case in op.cases():
            if case.quick:
                case.ours(*case.make(rng))
    params = [rng.standard_normal(s).astype(np.float32) for s in ((64, 128), (128,), (128, 10), (10,))]
    state = ([np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params])
    kernels.MLPStep(params, [True, False], state=state)(rng.standard_normal((64, 64)).astype(np.float32),  # a training
                                                         rng.integers(0, 10, 64), step=1, lr=1e-3)  # step, Adam
    for n, rows in ((2**17, 1), (2**17 + 1, 2)):  # long rows, in no quick case: the four-step passes, and Bluestein
        x = rng.standard_normal((rows, n)).astype(np.float32)  # on them (odd n: a pair of rows)
        y = kernels.fft_half(x)
        kernels.fft_half_backward(np.ones_like(y), y, x)


def _literal_signatures():
    found = []
    for name, module in list(sys.modules.items()):
        if name != "kernels" and not name.startswith("kernels."):
            continue
        for attr, value in vars(module).items():
            if isinstance(value, Dispatcher):
                found += [f"{name}.{attr}{sig}" for sig in value.signatures
                          if any(isinstance(t, types.Literal) for t in sig)]
    return found


_CHILD = """
import json, numpy as np
from tests.kernels.test_compile import _literal_signatures, _run_everything
_run_everything(np.random.default_rng(0))
print(json.dumps(_literal_signatures()))
"""


def test_no_kernel_is_compiled_for_a_literal_argument(tmp_path):
    root = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=root, env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []
