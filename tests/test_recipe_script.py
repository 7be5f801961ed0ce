"""docs/results/real/recipe.sh, as a user with the real data runs it: it trains the joint
runs once, and its last line is what `run.py predict` takes for the category asked for."""
import csv
import subprocess

import pytest

from tests.conftest import REPO, assert_one_line_error, cli_env, run_cli
from data_tools import fashion_csv

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

SCRIPT = REPO / "docs" / "results" / "real" / "recipe.sh"


def recipe(*args, **env):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=REPO,
                          env=cli_env(**env), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(synthetic, tmp_path_factory):
    """The recipe for skirts, tiny and one epoch: (runs folder, the script's process)."""
    runs = tmp_path_factory.mktemp("recipe") / "runs"
    result = recipe("skirt", synthetic, runs, PRESET="tiny", EPOCHS="1", INPUT_SIZE="64")
    assert result.returncode == 0, result.stdout + result.stderr
    return runs, result


def test_the_last_line_predicts_the_category_with_both_joint_runs(trained, synthetic, tmp_path):
    runs, result = trained
    options = result.stdout.strip().splitlines()[-1].split()
    assert options == ["--run", str(runs / "all-hourglass-64px"),
                       "--run", str(runs / "all-hourglass-64px-seed1"),
                       "--flip", "--scales", "0.75", "1", "1.25", "--decode", "dark",
                       "--category", "skirt"]
    out = tmp_path / "skirts.csv"
    predicted = run_cli("predict", *options, "--test-csv", synthetic / "test.csv", "--out", out)
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    ids, categories = fashion_csv.read_test_list(synthetic / "test.csv")
    with open(out, newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert [r[0] for r in rows] == [i for i, c in zip(ids, categories) if c == "skirt"]


def test_another_category_or_all_trains_nothing_again(trained, synthetic):
    runs, first = trained
    before = {p: p.stat().st_mtime for p in runs.glob("*/metrics.json")}
    assert len(before) == 2
    options = first.stdout.strip().splitlines()[-1].removesuffix(" --category skirt")
    for category, last in (("trousers", options + " --category trousers"), ("all", options)):
        result = recipe(category, synthetic, runs, PRESET="tiny", EPOCHS="1", INPUT_SIZE="64")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == last
    assert {p: p.stat().st_mtime for p in runs.glob("*/metrics.json")} == before


@pytest.mark.parametrize("args, fragment", [
    (("hat", "{data}", "{runs}"), "CATEGORY must be"),
    (("dress", "{runs}", "{runs}"), "is not a FashionAI folder"),
    (("dress", "{data}"), "usage: recipe.sh CATEGORY TRAIN_DIR RUNS_DIR"),
])
def test_bad_arguments_get_one_line_and_train_nothing(args, fragment, synthetic, tmp_path):
    runs = tmp_path / "runs"
    result = recipe(*(a.format(data=synthetic, runs=runs) for a in args))
    assert_one_line_error(result, fragment)
    assert not runs.exists()
