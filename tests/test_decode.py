"""`--decode dark` on the shared tiny runs (conftest.tiny_skirt_runs): `evaluate --run`
scores the same checkpoint with DARK without touching the run's own metrics, `predict`
writes a submission with it, and the methods without heatmaps refuse it in one line."""
import json
import re

from data_tools import fashion_csv
from tests.conftest import assert_one_line_error, run_here


def _report_cell(report, label, column):
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in report.splitlines() if line.startswith("| ")]
    header = rows[0]
    return next(row for row in rows if row[0] == label)[header.index(column)]


def test_evaluate_run_with_dark_scores_the_same_checkpoint(tiny_skirt_runs, tmp_path):
    runs, compared, _ = tiny_skirt_runs
    run = runs / "skirt-hourglass"
    before = (run / "metrics.json").read_bytes()
    out = tmp_path / "dark.json"
    result = run_here("evaluate", "--run", run, "--decode", "dark", "--json", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "decoded with dark" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["decoder"] == "dark"
    # The run's own record (argmax) stays; compare's DARK column is this same figure.
    assert (run / "metrics.json").read_bytes() == before
    dark = _report_cell((compared / "report.md").read_text(), "hourglass", "val NE dark")
    assert float(dark) == round(figures["ne"], 4)
    printed = float(re.match(r"NE ([0-9.]+)", result.stdout).group(1))
    assert printed == round(figures["ne"], 4)


def test_predict_with_dark_writes_a_valid_submission(tiny_skirt_runs, synthetic, tmp_path):
    out = tmp_path / "dark.csv"
    result = run_here("predict", "--run", tiny_skirt_runs[0] / "skirt-simplebaseline",
                      "--test-csv", synthetic / "test.csv", "--out", out, "--decode", "dark",
                      "--flip")
    assert result.returncode == 0, result.stdout + result.stderr
    ann = fashion_csv.read_annotations(out, data_dir=synthetic)  # validates every cell
    assert set(ann.categories) == {"skirt"} and len(ann) == 6


def test_dark_is_refused_where_there_are_no_heatmaps(tiny_skirt_runs, synthetic, tmp_path):
    runs = tiny_skirt_runs[0]
    result = run_here("evaluate", "--run", runs / "skirt-regression", "--decode", "dark")
    assert_one_line_error(result, "--decode dark", "heatmap methods")
    result = run_here("evaluate", "--pred", synthetic / "Annotations" / "train.csv",
                      "--gt", synthetic / "Annotations" / "train.csv", "--decode", "dark")
    assert_one_line_error(result, "--decode, --flip and --scales go with --run")
    result = run_here("predict", "--run", runs / "skirt-regression-rle", "--test-csv",
                      synthetic / "test.csv", "--out", tmp_path / "x.csv", "--decode", "dark")
    assert_one_line_error(result, "--decode dark", "heatmap methods")
    assert not (tmp_path / "x.csv").exists()
