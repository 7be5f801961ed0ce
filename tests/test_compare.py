"""`run.py compare`: every method trained once (tiny, two epochs: conftest.tiny_skirt_runs),
then compared, reused, and refused when their runs do not share data."""
import itertools
import json
import re
import shutil
import statistics

import pytest

from engine.comparison.lines import entries
from engine.comparison.report import MIN_VALIDATION_IMAGES, spread_lines, verdict
from engine.plugin import registry
from tests.conftest import assert_one_line_error, run_cli, run_here

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

ARCHS = registry.METHODS
# Every line of the comparison: the methods, and the variants their descriptors name.
LINES = [entry.label for entry in entries()]
SEEDED_METHODS = ("regression", "simplebaseline")   # the two that train quickest
SEEDED = [entry.label for entry in entries(methods=SEEDED_METHODS)]
FIGURES = ("ne_per_keypoint.png", "pck.png", "ne_per_stage.png", "predictions.png")


@pytest.fixture(scope="module")
def compared(tiny_skirt_runs):
    """`compare --train` from nothing: (runs folder, report folder, the finished process)."""
    return tiny_skirt_runs


def _rows(report):
    """{first cell: cells} of the report's first table (the methods')."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows = [line.strip("|").split("|") for line in
            itertools.takewhile(lambda line: line.startswith("|"), lines[start:])]
    return {cells[0].strip(): [c.strip() for c in cells] for cells in rows}


def _metrics(runs, arch):
    return json.loads((runs / f"skirt-{arch}" / "metrics.json").read_text())


def test_report_has_every_method_and_the_baseline(compared):
    runs, out, _ = compared
    report = (out / "report.md").read_text()
    rows = _rows(report)
    ne_column = rows["method"].index("val NE")
    assert "regression-rle" in LINES and set(ARCHS) < set(LINES)
    for label in LINES:
        assert float(rows[label][ne_column]) == pytest.approx(_metrics(runs, label)["ne"], abs=1e-4)
    baseline = float(rows["mean shape (baseline)"][ne_column])
    assert baseline == pytest.approx(_metrics(runs, "cpm")["mean_shape_ne"], abs=1e-4)
    config = json.loads((runs / "skirt-cpm" / "config.json").read_text())
    assert "preset: tiny" in report and config["data_fingerprint"] in report
    # The named winner is the method with the lowest NE measured, whichever it is.
    best = min(LINES, key=lambda label: _metrics(runs, label)["ne"])
    # The tests' few validation skirts cannot rank methods, and the verdict says so.
    val = int(re.search(r"(\d+) validation images", report).group(1))
    assert val < MIN_VALIDATION_IMAGES
    assert re.search(rf"\*\*Best here: {best}, over {val} validation image\(s\), too few to tell "
                     r"methods apart", report)


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
    assert sorted(p.name for p in runs.iterdir()) == sorted(f"skirt-{label}" for label in LINES)
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


# --- several seeds ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_seeds(compared, tmp_path_factory):
    """The shared runs copied, then `compare --train --seeds 2 --methods ...` for the two
    quickest methods: it trains each of their lines' second seed and reports both."""
    runs, first_report, _ = compared
    folder = tmp_path_factory.mktemp("seeds")
    shutil.copytree(runs, folder / "runs")
    result = run_cli("compare", "--train", "--seeds", 2, "--category", "skirt",
                     "--methods", *SEEDED_METHODS,
                     "--runs-dir", folder / "runs", "--out", folder / "report")
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "runs", folder / "report", first_report


def test_seeds_train_one_run_per_seed_and_reuse_the_first(two_seeds):
    runs, out, _ = two_seeds
    assert sorted(p.name for p in runs.glob("*-seed1")) == sorted(f"skirt-{label}-seed1" for label in SEEDED)
    assert set(_rows((out / "report.md").read_text())) & set(LINES) == set(SEEDED)
    for label in SEEDED:
        assert json.loads((runs / f"skirt-{label}" / "config.json").read_text())["seed"] == 0
        second = json.loads((runs / f"skirt-{label}-seed1" / "config.json").read_text())
        assert second["seed"] == 1 and second["epochs"] == 2 and second["preset"] == "tiny"
    assert json.loads((runs / "skirt-regression-rle-seed1" / "config.json").read_text())["loss"] == "rle"


