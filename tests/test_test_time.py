"""Test-time views and ensembles (engine/inference/test_time.py): a view's answer lands in the run's
own frame, maps are averaged where runs share a grid and points weighted by certainty
where they do not, and evaluate / predict take --flip, --scales and several runs."""
import json
import shutil

import numpy as np
import pytest

from tests.conftest import assert_one_line_error, run_cli, run_here
from data_tools import schema
from data_tools.errors import UsageError
from engine.inference.answers import answer_grid, decode_answer, resample_matrix, view_answer
from engine.inference.test_time import Ensemble, RunViews, show, View
from engine.plugin import registry

SKIRT = list(schema.keypoint_names("skirt"))
K = len(SKIRT)
PERMUTATION = schema.flip_permutation(SKIRT)


def cfg_of(arch, size=64, **extra):
    return {"input_size": size, "box": "input", "names": SKIRT, "arch": arch,
            "category": "skirt", "run_dir": f"runs/skirt-{arch}", "sigma": 1.0, **extra}


def codec_of(arch, size=64, **extra):
    return registry.get(arch).make_codec(cfg_of(arch, size, **extra), K)


def points_in(size, rng, n=3):
    xy = rng.uniform(0.25 * size, 0.75 * size, (n, K, 2))
    return np.concatenate([xy, np.ones((n, K, 1))], -1).astype(np.float32)


def targets_at(codec, keypoints):
    return np.stack([np.asarray(codec.targets(k)) for k in keypoints])


class Fixed:
    """A stand-in model that answers every batch with the same outputs."""

    def __init__(self, outputs):
        self.outputs = outputs

    def predict_on_batch(self, images):
        return self.outputs


def test_resample_matrix_is_the_identity_for_the_runs_own_view():
    np.testing.assert_array_equal(resample_matrix(16, 16, View(64, 64), 64), np.eye(16))


