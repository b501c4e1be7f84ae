"""Every CUDA source compiles, for float and for double, wherever nvcc is installed (no GPU needed)."""

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCES = sorted((Path(__file__).parents[2] / "kernels" / "gpu").glob("*.cu"))


def test_there_are_cuda_sources():
    assert {p.stem for p in SOURCES} == {"linear", "center", "tensor_reduction", "fft_half", "losses"}


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
