"""A comparison's figures: each run's best checkpoint re-scored on the shared validation
split (under every decoder its codec offers), the mean shape scored like a method, and
each line's figures as mean and sample standard deviation over its seeds."""
import statistics

import numpy as np

from data_tools import metrics
from engine.inference import trained_run
from engine.plugin import models, registry
from engine.runs.run_dir import RunDir
from engine.scoring import run_eval


PCK_CURVE = np.round(np.linspace(0.0, 0.5, 51), 3)


BASELINE = "mean shape"


def rescore(run, train, val, layout):
    """The run's best checkpoint on the validation split: its scores and final-stage points
    (also under each other decoder its codec offers, e.g. DARK), with what the run recorded
    while training (history, state), its parameters and its forward FLOPs per image.

    A second stage is scored end to end, on its first stage's boxes; its FLOPs are both
    stages', and "two_stage" holds its first stage's figures and its NE on ground-truth boxes.
    """
    import keras
    loaded = trained_run.load(run.path, split=(train, val))
    run, cfg, model, codec = loaded.run, loaded.cfg, loaded.model, loaded.codec
    crops, meta_ds = loaded.crops, loaded.meta_ds
    names, size = cfg["names"], cfg["input_size"]
    prediction = run_eval.predict(model, codec, meta_ds)
    whole = run_eval.whole_image_transforms(val, size)
    result = run_eval.score(prediction, val.categories, names, layout, size, whole)
    flops = models.forward_flops(model)
    if crops is not None:
        result.update(run_eval.gt_box_figures(cfg, model, codec, train, val, crops)())
        flops += first_stage_flops(cfg)
    entry = with_curve(result, prediction["stage_xy"][-1], prediction, val, names)
    entry["ne_by_decoder"] = {}
    for decoder in codec.decoders[1:]:
        other = registry.get(cfg["arch"]).make_codec({**cfg, "decode": decoder}, len(names))
        again = run_eval.predict(model, other, meta_ds)
        entry["ne_by_decoder"][decoder] = run_eval.score(again, val.categories, names,
                                                         layout, size, whole)["ne"]
    entry.update(prediction=prediction, cfg=cfg, parameters=models.network_parameters(model),
                 flops=flops, history=run.read_history(), state=run.read_state() or {})
    keras.backend.clear_session()
    return entry


def first_stage_flops(cfg):
    """The forward FLOPs per image of a second stage's first stage."""
    return config_flops(RunDir(cfg["first_stage"]).read_config())


def config_flops(cfg):
    """The forward FLOPs per image of the run `cfg` configures, its model built untrained
    (the count does not depend on weights); a second stage's include its first stage's."""
    model, _ = models.build_uncompiled({**cfg, "weights": "none"})
    flops = models.forward_flops(model)
    return flops + first_stage_flops(cfg) if cfg.get("first_stage") else flops


def with_curve(result, xy, prediction, val, names):
    """`result` plus the final points, the PCK curve over PCK_CURVE and the share of
    visible points farther than metrics.FAR from the truth."""
    categories = [val.categories[i] for i in prediction["indices"]]
    curve = metrics.pck(xy, prediction["gt"], categories, names, thresholds=PCK_CURVE)
    far = metrics.FAR
    within = metrics.pck(xy, prediction["gt"], categories, names, thresholds=(far,))[str(far)]
    return dict(result, xy=xy, names=names, categories=categories,
                curve=[np.nan if v is None else v for v in curve.values()],
                far=None if within is None else 1.0 - within)


def score_baseline(entry, val, layout):
    """The mean-shape floor as points, scored like a method (its NE is run_eval.score's
    mean_shape_ne; kept as points here so that its PCK curve and bars can be drawn)."""
    prediction, cfg = entry["prediction"], entry["cfg"]
    whole = run_eval.whole_image_transforms(val, cfg["input_size"])[prediction["indices"]]
    xy = run_eval.mean_shape_points(layout, entry["categories"], whole, cfg["input_size"])
    result = metrics.normalized_error(xy, prediction["gt"], entry["categories"], cfg["names"])
    result["pck"] = metrics.pck(xy, prediction["gt"], entry["categories"], cfg["names"])
    return summarize(None, [with_curve(result, xy, prediction, val, cfg["names"])])


def mean_sd(values):
    """(mean, sample standard deviation) of the values that are not None; the deviation is
    None with fewer than two, both are None with none."""
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarize(entry, found):
    """One comparison line from its runs (one per seed): each figure's mean and deviation
    over the seeds; `seeds` keeps the runs' own entries."""
    first = found[0]
    stages = len(first.get("ne_per_stage", ()))  # the baseline has no stages
    keypoints = list(first["ne_per_keypoint"])
    summary = {"entry": entry, "seeds": found, "names": first["names"]}
    summary["ne"], summary["ne_sd"] = mean_sd([f["ne"] for f in found])
    summary["far"], summary["far_sd"] = mean_sd([f["far"] for f in found])
    pck = {t: mean_sd([f["pck"].get(t) for f in found]) for t in first["pck"]}
    summary["pck"] = {t: mean for t, (mean, _) in pck.items()}
    summary["pck_sd"] = {t: sd for t, (_, sd) in pck.items()}
    per_stage = [mean_sd([f["ne_per_stage"][s] for f in found]) for s in range(stages)]
    summary["ne_per_stage"] = [mean for mean, _ in per_stage]
    summary["ne_per_stage_sd"] = [sd for _, sd in per_stage]
    summary["ne_per_keypoint"] = {n: mean_sd([f["ne_per_keypoint"].get(n) for f in found])
                                  for n in keypoints}
    curves = np.array([f["curve"] for f in found], np.float64)
    summary["curve"] = curves.mean(axis=0)
    summary["curve_sd"] = curves.std(axis=0, ddof=1) if len(found) > 1 else None
    summary["ne_by_decoder"] = {d: mean_sd([f["ne_by_decoder"][d] for f in found])
                                for d in first.get("ne_by_decoder", {})}
    return summary
