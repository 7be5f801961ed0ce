"""Test-time steps: flip, scales and ensembles, one layer from runs and images to points.

    letterboxed images at side L (the largest view's)
      → per run, per view (a scale s, mirrored or not): the images resized to the view's
        side c = round(s · S) (S the run's own input side), centred on a canvas the run's
        model takes (its own S, or the smallest larger one for s > 1), grey around them
      → the model → answers.view_answer: that view's answer in the run's own frame, the
        mirror undone (maps on the run's grid, or points)
      → the mean over the run's views
      → runs whose answers share a grid (answers.answer_grid, e.g. two hourglasses):
        their mean, decoded once (answers.decode_answer)
      → the groups' points in L pixels, weighted by their certainty

With one run, no flip and scale 1 this is exactly the run's own prediction: the images
are not resized, the canvas is the model's input and the answer is its last stage.

A second stage (engine/inference/two_stage.py) is a Chain: its first stage's ensemble, with the same
views, predicts the whole images, the boxes around those points are cropped, and the second
stage's ensemble predicts the crops. `predict` and `evaluate --run` both call
`load_ensemble(...).predict(images)`, whichever of the two it gives.
"""
import dataclasses

import cv2
import numpy as np

from data_tools import letterbox, pipeline, schema
from data_tools.errors import UsageError
from engine.inference import answers, two_stage
from engine.inference.predictions import collect
from engine.plugin import models
from engine.plugin.codec import stage_arrays
from engine.runs import data_source

MIN_VIEW_SIDE = 32  # a scale that shrinks the input below this is refused
CANVAS_STEP, CANVAS_TRIES = 4, 16  # larger canvases tried for a scale above 1


@dataclasses.dataclass(frozen=True)
class View:
    """One way of showing the images to a run: `content` px wide, centred on a `canvas`
    px input, mirrored or not."""
    content: int
    canvas: int
    mirrored: bool = False

    @property
    def offset(self):
        return (self.canvas - self.content) // 2


def content_side(scale, input_size):
    side = int(round(float(scale) * input_size))
    if scale <= 0 or side < MIN_VIEW_SIDE:
        raise UsageError(f"--scales {scale:g} would show a {input_size} px model a {side} px "
                         f"image; the smallest view is {MIN_VIEW_SIDE} px")
    return side


def show(images, view):
    """(N, L, L, 3) float images in [0, 1] as the view shows them: (N, canvas, canvas, 3)."""
    if view.mirrored:
        images = images[:, :, ::-1]
    side = images.shape[1]
    if view.content != side:
        how = cv2.INTER_AREA if view.content < side else cv2.INTER_LINEAR
        images = np.stack([cv2.resize(np.ascontiguousarray(i), (view.content, view.content),
                                      interpolation=how) for i in images])
    if view.canvas == view.content:
        return np.ascontiguousarray(images, np.float32)
    canvas = np.full((len(images), view.canvas, view.canvas, 3), letterbox.PAD_VALUE / 255.0,
                     np.float32)
    at = slice(view.offset, view.offset + view.content)
    canvas[:, at, at] = images
    return canvas


def describe(scales=(1.0,), flip=False, archs=()):
    """The views as reports name them: "2 runs (hourglass, cpm), flip, scales 0.75 1 1.25",
    or "the run alone"; `archs`: an ensemble's runs' methods."""
    views = [f"{len(archs)} runs ({', '.join(archs)})"] if len(archs) > 1 else []
    views += ["flip"] if flip else []
    views += [f"scales {' '.join(f'{s:g}' for s in scales)}"] if list(scales) != [1.0] else []
    return ", ".join(views) or "the run alone"


