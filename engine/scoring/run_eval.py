"""Score a model on its run's validation split and draw what it sees, as a run records it.

Predictions are decoded per stage by the method's codec (input pixels), mapped back
through each image's letterbox to original pixels, and scored there, exactly as a
submission would be: NE per stage, PCK, and the mean-shape floor. The stage-by-stage
picture of a few fixed validation images shows the codec's maps, or its points
(engine/pictures/stages.py).
"""
import numpy as np

from data_tools import letterbox, metrics, pipeline, schema
from data_tools.errors import DataError, UsageError
from engine.inference import test_time, trained_run, two_stage
from engine.inference.predictions import predict, to_original  # noqa: F401 (callers use them here)
from engine.inference.submission import run_for
from engine.pictures import stages
from engine.plugin import models, registry
from engine.plugin.codec import stage_arrays
from engine.runs import data_source
from engine.runs.run_dir import RunDir

PICTURE_IMAGES = 4


def training_layout(ann, names, input_size):
    """The training set's mean keypoint layout in the letterboxed frame, per category:
    {category: (K, 2) fractions of the side}, and under "all" the layout of every image.

    A joint model (`--category all`) is compared with each category's own mean
    shape, the floor a per-category model would have to beat. Image sizes come from
    the files' headers, so no image is decoded.
    """
    points = pipeline.own_keypoints(ann, names).astype(np.float64)
    for n, (width, height) in enumerate(letterbox.image_sizes(ann)):
        transform = letterbox.transform_for(int(height), int(width), input_size)
        present = points[n, :, 2] >= 0
        points[n, present, :2] = letterbox.to_input(points[n, present, :2], transform)
    categories = np.asarray(ann.categories)
    layouts = {c: metrics.mean_shape(points[categories == c], input_size)
               for c in set(ann.categories)}
    layouts["all"] = metrics.mean_shape(points, input_size)
    return layouts


def mean_shape_points(layout, categories, transforms, input_size):
    """The mean-shape baseline's (N, K, 2) points in original pixels: each image gets its
    category's training layout (the layout of all images if the category had none)."""
    points = np.stack([layout.get(c, layout["all"]) for c in categories]) * input_size
    return to_original(points, transforms)


def whole_image_transforms(ann, input_size):
    """(N, 3) every image's letterbox transform (from the files' headers): the frame of the
    mean-shape baseline, also for a second stage, whose inputs are crops."""
    return np.stack([letterbox.transform_for(int(h), int(w), input_size)
                     for w, h in letterbox.image_sizes(ann)])


def score(prediction, categories, names, layout, input_size, whole=None):
    """metrics.json's figures from `predict`'s output; `layout` from `training_layout`;
    `whole`: whole_image_transforms of the images (default: the inputs' own transforms)."""
    gt = prediction["gt"]
    categories = [categories[i] for i in prediction["indices"]]
    per_stage = [metrics.normalized_error(xy, gt, categories, names)
                 for xy in prediction["stage_xy"]]
    result = dict(per_stage[-1])
    result["ne_per_stage"] = [r["ne"] for r in per_stage]
    result["pck"] = metrics.pck(prediction["stage_xy"][-1], gt, categories, names)
    transforms = prediction["transforms"] if whole is None else whole[prediction["indices"]]
    baseline = mean_shape_points(layout, categories, transforms, input_size)
    result["mean_shape_ne"] = metrics.normalized_error(baseline, gt, categories, names)["ne"]
    return result


# --- a run's scores and pictures ----------------------------------------------------------
def make_evaluator(cfg, predictor, codec, train, val, meta_ds):
    """A function that scores the model on the validation split, as metrics.json holds it.

    predictor: the model, or anything with its predict_on_batch (a LocalPredictor).
    """
    layout = training_layout(train, cfg["names"], cfg["input_size"])
    whole = whole_image_transforms(val, cfg["input_size"]) if cfg.get("first_stage") else None

    def evaluate():
        prediction = predict(predictor, codec, meta_ds)
        return score(prediction, val.categories, cfg["names"], layout, cfg["input_size"], whole)
    return evaluate


