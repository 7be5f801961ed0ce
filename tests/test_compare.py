"""`run.py compare`: every method trained once (tiny, two epochs: conftest.tiny_skirt_runs),
then compared, reused, and refused when their runs do not share data."""
import json
import re
import shutil

import pytest

from engine import registry
from tests.conftest import assert_one_line_error, run_cli, run_here

ARCHS = registry.METHODS
FIGURES = ("ne_per_keypoint.png", "pck.png", "ne_per_stage.png", "predictions.png")


@pytest.fixture(scope="module")
def compared(tiny_skirt_runs):
    """`compare --train` from nothing: (runs folder, report folder, the finished process)."""
    return tiny_skirt_runs


def _rows(report):
    """{first cell: cells} of the report's table."""
    rows = [line.strip("|").split("|") for line in report.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells] for cells in rows}


def _metrics(runs, arch):
    return json.loads((runs / f"skirt-{arch}" / "metrics.json").read_text())


def test_report_has_every_method_and_the_baseline(compared):
    runs, out, _ = compared
    report = (out / "report.md").read_text()
    rows = _rows(report)
    ne_column = rows["method"].index("val NE")
    for arch in ARCHS:
        assert float(rows[arch][ne_column]) == pytest.approx(_metrics(runs, arch)["ne"], abs=1e-4)
    baseline = float(rows["mean shape (baseline)"][ne_column])
    assert baseline == pytest.approx(_metrics(runs, "cpm")["mean_shape_ne"], abs=1e-4)
    config = json.loads((runs / "skirt-cpm" / "config.json").read_text())
    assert "preset: tiny" in report and config["data_fingerprint"] in report
    # The named winner is the method with the lowest NE measured, whichever it is.
    best = min(ARCHS, key=lambda arch: _metrics(runs, arch)["ne"])
    assert re.search(rf"\*\*Best: {best}\*\*", report)


def test_figures_are_written(compared):
    _, out, _ = compared
    report = (out / "report.md").read_text()
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / name).stat().st_size > 10_000, name
        assert f"({name})" in report


def test_second_compare_reuses_the_runs(compared, tmp_path):
    runs, _, _ = compared
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()}
    result = run_cli("compare", "--category", "skirt", "--runs-dir", runs, "--out", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training" not in result.stdout
    assert sorted(p.name for p in runs.iterdir()) == [f"skirt-{arch}" for arch in ARCHS]
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()} == before
    assert (tmp_path / "report.md").is_file()


def test_runs_of_another_preset_are_refused(compared, tmp_path):
    runs, _, _ = compared
    result = run_here("compare", "--category", "skirt", "--preset", "cpu", "--runs-dir", runs,
                      "--out", tmp_path)
    assert_one_line_error(result, "skirt-cpm", "preset tiny", "not cpu")


def test_runs_on_other_data_are_refused(compared, tmp_path):
    runs, _, _ = compared
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    config_file = copy / "skirt-hourglass" / "config.json"
    config = json.loads(config_file.read_text())
    config["data_fingerprint"] = "0123456789abcdef"
    config_file.write_text(json.dumps(config))
    result = run_here("compare", "--category", "skirt", "--runs-dir", copy,
                      "--out", tmp_path / "out")
    assert_one_line_error(result, "skirt-hourglass", "data_fingerprint")
    assert not (tmp_path / "out").exists()


def test_a_missing_method_is_reported_not_fatal(compared, tmp_path):
    runs, _, _ = compared
    copy = tmp_path / "runs"
    shutil.copytree(runs / "skirt-cpm", copy / "skirt-cpm")
    result = run_cli("compare", "--category", "skirt", "--runs-dir", copy, "--out", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows((tmp_path / "report.md").read_text())
    assert rows["regression"][rows["method"].index("val NE")] == "no run"
    assert sorted(p.name for p in copy.iterdir()) == ["skirt-cpm"]


@pytest.mark.parametrize("args, fragments", [
    (("--category", "skirt", "--runs-dir", "no-such-runs"), ("no-such-runs", "--train")),
    (("--category", "skirt", "--runs-dir", "."), ("no run of skirt", "--train")),
    (("--category", "hats", "--runs-dir", "."), ("--category",)),
])
def test_bad_input_is_one_line(args, fragments, tmp_path):
    result = run_here("compare", *args, "--out", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(result, *fragments)
