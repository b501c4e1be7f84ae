"""The fastlayers command: its arguments are checked before any work (issue "Nothing a user does
breaks it", items 2 and 3)."""

import pytest

from fastlayers.__main__ import main
from fastlayers.bench import report


@pytest.fixture
def no_work(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("a benchmark ran before the arguments were checked")

    monkeypatch.setattr(report, "run_case", must_not_run)


def test_bare_command_prints_the_help_and_version_prints_the_version(capsys):
    assert main([]) == 0
    assert "usage: fastlayers" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("fastlayers ")


@pytest.mark.parametrize("args, message", [
    (["bench", "--only", "centre"], "unknown kernel centre; expected one of"),
    (["bench", "--json", "/nonexistent-folder/x.json"], "--json: the folder /nonexistent-folder does not exist"),
    (["bench", "--plot", "/"], "--plot: / is a folder"),
])
def test_bad_arguments_fail_at_once_in_one_line(args, message, no_work):
    with pytest.raises(SystemExit, match=message) as exit_info:
        main(args)
    assert "\n" not in str(exit_info.value.code)


def test_plot_without_matplotlib_fails_before_any_work(hide_module, no_work, tmp_path):
    hide_module("matplotlib")
    with pytest.raises(SystemExit, match=r"--plot needs matplotlib: pip install 'fastlayers\[plot\]'"):
        main(["bench", "--plot", str(tmp_path / "p.png")])


def test_plot_draws_a_readable_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'fastlayers[plot]')")
    rows = [
        {"kernel": "center", "shape": "(10000,)", "speedup": {"numpy": 2.7, "torch": 2.5}},
        {"kernel": "center", "shape": "(100000,)", "speedup": {"numpy": 3.2, "torch": 1.7}},
        {"kernel": "center", "shape": "(512, 1024) axis=0", "speedup": {"numpy": 1.1, "torch": 0.7}},
        {"kernel": "center_backward", "shape": "(1000000,)", "speedup": {"numpy": 3.1, "our forward": 0.98}},
    ]
    info = {"cpu": "a test CPU", "cores": 2, "date": "2026-11-24"}
    path = tmp_path / "speedups.png"
    report.plot(rows, path, info)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report._panel(rows[2]) == "center (axis=0)" and report._panel(rows[0]) == "center"


def test_busy_loops_run_beside_the_block_and_are_gone_after_it():
    psutil = pytest.importorskip("psutil", reason="psutil comes with the dask extra (pip install -e '.[test]')")

    def loops():
        return [p for p in psutil.Process().children() if "while True: pass" in " ".join(p.cmdline())]

    with pytest.raises(RuntimeError, match="inside"):
        with report.busy_loops(2):
            running = loops()
            assert len(running) == 2 and all(p.status() in ("running", "sleeping") for p in running)
            raise RuntimeError("a failure inside the block")
    assert loops() == []


def test_busy_takes_a_sane_number_of_processes(no_work):
    with pytest.raises(SystemExit, match="--busy: expected a number of processes from 0 to 64, got -1"):
        main(["bench", "--busy", "-1"])


@pytest.mark.parametrize("seconds, text", [(9.9996e-4, "1 ms"), (9.994e-4, "999 µs"), (0.99996, "1 s"),
                                           (1.5e-3, "1.5 ms"), (9.9996e-7, "1 µs"), (4.2e-8, "42 ns"), (12.3, "12.3 s")])
def test_times_print_in_the_unit_that_keeps_them_at_least_one(seconds, text):
    assert report._format_time(seconds) == text