def make_drawer(predictor, codec, cfg, run, meta_ds, val, crops=None):
    """A function (tag, result) that draws the stage-by-stage grid of a few fixed validation
    images into the run's heatmaps/ folder: `epoch_012.png` for an epoch, `best.png`.
    A second stage's (with `crops`) shows each crop's box on its whole image first."""
    sample = next(iter(meta_ds.unbatch().batch(PICTURE_IMAGES)))
    images = np.asarray(sample["image"])
    context = None
    if crops is not None:
        context = box_context(cfg, val, np.asarray(sample["index"]), crops.end_to_end)
    pixels = (images * 255).round().astype(np.uint8)
    keypoints = np.asarray(sample["keypoints"])
    # A joint model predicts all 24 keypoints; the pictures show each image's own ones.
    shown = pipeline.own_mask([val.categories[i] for i in np.asarray(sample["index"])],
                              cfg["names"])
    stage_noun = registry.get(cfg["arch"]).stage_noun

    def draw(tag, result):
        what = f"{cfg['category']} {cfg['arch']} {tag}"
        title = f"{what}: val NE {result['ne']:.4f}" if result.get("ne") is not None else what
        path = run.heatmaps / (f"epoch_{tag:03d}.png" if isinstance(tag, int) else f"{tag}.png")
        outputs = stage_arrays(predictor.predict_on_batch(images))
        return stages.draw_stages(codec, path, pixels, outputs, keypoints, cfg["names"],
                                  title=title, stage_label=stage_noun, shown=shown,
                                  context=context)
    return draw


def box_context(cfg, ann, indices, boxes):
    """(whole images uint8 (n, S, S, 3), boxes (n, 4) in their pixels) of rows `indices`:
    what a second stage's pictures show beside its crops."""
    chosen = ann.select(indices)
    batch = next(iter(pipeline.make_dataset(chosen, cfg["names"], cfg["input_size"],
                                            len(indices), with_meta=True)))
    transforms = np.asarray(batch["transform"])
    corners = np.asarray(boxes, np.float64)[np.asarray(indices)].reshape(-1, 2, 2)
    framed = np.stack([letterbox.to_input(c, t) for c, t in zip(corners, transforms)])
    return (np.asarray(batch["image"]) * 255).round().astype(np.uint8), framed.reshape(-1, 4)


def gt_box_figures(cfg, predictor, codec, train, val, crops):
    """For a second stage (`crops` not None), a function giving metrics.json's "two_stage":
    the first stage's figures and the NE with ground-truth boxes; else None."""
    if crops is None:
        return None

    def figures():
        meta = pipeline.make_dataset(val, cfg["names"], cfg["input_size"], cfg["batch_size"],
                                     with_meta=True, boxes=crops.val)
        reference = make_evaluator(cfg, predictor, codec, train, val, meta)()
        return {"two_stage": {"first_stage": crops.first, "gt_boxes": {
            key: reference[key] for key in ("ne", "beyond_half", "ne_per_stage", "pck", "points")}}}
    return figures


WORST_IMAGES = 4  # in the worst.png a run writes at its end


def make_worst(predictor, codec, cfg, run, meta_ds, val):
    """A function that writes RUN/worst.png, worst_per_stage.png and worst.json: the
    validation images of largest NE, stage by stage (engine/pictures/inspection.py)."""
    def write():
        from engine.pictures import inspection
        figures = inspection.collect(predictor, codec, meta_ds)
        return inspection.worst(run.path, cfg, codec, figures, val, WORST_IMAGES)[0]
    return write


def finish(run, cfg, model, codec, evaluate, draw, more=None, worst=None):
    """Score the best epoch's weights and write metrics.json and the final picture;
    `more()` (gt_box_figures') adds its figures, `worst()` (make_worst's) writes the
    worst images' pictures beside metrics.json."""
    if run.best_weights.is_file():
        models.load_weights(model, run.best_weights)
    result = evaluate()
    if more is not None:
        result.update(more())
    state = run.read_state() or {}
    result.update(category=cfg["category"], arch=cfg["arch"], preset=cfg["preset"],
                  epoch=state.get("best_epoch"), epochs_trained=state.get("epoch"),
                  train_images=cfg["train_images"], val_images=cfg["val_images"],
                  parameters=models.network_parameters(model))
    run.write_metrics(result)
    draw("best", result)
    if worst is not None:
        worst()
    return result


def mean_shape_on(runs, gt):
    """The mean-shape baseline on labelled images `gt` (Annotations): each image gets the
    mean layout of its run's training images (predict.read_runs' `runs`; the run of its
    category, else the `all` run), as `score` gives a run on its validation split.
    {"mean_shape_ne", "mean_shape_per_category"}; None where a run's data is not on disk."""
    xy = np.full((len(gt), len(schema.KEYPOINTS), 2), np.nan)
    chosen = [run_for(c, runs) for c in gt.categories]
    for paths in dict.fromkeys(chosen):
        cfg = RunDir(paths[0]).read_config()
        try:
            data_source.check_layout(cfg["data_dir"])
        except (DataError, UsageError):
            return {"mean_shape_ne": None, "mean_shape_per_category": None}
        train, _ = data_source.split(cfg, data_source.load_annotations(cfg))
        size = cfg["input_size"]
        layout = training_layout(train, cfg["names"], size)
        rows = np.array([n for n, c in enumerate(chosen) if c == paths])
        images = gt.select(rows)
        xy[np.ix_(rows, [schema.INDEX[n] for n in cfg["names"]])] = mean_shape_points(
            layout, images.categories, whole_image_transforms(images, size), size)
    scored = metrics.normalized_error(xy, gt.keypoints, gt.categories, list(schema.KEYPOINTS))
    return {"mean_shape_ne": scored["ne"], "mean_shape_per_category": scored["ne_per_category"]}