def test_seeds_report_mean_and_spread(two_seeds):
    runs, out, _ = two_seeds
    report = (out / "report.md").read_text()
    rows = _rows(report)
    header = rows["method"]
    for label in SEEDED:
        nes = [_metrics(runs, label)["ne"], _metrics(runs, f"{label}-seed1")["ne"]]
        row = rows[label]
        assert row[header.index("seeds")] == "2"
        assert float(row[header.index("val NE")]) == pytest.approx(statistics.fmean(nes), abs=1e-4)
        assert float(row[header.index("± sd")]) == pytest.approx(statistics.stdev(nes), abs=1e-4)
    # Every pair of lines is judged against the two spreads, and the judgement follows them.
    pairs = [line.strip("|").split("|") for line in report.splitlines()
             if re.match(r"\| [a-z-]+ \| [a-z-]+ \| [0-9.]+ \| [0-9.]+ \| [a-z]", line)]
    assert len(pairs) == len(SEEDED) * (len(SEEDED) - 1) // 2
    for better, worse, gap, spread, called in ([c.strip() for c in p] for p in pairs):
        sd = {label: float(rows[label][header.index("± sd")]) for label in (better, worse)}
        assert float(gap) == pytest.approx(float(rows[worse][header.index("val NE")])
                                           - float(rows[better][header.index("val NE")]), abs=2e-4)
        assert float(spread) == pytest.approx(sd[better] + sd[worse], abs=2e-4)
        assert called == "not told: too few images"       # a handful of validation skirts


def test_gaps_are_called_against_the_spread_given_enough_images():
    line = lambda ne, sd: {"ne": ne, "ne_sd": sd}                     # noqa: E731
    scored = {"a": line(0.10, 0.01), "b": line(0.13, 0.01), "c": line(0.135, 0.02)}
    rows = {tuple(c.strip() for c in r.strip("|").split("|")[:2]): r.strip("|").split("|")[-1].strip()
            for r in spread_lines(scored, 97) if r.startswith("| ") and "better" not in r}
    assert rows == {("a", "b"): "yes", ("a", "c"): "yes", ("b", "c"): "no"}
    few = spread_lines(scored, 12)
    assert all(r.endswith("| not told: too few images |") for r in few if r.startswith("| a"))
    assert verdict(scored, {"ne": 0.5}, 97).startswith("**Best: a**")
    assert "too few to tell methods apart" in verdict(scored, {"ne": 0.5}, 1)


def test_seeds_are_drawn_as_error_bars(two_seeds):
    _, out, first_report = two_seeds
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The same first-seed runs drawn with a second seed: the bars and bands are new ink.
    for name in ("ne_per_keypoint.png", "pck.png", "ne_per_stage.png"):
        assert (out / name).read_bytes() != (first_report / name).read_bytes()


def test_one_seed_says_no_spread_was_measured(compared):
    _, out, _ = compared
    assert "no spread between seeds was measured" in (out / "report.md").read_text()


def test_the_report_shows_flops_and_dark(compared):
    runs, out, _ = compared
    rows = _rows((out / "report.md").read_text())
    header = rows["method"]
    for label in LINES:
        assert float(rows[label][header.index("GFLOPs")]) > 0
        assert 0 <= float(rows[label][header.index("beyond 0.5")]) <= 1
    # The heatmap methods are scored with both decoders, regression with its own only.
    assert rows["regression"][header.index("val NE dark")] == "—"
    for arch in ("cpm", "hourglass", "simplebaseline"):
        assert float(rows[arch][header.index("val NE dark")]) > 0
