"""tf.distribute through the command line: mirrored replicas, multi-worker processes.

The mirrored run uses two logical CPU devices; the multi-worker run is two `run.py`
processes on 127.0.0.1 joined by TF_CONFIG, as on two machines.
"""
import csv
import json
import os
import socket
import subprocess
import sys

import pytest

from engine.training import strategy
from data_tools.errors import UsageError
from tests.conftest import REPO, assert_one_line_error, cli_env, run_cli

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

# Two CPM stages rather than six: a third of the graph to build, the same strategy code.
TINY = ("--arch", "cpm", "--category", "skirt", "--preset", "tiny", "--weights", "none",
        "--stages", 2, "--seed", "1")


def _history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _config(run):
    return json.loads((run / "config.json").read_text())


def _two_devices(*args):
    return subprocess.run([sys.executable, str(REPO / "tests" / "two_devices.py"),
                           *map(str, args)], cwd=REPO, env=cli_env(), capture_output=True,
                          text=True, timeout=600)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _multiworker(tmpdir, *args):
    """Two workers of one cluster, with TMPDIR `tmpdir`; their (exit code, stdout, stderr)."""
    ports = _free_ports(2)
    procs = [subprocess.Popen([sys.executable, str(REPO / "run.py"), *map(str, args),
                               "--strategy", "multiworker"],
                              cwd=REPO, env=cli_env(TF_CONFIG=_tf_config(ports, i),
                                                 TMPDIR=str(tmpdir)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append((proc.returncode, out, err))
    return results


def test_mirrored_replicas_train_like_one_device(synthetic, tmp_path):
    one = run_cli(*TINY, "--data-dir", synthetic, "--out", tmp_path / "one", "--epochs", 1,
                  "--strategy", "default")
    assert one.returncode == 0, one.stderr
    two = _two_devices(*TINY, "--data-dir", synthetic, "--out", tmp_path / "two",
                       "--epochs", 1, "--strategy", "mirrored")
    assert two.returncode == 0, two.stderr
    run = tmp_path / "two" / "skirt-cpm"
    assert (_config(run)["strategy"], _config(run)["replicas"]) == ("mirrored", 2)
    assert "strategy mirrored: 2 replica(s)" in two.stdout
    # The global batch is split over the replicas and their losses averaged, not
    # summed: the first epoch's loss is about one device's (a loss that averaged its
    # own batch would be counted once per replica, twice as large). The shuffle and
    # augmentation draws differ under a strategy, hence the tolerance.
    single, mirrored = _history(tmp_path / "one" / "skirt-cpm")[0], _history(run)[0]
    assert float(mirrored["loss"]) == pytest.approx(float(single["loss"]), rel=0.25)
    assert (run / "checkpoints" / "last.weights.h5").is_file()


def test_simplebaseline_with_the_cache_resumes_under_mirrored(synthetic, tmp_path):
    """The fourth method through the engine's options: an epoch with --cache on one device,
    then --resume on two replicas: the second epoch comes from the first's checkpoint."""
    args = ("--arch", "simplebaseline", "--category", "skirt", "--preset", "tiny",
            "--weights", "none", "--data-dir", synthetic, "--out", tmp_path, "--cache")
    first = run_cli(*args, "--epochs", 1)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _two_devices(*args, "--epochs", 2, "--resume", "--strategy", "mirrored")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming after epoch 1" in second.stdout
    assert "strategy mirrored: 2 replica(s)" in second.stdout
    run = tmp_path / "skirt-simplebaseline"
    assert [row["epoch"] for row in _history(run)] == ["1", "2"]
    assert (run / "cache-train.h5").is_file() and (run / "cache-val.h5").is_file()
    assert json.loads((run / "metrics.json").read_text())["epochs_trained"] == 2


def test_two_worker_processes_on_loopback_and_resume(synthetic, tmp_path):
    """Only the chief writes the run folder; the other worker's temporary one is gone."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    args = (*TINY, "--data-dir", synthetic, "--out", tmp_path / "runs", "--epochs", 1)
    results = _multiworker(tmpdir, *args)
    for code, out, err in results:
        assert code == 0, err
    assert f"run folder {tmpdir}/fashion-worker-" in results[1][1]  # a temporary folder...
    run = tmp_path / "runs" / "skirt-cpm"
    assert os.listdir(tmp_path / "runs") == ["skirt-cpm"]
    assert (run / "checkpoints" / "best.weights.h5").is_file()
    assert (run / "metrics.json").is_file() and (run / "heatmaps" / "epoch_001.png").is_file()
    assert (_config(run)["strategy"], _config(run)["replicas"]) == ("multiworker", 2)

    results = _multiworker(tmpdir, *args[:-1], 2, "--resume")
    for code, out, err in results:
        assert code == 0, err
    assert "worker 1 of 2" in results[1][1] and "the chief wrote the run folder" in results[1][1]
    assert [row["epoch"] for row in _history(run)] == ["1", "2"]
    assert not list(tmpdir.glob("fashion-worker-*"))  # ...and removed it


def test_multiworker_without_tf_config_is_one_line(synthetic, tmp_path):
    result = run_cli(*TINY, "--data-dir", synthetic, "--out", tmp_path, "--strategy", "multiworker")
    assert_one_line_error(result, "TF_CONFIG")
    assert not (tmp_path / "skirt-cpm").exists()


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', '"task"'),
    ('["a"]', '"cluster"'),
])
def test_bad_tf_config(monkeypatch, text, fragment):
    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(UsageError, match=fragment):
        strategy.read_tf_config()


@pytest.mark.parametrize("requested, gpus, config, expected", [
    ("auto", 0, {}, "default"),
    ("auto", 1, {}, "default"),
    ("auto", 2, {}, "mirrored"),
    ("auto", 0, {"cluster": {"worker": ["a:1", "b:2"]}}, "multiworker"),
    ("auto", 2, {"cluster": {"worker": ["a:1"]}}, "mirrored"),
    ("default", 4, {}, "default"),
])
def test_auto_picks_a_strategy(requested, gpus, config, expected):
    assert strategy.pick(requested, gpus, config) == expected