# --- one run ---------------------------------------------------------------------------
class RunViews:
    """One run and its views.

    models: {canvas side: (an object with predict_on_batch, the codec of that side)} for
    every view's canvas, the run's own input side among them.
    """

    def __init__(self, cfg, views, models_by_side):
        self.cfg, self.views, self.models = cfg, views, models_by_side
        self.names = list(cfg["names"])
        self.input_size = int(cfg["input_size"])
        self.codec = models_by_side[self.input_size][1]
        self.permutation = schema.flip_permutation(self.names)

    @property
    def largest_content(self):
        return max(v.content for v in self.views)

    def answer(self, images):
        """The mean of the views' answers (answers.view_answer) for (N, L, L, 3) images."""
        total = None
        for view in self.views:
            predictor, codec = self.models[view.canvas]
            outputs = stage_arrays(predictor.predict_on_batch(show(images, view)))
            answer = answers.view_answer(codec, outputs, view, self.permutation,
                                         self.input_size)
            total = answer if total is None else total + answer
        return total / len(self.views)


def planned_views(scales, flip, input_size):
    """(content side, mirrored) of each view: every scale, each also mirrored with `flip`."""
    sides = [content_side(scale, input_size) for scale in scales]
    return [(side, mirrored) for side in sides
            for mirrored in ((False, True) if flip else (False,))]


def load(run_path, scales=(1.0,), flip=False, decode=None):
    """A RunViews of a trained run: its model at its own side, and for each view larger
    than that the smallest larger side its model can be built at and its weights fit."""
    run, cfg, model, codec = models.load_run(run_path, decode)
    own = int(cfg["input_size"])
    by_side = {own: (models.LocalPredictor(model), codec)}
    canvas_of = {}  # a larger view's side -> its canvas
    views = []
    for content, mirrored in planned_views(scales, flip, own):
        if content > own and content not in canvas_of:
            canvas_of[content], built = larger_model(run, cfg, content)
            by_side.setdefault(canvas_of[content], built)
        views.append(View(content, canvas_of.get(content, own), mirrored))
    return RunViews(cfg, views, by_side)