def evaluate_views(run_paths, scales=(1.0,), flip=False, decode=None):
    """The validation figures of one run or an ensemble of runs through its test-time
    views (engine/inference/test_time.py); metrics.json and the pictures are left as they are.

    An ensemble's runs must be of one category and one data split: each is scored on the
    images none of them trained on.
    """
    import time
    cfgs = [RunDir(p).read_config() for p in run_paths]
    first = cfgs[0]
    for path, cfg in zip(run_paths[1:], cfgs[1:]):
        same = all(cfg.get(k) == first.get(k) for k in
                   ("category", "data_fingerprint", "val_fraction", "split_rule"))
        if not same:
            raise UsageError(f"--run {path} is not of the category and data split of "
                             f"--run {run_paths[0]} ({cfg['category']} against "
                             f"{first['category']}, or other images): an ensemble is "
                             f"scored on one validation split")
    data_source.check_layout(first["data_dir"])
    train, val = data_source.split(first, data_source.load_annotations(first))
    ensemble = test_time.load_ensemble(run_paths, scales, flip, decode)
    times, sizes = [time.perf_counter()], []  # after each batch, and its images

    def progress(n):
        times.append(time.perf_counter())
        sizes.append(n)
    prediction = ensemble.predict(val, first["batch_size"], progress=progress)
    size = first["input_size"]
    layout = training_layout(train, ensemble.names, size)
    whole = whole_image_transforms(val, size)
    result = score(prediction, val.categories, ensemble.names, layout, size, whole)
    result.pop("ne_per_stage")  # merged views have no stages
    if isinstance(ensemble, test_time.Chain):
        result["two_stage"] = chain_figures(ensemble, prediction, train, val, first)
    timed = sum(sizes[1:])
    result.update(category=first["category"], arch="+".join(c["arch"] for c in cfgs),
                  runs=[str(p) for p in run_paths], scales=list(scales), flip=bool(flip),
                  views=test_time.describe(scales, flip, [c["arch"] for c in cfgs]),
                  model_calls=ensemble.model_calls,
                  images_per_s=timed / max(times[-1] - times[1], 1e-9) if timed else None,
                  decoder=decode)
    return result


def chain_figures(chain, prediction, train, val, cfg):
    """A two-stage ensemble's "two_stage" figures: its first stage's, and the NE with the
    ground-truth boxes instead of the first stage's."""
    truth = two_stage.gt_boxes(cfg, val)[0]
    first = two_stage.first_stage_figures(cfg, chain.first.runs[0].cfg, prediction["first"],
                                          prediction["boxes"], prediction["clipped"], val, truth)
    reference = chain.second.predict(val, cfg["batch_size"], truth)
    categories = [val.categories[i] for i in reference["indices"]]
    scored = metrics.normalized_error(reference["stage_xy"][-1], reference["gt"], categories,
                                      chain.names)
    return {"first_stage": first, "gt_boxes": {k: scored[k] for k in ("ne", "beyond_half")}}


def evaluate_saved_run(run_path, decode=None):
    """Rebuild a run's model from its folder, load its best weights, rescore, rewrite metrics.

    With `decode` (a decoder other than the run's own, e.g. "dark"), the figures are only
    returned: metrics.json and the pictures keep what the run's own decoder gives.
    """
    run = RunDir(run_path)
    run.read_config()  # a folder without config.json is refused before its checkpoints
    if not (run.best_weights.is_file() or run.last_weights.is_file()):
        raise UsageError(f"{run.path} has no checkpoint to evaluate")
    loaded = trained_run.load(run.path, decode)
    run, cfg, model, codec = loaded.run, loaded.cfg, loaded.model, loaded.codec
    train, val, crops, meta_ds = loaded.train, loaded.val, loaded.crops, loaded.meta_ds
    evaluate = make_evaluator(cfg, model, codec, train, val, meta_ds)
    more = gt_box_figures(cfg, model, codec, train, val, crops)
    if decode:
        if run.best_weights.is_file():
            models.load_weights(model, run.best_weights)
        return dict(evaluate(), **(more() if more else {}), category=cfg["category"],
                    arch=cfg["arch"], decoder=decode)
    return finish(run, cfg, model, codec, evaluate,
                  make_drawer(model, codec, cfg, run, meta_ds, val, crops), more,
                  make_worst(model, codec, cfg, run, meta_ds, val))