@pytest.mark.parametrize("arch", ["hourglass", "cpm"])
@pytest.mark.parametrize("content,canvas", [(48, 64), (80, 80), (80, 96)])
def test_a_views_maps_are_carried_onto_the_runs_own_grid(arch, content, canvas):
    """Maps drawn where a keypoint sits in a view (the image resized to `content` px,
    centred on a `canvas` px input) decode, once carried over, where it sits in the run's
    own 64 px frame; a mirrored view's come back unmirrored."""
    rng = np.random.default_rng(0)
    own = codec_of(arch)
    at_canvas = codec_of(arch, canvas)
    keypoints = points_in(64, rng)
    view = View(content, canvas)
    in_view = keypoints.copy()
    in_view[..., :2] = (keypoints[..., :2] + 0.5) * content / 64 - 0.5 + view.offset
    answer = view_answer(at_canvas, [targets_at(at_canvas, in_view)], view, PERMUTATION, 64)
    assert answer.shape == (3, 64 // own.stride, 64 // own.stride, K)
    xy, certainty = decode_answer(own, answer)
    np.testing.assert_allclose(xy, keypoints[..., :2], atol=0.5 * own.stride)
    assert certainty.min() > 0.4
    mirrored = in_view.copy()
    mirrored[..., 0] = 2 * view.offset + content - 1 - in_view[..., 0]
    mirror_view = View(content, canvas, mirrored=True)
    flipped = view_answer(at_canvas, [targets_at(at_canvas, mirrored[:, PERMUTATION])],
                          mirror_view, PERMUTATION, 64)
    np.testing.assert_allclose(decode_answer(own, flipped)[0], xy, atol=0.5 * own.stride)


def test_a_points_codecs_view_answer_is_in_the_runs_own_pixels():
    codec = codec_of("regression", 80)
    view = View(48, 80)  # the 64 px frame shown at 48 px, centred on an 80 px input
    outputs = [np.zeros((1, K, 2), np.float32)]  # every point at the input's centre
    answer = view_answer(codec, outputs, view, PERMUTATION, 64)
    centre = (39.5 - view.offset + 0.5) * 64 / 48 - 0.5
    np.testing.assert_allclose(answer[..., :2], centre, atol=1e-4)
    np.testing.assert_array_equal(answer[..., 2], 1.0)


def test_show_resizes_centres_and_mirrors():
    images = np.zeros((1, 64, 64, 3), np.float32)
    images[0, :, :32] = 1.0  # the left half white
    shown = show(images, View(32, 64, mirrored=True))
    assert shown.shape == (1, 64, 64, 3)
    assert np.allclose(shown[0, 16:48, 16:32], 0) and np.allclose(shown[0, 16:48, 32:48], 1)
    assert np.allclose(shown[0, :16], 128 / 255)  # the letterbox's grey around the view
    np.testing.assert_array_equal(show(images, View(64, 64)), images)


def test_runs_sharing_a_grid_average_their_maps_and_others_are_weighted_by_certainty():
    rng = np.random.default_rng(1)
    hourglass, simple = codec_of("hourglass"), codec_of("simplebaseline")
    assert answer_grid(hourglass) == answer_grid(simple) != answer_grid(codec_of("cpm"))
    a, b = targets_at(hourglass, points_in(64, rng)), targets_at(hourglass, points_in(64, rng))
    images = np.zeros((3, 64, 64, 3), np.float32)

    def run(arch, codec, outputs):
        return RunViews(cfg_of(arch), [View(64, 64)], {64: (Fixed(outputs), codec)})
    pair = Ensemble([run("hourglass", hourglass, [a]), run("simplebaseline", simple, [b])])
    np.testing.assert_array_equal(pair.points(images)[0], hourglass.decode_maps((a + b) / 2)[0])

    # A regression run (sure: certainty 1) with a heatmap run whose maps peak at 0.5.
    regression = codec_of("regression")
    point_outputs = [rng.uniform(-0.5, 0.5, (3, K, 2)).astype(np.float32)]
    mixed = Ensemble([run("hourglass", hourglass, [a * 0.5]),
                      run("regression", regression, point_outputs)])
    xy_maps, conf = hourglass.decode_maps(a * 0.5)
    xy_points, _ = regression.decode(point_outputs)
    expected = (conf[..., None] * xy_maps + xy_points) / (conf[..., None] + 1)
    np.testing.assert_allclose(mixed.points(images)[0], expected, atol=1e-4)
    assert 0.3 < conf.min() and conf.max() <= 0.5 + 1e-6  # off-cell peaks are below 0.5


def test_an_ensemble_of_runs_with_other_keypoints_is_refused():
    one = RunViews(cfg_of("hourglass"), [View(64, 64)], {64: (None, codec_of("hourglass"))})
    other_cfg = dict(cfg_of("hourglass"), names=SKIRT[:2], category="skirt")
    other = RunViews(other_cfg, [View(64, 64)], {64: (None, codec_of("hourglass"))})
    with pytest.raises(UsageError, match="same keypoints"):
        Ensemble([one, other])


# --- the commands ------------------------------------------------------------------------
def test_evaluate_with_flip_scales_and_an_ensemble(tiny_skirt_runs, tmp_path):
    runs = tiny_skirt_runs[0]
    from engine.scoring import run_eval
    alone = run_eval.evaluate_views([runs / "skirt-cpm"])
    own = json.loads((runs / "skirt-cpm" / "metrics.json").read_text())
    assert alone["ne"] == pytest.approx(own["ne"], abs=1e-9)  # one run alone: its own figure

    report = tmp_path / "views.json"
    before = (runs / "skirt-hourglass" / "metrics.json").read_bytes()
    result = run_cli("evaluate", "--run", runs / "skirt-hourglass", "--run",
                     runs / "skirt-simplebaseline", "--run", runs / "skirt-regression",
                     "--flip", "--scales", "0.75", "1", "--json", report)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(report.read_text())
    assert figures["flip"] and figures["scales"] == [0.75, 1.0]
    assert figures["model_calls"] == 12
    members = [runs / f"skirt-{arch}" for arch in ("hourglass", "simplebaseline", "regression")]
    here = run_eval.evaluate_views(members, scales=(0.75, 1.0), flip=True)
    assert figures["ne"] == pytest.approx(here["ne"], abs=1e-6)  # the library's figure
    assert "3 runs (hourglass, simplebaseline, regression), flip, scales 0.75 1" in result.stdout
    assert (runs / "skirt-hourglass" / "metrics.json").read_bytes() == before  # left as it was


def test_a_larger_scale_runs_the_model_on_a_larger_input(tiny_skirt_runs):
    """The tiny hourglass (64 px, inputs in multiples of 16) sees its 1.25 view on 80 px."""
    from engine.inference import test_time
    run = test_time.load(tiny_skirt_runs[0] / "skirt-hourglass", scales=(1.0, 1.25))
    assert [(v.content, v.canvas) for v in run.views] == [(64, 64), (80, 80)]
    assert sorted(run.models) == [64, 80]


def test_bad_views_and_ensembles_are_one_line_errors(tiny_skirt_runs, tmp_path):
    runs = tiny_skirt_runs[0]
    assert_one_line_error(run_here("evaluate", "--run", runs / "skirt-cpm", "--scales", "0.1"),
                          "smallest view is 32 px")
    other = tmp_path / "dress-cpm"
    shutil.copytree(runs / "skirt-cpm", other, ignore=shutil.ignore_patterns("tensorboard"))
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(dict(cfg, category="dress")))
    assert_one_line_error(run_here("evaluate", "--run", runs / "skirt-cpm", "--run", other),
                          "one validation split")
    assert_one_line_error(run_here("evaluate", "--pred", "a.csv", "--gt", "b.csv", "--flip"),
                          "go with --run")
    assert_one_line_error(run_here("evaluate", "--run", runs / "skirt-regression", "--scales",
                                   "1.25"), "takes none from 80", "with its weights")
