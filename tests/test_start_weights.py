"""`--weights RUN`: a run starts from another run's weights, each keypoint's channels
carried over by name; a source of another method, trunk or width is refused in one line
before any run folder is made."""
import json
import shutil

import numpy as np
import pytest

from data_tools import schema
from tests.conftest import assert_one_line_error, run_cli, run_here

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

TINY = ("--preset", "tiny", "--epochs", 1)
SKIRT = list(schema.keypoint_names("skirt"))


@pytest.fixture(scope="module")
def skirt_runs(tiny_skirt_runs):
    return tiny_skirt_runs[0]


def first_stage(model, images):
    outputs = model.predict_on_batch(images)
    return np.asarray(outputs[0] if isinstance(outputs, list) else outputs)


@pytest.mark.parametrize("run, category", [
    ("cpm", "all"), ("hourglass", "all"), ("regression", "all"), ("regression-rle", "trousers"),
    ("simplebaseline", "all"), ("cpm", "skirt")])
def test_each_keypoint_is_carried_by_name(skirt_runs, run, category):
    """A skirt run's weights in a model of another keypoint set: the skirt keypoints it
    shares answer as in the skirt model (the first stage exactly: later stages also see
    the fresh keypoints' maps), the others start fresh."""
    import keras
    from engine.plugin import models
    from engine.training import start_weights
    source = skirt_runs / f"skirt-{run}"
    _, cfg, skirt_model, _ = models.load_run(source)
    names = list(schema.keypoint_names(category))
    new_cfg = dict(cfg, category=category, names=names)
    start = start_weights.prepare(source, new_cfg)
    shared = [n for n in names if n in SKIRT]
    assert start.carried == shared and start.fresh == [n for n in names if n not in SKIRT]
    model, _ = models.build_uncompiled(new_cfg)
    untouched = [v.numpy().copy() for v in model.weights]
    start.apply(model)
    images = np.random.default_rng(0).random((2, 64, 64, 3)).astype(np.float32)
    old, new = first_stage(skirt_model, images), first_stage(model, images)
    if not run.startswith("regression"):  # maps (N, H, W, K); a regressor's rows are axis 1
        old, new = np.moveaxis(old, -1, 1), np.moveaxis(new, -1, 1)
    np.testing.assert_allclose(new[:, [names.index(n) for n in shared]],
                               old[:, [SKIRT.index(n) for n in shared]], atol=1e-5)
    if category == "skirt":  # the same keypoints: every weight is the source's
        for mine, theirs in zip(model.weights, skirt_model.weights):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    else:  # a fresh keypoint's output weights are the new model's own initial ones
        fresh = names.index(start.fresh[0])
        last = [i for i, v in enumerate(model.weights)
                if v.shape[-1] in (len(names), 2 * len(names))][-1]
        per = model.weights[last].shape[-1] // len(names)  # a regressor's x and y
        columns = slice(per * fresh, per * (fresh + 1))
        np.testing.assert_array_equal(model.weights[last].numpy()[..., columns],
                                      untouched[last][..., columns])
    keras.backend.clear_session()


def test_a_run_of_all_keypoints_starts_from_a_skirt_run(skirt_runs, synthetic, tmp_path):
    """The user's command: the run says what it carried, records where its weights came
    from, and trains."""
    source = skirt_runs / "skirt-simplebaseline"
    result = run_cli("--arch", "simplebaseline", "--category", "all", *TINY, "--data-dir",
                     synthetic, "--out", tmp_path, "--weights", source)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"weights from {source}: every layer, 4 of 24 keypoints' channels carried over "
            f"by name; fresh: neckline_left") in result.stdout
    cfg = json.loads((tmp_path / "all-simplebaseline" / "config.json").read_text())
    assert cfg["weights"] == str(source.resolve())
    assert cfg["weights_carried"]["file"] == str(source / "checkpoints" / "best.weights.h5")
    assert cfg["weights_carried"]["keypoints_carried"] == SKIRT
    assert len(cfg["weights_carried"]["keypoints_fresh"]) == 20
    assert (tmp_path / "all-simplebaseline" / "checkpoints" / "best.weights.h5").is_file()


def refused(tmp_path, *args, fragments):
    out = tmp_path / "runs"
    result = run_here(*TINY, "--out", out, *args)
    assert_one_line_error(result, *fragments)
    assert not out.exists(), list(out.iterdir())


def test_bad_sources_are_refused_before_a_run_folder(skirt_runs, synthetic, tmp_path):
    data = ("--data-dir", synthetic, "--category", "skirt")
    cpm = skirt_runs / "skirt-cpm"
    refused(tmp_path, "--arch", "cpm", *data, "--weights", tmp_path / "nowhere",
            fragments=["nowhere", "no such run folder or file"])
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(cpm / "config.json", unfinished)
    refused(tmp_path, "--arch", "cpm", *data, "--weights", unfinished,
            fragments=["unfinished", "no checkpoint yet"])
    refused(tmp_path, "--arch", "hourglass", *data, "--weights", cpm,
            fragments=["a cpm run cannot start a hourglass run"])
    refused(tmp_path, "--arch", "hourglass", *data, "--features", 24,
            "--weights", skirt_runs / "skirt-hourglass",
            fragments=["features 16 against 24", "another trunk or width"])
    refused(tmp_path, "--arch", "cpm", *data, "--backbone", "resnet50",
            "--weights", cpm, fragments=["backbone vgg against resnet50"])
    not_weights = tmp_path / "notes.weights.h5"
    not_weights.write_text("not HDF5\n")
    refused(tmp_path, "--arch", "cpm", *data, "--weights", not_weights,
            fragments=["notes.weights.h5", "do not fit"])
    refused(tmp_path, "--arch", "cpm", *data, "--weights", cpm / "config.json",
            fragments=["config.json", "not a .weights.h5 file"])


def test_a_bare_weights_file_must_fit_this_run(skirt_runs, synthetic, tmp_path):
    """A .weights.h5 outside a run folder carries no config: it is taken whole, as of this
    run's model, and refused if it does not fit."""
    bare = tmp_path / "skirt.weights.h5"
    shutil.copy(skirt_runs / "skirt-cpm" / "checkpoints" / "best.weights.h5", bare)
    refused(tmp_path, "--arch", "cpm", "--category", "dress", "--data-dir", synthetic,
            "--weights", bare, fragments=["skirt.weights.h5", "do not fit"])
