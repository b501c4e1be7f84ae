"""kernels.cpu._inner: helpers compiled without Numba's wrappers, for compiled callers only.

Each check runs in a fresh interpreter: a call that reached a function without its Python entry would crash
the interpreter, and the cache is only read by a process that did not compile.
"""

import json
import os
import pathlib
import subprocess
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[2]

_MODULE = '''
import numpy as np
from numba import njit

from kernels.cpu._inner import inner


@inner
def halves(x):
    """(first half, second half) of x, and its sum: a tuple of arrays, which Python's wrapper would box."""
    h = x.size // 2
    return x[:h], x[h:], x.sum()


@inner(fastmath={"reassoc"})
def total(x):
    s = 0.0
    for v in x:
        s += v
    return s


@njit(cache=True)
def caller(x):
    a, b, s = halves(x)
    return a.sum() - b.sum() + s + total(x)
'''

_CHILD = '''
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import helpers
x = np.random.default_rng(0).standard_normal(101)
out = {"result": helpers.caller(x), "expected": x[:50].sum() - x[50:].sum() + 2 * x.sum(),
       "caller_hits": sum(helpers.caller.stats.cache_hits.values()),
       "halves_compiled": len(helpers.halves.signatures), "total_compiled": len(helpers.total.signatures)}
try:
    helpers.halves(x)
except TypeError as e:
    out["python_call"] = str(e)
print(json.dumps(out))
'''


def _run(folder, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(_ROOT))
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_compiled_callers_get_the_helpers_and_python_gets_a_type_error(tmp_path):
    (tmp_path / "helpers.py").write_text(_MODULE)
    cold = _run(tmp_path, tmp_path / "cache")
    assert abs(cold["result"] - cold["expected"]) <= 1e-12 * abs(cold["expected"])
    assert (cold["caller_hits"], cold["halves_compiled"], cold["total_compiled"]) == (0, 1, 1)
    assert "helpers.halves is compiled for compiled callers only" in cold["python_call"]
    warm = _run(tmp_path, tmp_path / "cache")  # the caller from the disk cache, the helpers inside it: nothing compiled
    assert warm["result"] == cold["result"]
    assert (warm["caller_hits"], warm["halves_compiled"], warm["total_compiled"]) == (1, 0, 0)


def test_a_kernel_helper_called_from_python_raises_instead_of_crashing():
    child = ("import numpy as np\nfrom kernels.fft_half import _stages\n"
             "z = np.ones(64, np.float32)\n"
             "try:\n    _stages.transform(z, z, (z, z, z, z), None, None)\n"
             "except TypeError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", child], cwd=_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "kernels.fft_half._stages.transform is compiled for compiled callers only" in done.stdout
