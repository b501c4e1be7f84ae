"""Every CUDA source compiles, for float and for double, wherever nvcc is installed (no GPU needed)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

KERNELS = Path(__file__).parents[2] / "kernels"
SOURCES = sorted(KERNELS.glob("*/*.cu"))  # each op's CUDA source, in its folder


def test_every_cuda_source_a_gpu_module_names_exists():
    named = {m.group(1) for p in KERNELS.glob("*/gpu.py") for m in re.finditer(r'with_name\("(\w+\.cu)"\)', p.read_text())}
    assert named and named == {p.name for p in SOURCES}


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("real_t", ["float", "double"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_cuda_source_compiles_to_ptx(source, real_t, tmp_path):
    # The same options CuPy's RawModule gets (kernels/gpu/_modules.py); every kernel is extern "C",
    # so compiling the file compiles every kernel in it.
    result = subprocess.run(
        ["nvcc", "--ptx", "-std=c++17", f"-Dreal_t={real_t}", "-o", str(tmp_path / "out.ptx"), str(source)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    ptx = (tmp_path / "out.ptx").read_text()
    assert ".entry" in ptx
