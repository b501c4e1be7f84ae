"""The report's peer columns (fastlayers/bench/peers.py): checked against NumPy before they are timed."""

import numpy as np
import pytest

from fastlayers.bench import cases, peers, report
from kernels import Case


def _case(peer_fn):
    return Case("double", "(64,)", lambda rng: (rng.standard_normal(64, dtype=np.float32),), lambda x: x * 2,
                lambda x: x * 2, peers={"mkl": peer_fn})


def test_a_peer_that_disagrees_with_numpy_is_reported_and_not_timed():
    row = report.run_case(_case(lambda module, x: x * 3), samples=3, target_s=0.001, peer_modules={"mkl": object()})
    assert "relative error" in row["peer_errors"]["mkl"]
    assert "mkl" not in row["times"] and "mkl" not in row["speedup"]


def test_a_peer_that_raises_is_reported_and_not_timed():
    def broken(module, x):
        raise RuntimeError("no such transform")

    row = report.run_case(_case(broken), samples=3, target_s=0.001, peer_modules={"mkl": object()})
    assert "no such transform" in row["peer_errors"]["mkl"]
    assert "mkl" not in row["times"]


def test_a_peer_that_agrees_is_timed_beside_ours():
    row = report.run_case(_case(lambda module, x: x + x), samples=3, target_s=0.001, peer_modules={"mkl": object()})
    assert "peer_errors" not in row
    assert row["times"]["mkl"] > 0 and row["speedup"]["mkl"] > 0


def test_peers_a_case_does_not_name_are_not_run():
    row = report.run_case(_case(lambda module, x: x + x), samples=3, target_s=0.001,
                          peer_modules={"jax": object(), "torch": object()})
    assert set(row["times"]) == {"fastlayers", "numpy"}


SMALL_CASES = [c for c in cases.CASES if c.quick and c.peers]


@pytest.mark.parametrize("name", sorted(peers.PEERS))
def test_every_peer_function_agrees_with_numpy_on_the_quick_cases(name):
    """What each peer runs in the report is the same op: checked on every quick case that names the peer."""
    module = peers.PEERS[name].load()
    if module is None:
        pytest.skip(f"{name} is not installed (pip install 'fastlayers[peers]')")
    named = [c for c in SMALL_CASES if name in c.peers]
    assert named, f"no quick case names {name}"
    for case in named:
        args = case.make(np.random.default_rng(1))
        run = peers.PEERS[name].prepare(module, case.peers[name], args)
        cases.check_against_numpy(case, args, peers.as_numpy(run()), who=name)


def test_fftw_plans_once_per_input_and_keeps_the_input_s_values():
    pyfftw = pytest.importorskip("pyfftw", reason="pyfftw is not installed (pip install 'fastlayers[peers]')")
    plans = peers.FFTWPlans(pyfftw)
    x = np.random.default_rng(2).standard_normal((3, 40)).astype(np.float32)
    first = plans.rfft(x).copy()
    second = plans.rfft(x)
    assert len(plans._plans) == 1
    np.testing.assert_allclose(first, np.fft.rfft(x), rtol=1e-4, atol=1e-4)  # planning (MEASURE) did not leave junk
    np.testing.assert_array_equal(first, second)


def test_the_report_header_names_the_blas_kernels_and_who_chose_them(monkeypatch):
    """linear_relu's GEMM is NumPy's: the header says which OpenBLAS kernels ran, and whether the environment chose them."""
    import io

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    info = report.machine_info()
    buffer = io.StringIO()
    report.print_table([], info, file=buffer)
    header = buffer.getvalue().splitlines()[1]
    assert header.startswith("BLAS: ")
    openblas = [lib for lib in info["blas"] if lib["library"] == "openblas"]
    if not openblas:
        pytest.skip("NumPy's BLAS here is not OpenBLAS")
    lib = openblas[0]
    assert lib["kernels"] and f"openblas {lib['version']} ({lib['kernels']} kernels" in header
    assert "set by OPENBLAS_CORETYPE=Haswell" in header
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    buffer = io.StringIO()
    report.print_table([], report.machine_info(), file=buffer)
    assert "OPENBLAS_CORETYPE" not in buffer.getvalue()
    if "pyfftw" in info["peer_versions"]:  # the fftw column is pyFFTW's: the header names the package it measured
        assert f"pyfftw {info['peer_versions']['pyfftw']}" in buffer.getvalue()