def larger_model(run, cfg, content):
    """(canvas side, (LocalPredictor, codec)) of the run's model rebuilt at the smallest
    side from `content` up (in steps of CANVAS_STEP) that it takes, with its weights."""
    weights = run.best_weights if run.best_weights.is_file() else run.last_weights
    first = -(-content // CANVAS_STEP) * CANVAS_STEP
    for side in range(first, first + CANVAS_STEP * CANVAS_TRIES, CANVAS_STEP):
        try:
            model, codec = models.build(dict(cfg, input_size=side))
            models.load_weights(model, weights)
        except UsageError:
            continue
        return side, (models.LocalPredictor(model), codec)
    raise UsageError(f"--scales: a {content} px view needs a larger input than the "
                     f"{cfg['input_size']} px of {run.path}, and its {cfg['arch']} model takes "
                     f"none from {first} to {side} px with its weights")


# --- several runs ----------------------------------------------------------------------
class Ensemble:
    """Several runs of one keypoint set, each with its views, merged into one answer."""

    def __init__(self, runs):
        self.runs = list(runs)
        names = self.runs[0].names
        for r in self.runs[1:]:
            if r.names != names:
                raise UsageError(f"an ensemble's runs must predict the same keypoints: "
                                 f"{r.cfg['run_dir']} has {len(r.names)} "
                                 f"({r.cfg['category']}), {self.runs[0].cfg['run_dir']} "
                                 f"{len(names)} ({self.runs[0].cfg['category']})")
        self.names = names
        # The side every run's views are resized from: the largest view's.
        self.side = max(r.largest_content for r in self.runs)
        self.model_calls = sum(len(r.views) for r in self.runs)
        self.passes = 1  # over the images, in `predict`

    def points(self, images):
        """(xy (N, K, 2) in pixels of the L px images, certainty (N, K) in [0, 1])."""
        groups = {}
        for r in self.runs:
            key = answers.answer_grid(r.codec)
            groups.setdefault(key if key is not None else id(r), []).append(r)
        merged = []
        for members in groups.values():
            answer = sum(r.answer(images) for r in members) / len(members)
            xy, certainty = answers.decode_answer(members[0].codec, answer)
            scale = self.side / members[0].input_size
            merged.append(((np.asarray(xy, np.float64) + 0.5) * scale - 0.5,
                           np.asarray(certainty, np.float64)))
        if len(merged) == 1:
            xy, certainty = merged[0]
        else:
            weights = np.stack([np.maximum(c, 1e-6) for _, c in merged])[..., None]
            xy = (weights * np.stack([p for p, _ in merged])).sum(0) / weights.sum(0)
            certainty = weights[..., 0].mean(0)
        return xy.astype(np.float32), certainty.astype(np.float32)

    def predict(self, ann, batch_size, boxes=None, progress=None):
        """predictions.collect's figures (points in original pixels, one merged "stage") of
        the images of `ann`, whole or, with `boxes` (N, 4), their crops; `progress(n)` is told
        after each batch of n images."""
        augmenter = "tf" if boxes is not None else data_source.augmenter_of(self.runs[0].cfg)
        dataset = pipeline.make_dataset(ann, self.names, self.side, batch_size,
                                        with_meta=True, augmenter=augmenter, boxes=boxes)

        def merged(images):
            answer = self.points(images)
            if progress:
                progress(len(images))
            return [answer]
        return collect(merged, dataset)


class Chain:
    """A second stage's ensemble on the crops its first stage's ensemble finds."""

    def __init__(self, first, second, margin):
        self.first, self.second, self.margin = first, second, margin
        self.names = second.names
        self.model_calls = first.model_calls + second.model_calls
        self.passes = 2

    def predict(self, ann, batch_size, boxes=None, progress=None):
        """Ensemble.predict's figures for the second stage on the first stage's boxes (or on
        `boxes`), with "boxes", "clipped" and the first stage's own figures ("first");
        `progress` is told of both passes' batches."""
        first = clipped = None
        if boxes is None:
            first = self.first.predict(ann, batch_size, progress=progress)
            boxes, clipped = two_stage.predicted_boxes(first, ann, self.margin)
        result = self.second.predict(ann, batch_size, boxes, progress)
        return dict(result, boxes=boxes, clipped=clipped, first=first)


def load_ensemble(run_paths, scales=(1.0,), flip=False, decode=None):
    """An Ensemble of the runs, or a Chain if they are second stages (of one first stage)."""
    runs = [load(p, scales, flip, decode) for p in run_paths]
    firsts = {two_stage.first_stage_of(r.cfg) for r in runs}
    if firsts == {None}:
        return Ensemble(runs)
    if len(firsts) > 1:
        raise UsageError("an ensemble's runs must all be second stages of one first stage, "
                         "or all one-stage runs: " + ", ".join(
                             f"{r.cfg['run_dir']} ({two_stage.first_stage_of(r.cfg) or 'one stage'})"
                             for r in runs))
    cfg = runs[0].cfg
    two_stage.check_first_stage(cfg["first_stage"], cfg["category"], cfg["names"])
    first = Ensemble([load(cfg["first_stage"], scales, flip, decode)])
    return Chain(first, Ensemble(runs), cfg["crop"]["margin"])


def second_stage_crops(cfg, train, val):
    """The Crops of a second run: its first stage predicts the validation images once."""
    first_cfg = two_stage.check_first_stage(cfg["first_stage"], cfg["category"], cfg["names"])
    two_stage.check_same_split(first_cfg, cfg)
    prediction = load_ensemble([cfg["first_stage"]]).predict(val, cfg["batch_size"])
    margin = cfg["crop"]["margin"]
    boxes, clipped = two_stage.predicted_boxes(prediction, val, margin)
    truth = two_stage.gt_boxes(cfg, val)[0]
    return two_stage.Crops(
        train=two_stage.gt_boxes(cfg, train)[0], val=truth, end_to_end=boxes,
        first=two_stage.first_stage_figures(cfg, first_cfg, prediction, boxes, clipped, val,
                                            truth))
