"""`run.py compare`: every method side by side on one category.

    RUNS_DIR/<category>-<method> for each method of engine/registry.py
                                   (with --train, the missing ones are trained)
    → refuse runs that differ in data, split or preset
    → re-score each run's best checkpoint on the shared validation split
    → OUT/report.md, ne_per_keypoint.png, pck.png, ne_per_stage.png, predictions.png

Every figure comes from the predictions made here, so the report states what was
measured now, next to what each run recorded while it trained (time, images/s, epochs).
"""
import datetime
import statistics
import sys
from pathlib import Path

import numpy as np

from data_tools import atomic, letterbox, pipeline
from data_tools.errors import DataError, UsageError
from engine import data_source, machine, metrics, models, pictures, presets, registry, run_eval
from engine import training
from engine.run_dir import RunDir, run_name

# Runs are comparable only if they saw the same images, split the same way, at the same sizes.
MUST_AGREE = ("data_fingerprint", "split_rule", "val_fraction", "preset")
PCK_CURVE = np.round(np.linspace(0.0, 0.5, 51), 3)
BASELINE = "mean shape"
BASELINE_COLOR = "#8c8c8c"
FIGURES = {"ne_per_keypoint.png": "NE per keypoint", "pck.png": "PCK curves",
           "ne_per_stage.png": "NE per stage", "predictions.png": "one validation image"}


def main(args):
    if args.epochs is not None and not args.train:
        raise UsageError("--epochs is for --train: runs already there keep their epochs")
    preset = presets.pick(args.preset, models.has_gpu()) if args.preset else None
    runs = find_runs(args.runs_dir, args.category, args.train)
    reference = check_comparable(runs, preset)
    data_dir = args.data_dir or (reference and reference["data_dir"])
    # Loaded now, so that other data is refused before any time is spent on training.
    split = load_split(data_dir, reference) if reference else None
    if args.train and None in runs.values():
        code = train_missing(runs, args, reference, data_dir)
        if code:
            print(f"error: training stopped (exit {code}); no report written", file=sys.stderr)
            return code
        runs = find_runs(args.runs_dir, args.category, args.train)
        reference = check_comparable(runs, preset)
    if reference is None:
        raise UsageError(f"no run of {args.category} in {args.runs_dir} (looked for "
                         f"{', '.join(run_name(args.category, a) for a in runs)}); "
                         f"add --train to train them")
    train, val = split or load_split(data_dir or reference["data_dir"], reference)
    # One mean-shape layout serves every run: they share the category (names) and the preset
    # (input size), as check_comparable made sure.
    layout = run_eval.training_layout(train, reference["names"], reference["input_size"])
    scored = {arch: rescore(run, val, layout) for arch, run in runs.items() if run}
    baseline = score_baseline(next(iter(scored.values())), val, layout)
    out = Path(args.out)
    draw_figures(out, scored, baseline, val)
    report = report_text(args, runs, scored, baseline, reference, train, val)
    atomic.write_text(out / "report.md", report)
    print(f"wrote {out / 'report.md'} and {len(FIGURES)} figures")
    return 0


# --- the runs -----------------------------------------------------------------------------
def find_runs(runs_dir, category, train):
    """{arch: RunDir or None}: the engine's run folder of each method, if it has a checkpoint."""
    if not Path(runs_dir).is_dir() and not train:
        raise UsageError(f"--runs-dir {runs_dir} does not exist (add --train to train "
                         f"the methods there)")
    runs = {}
    for arch in registry.METHODS:
        run = RunDir(Path(runs_dir) / run_name(category, arch))
        if not run.path.exists():
            runs[arch] = None
        elif run.best_weights.is_file() or run.last_weights.is_file():
            runs[arch] = run
        else:  # training it again would make a "-2" folder that compare never looks at
            raise UsageError(f"{run.path} has no checkpoint (an unfinished run?): resume it "
                             f"with `run.py train --resume` or remove it")
    return runs


def check_comparable(runs, preset=None):
    """The first run's config, after refusing any run that differs from it; None if no run."""
    reference, first = None, None
    for run in filter(None, runs.values()):
        cfg = run.read_config()
        if preset and cfg.get("preset") != preset:
            raise UsageError(f"{run.path} was trained with preset {cfg.get('preset')}, "
                             f"not {preset} (--preset)")
        if reference is None:
            reference, first = cfg, run.path
            continue
        for key in MUST_AGREE:
            if cfg.get(key) != reference.get(key):
                raise UsageError(f"{run.path} differs from {first} in {key}: "
                                 f"{cfg.get(key)} vs {reference.get(key)}; "
                                 f"compare needs runs on the same data, split and preset")
    return reference


def train_missing(runs, args, reference, data_dir):
    """Train every missing method in-process, with the settings of the runs already there."""
    import keras
    settings = dict(category=args.category, out=args.runs_dir,
                    seed=reference["seed"] if reference else 0,
                    data_dir=str(data_dir) if data_dir else None,
                    preset=args.preset or (reference and reference["preset"]) or "auto",
                    epochs=args.epochs or (reference and reference["epochs"]) or None)
    for arch in [a for a, run in runs.items() if run is None]:
        print(f"compare: training {run_name(args.category, arch)} (no run yet)", flush=True)
        code = training.train(training.Options(arch=arch, **settings))
        keras.backend.clear_session()  # the next model starts from a clean graph
        if code:
            return code
    return 0


def load_split(data_dir, cfg):
    """(train, val) of the runs' category in `data_dir`, which must hold the runs' data."""
    ann = data_source.load_annotations({"data_dir": str(data_dir), "category": cfg["category"]})
    fingerprint = pipeline.dataset_fingerprint(ann)
    if fingerprint != cfg["data_fingerprint"]:
        raise DataError(f"the {cfg['category']} annotations here (fingerprint {fingerprint}) "
                        f"are not the ones the runs were trained on ({cfg['data_fingerprint']})",
                        data_dir)
    return data_source.split(cfg, ann)


# --- scoring ---------------------------------------------------------------------------------
def rescore(run, val, layout):
    """The run's best checkpoint on the validation split: its scores and final-stage points,
    with what the run recorded while training (history, state) and its parameter count."""
    import keras
    run, cfg, model, codec = models.load_run(run.path)
    names, size = cfg["names"], cfg["input_size"]
    meta_ds = pipeline.make_dataset(val, names, size, cfg["batch_size"], with_meta=True)
    prediction = run_eval.predict(model, codec, meta_ds)
    result = run_eval.score(prediction, val.categories, names, layout, size)
    entry = with_curve(result, prediction["stage_xy"][-1], prediction, val, names)
    entry.update(prediction=prediction, cfg=cfg,
                 parameters=int(model.count_params()), history=run.read_history(),
                 state=run.read_state() or {})
    keras.backend.clear_session()
    return entry


def with_curve(result, xy, prediction, val, names):
    """`result` plus the final points and the PCK curve over PCK_CURVE."""
    categories = [val.categories[i] for i in prediction["indices"]]
    curve = metrics.pck(xy, prediction["gt"], categories, names, thresholds=PCK_CURVE)
    return dict(result, xy=xy, names=names, categories=categories,
                curve=[np.nan if v is None else v for v in curve.values()])


def score_baseline(entry, val, layout):
    """The mean-shape floor as points, scored like a method (its NE is run_eval.score's
    mean_shape_ne; kept as points here so that its PCK curve and bars can be drawn)."""
    prediction, cfg = entry["prediction"], entry["cfg"]
    xy = run_eval.mean_shape_points(layout, entry["categories"], prediction["transforms"],
                                    cfg["input_size"])
    result = metrics.normalized_error(xy, prediction["gt"], entry["categories"], cfg["names"])
    result["pck"] = metrics.pck(xy, prediction["gt"], entry["categories"], cfg["names"])
    return with_curve(result, xy, prediction, val, cfg["names"])


# --- the report --------------------------------------------------------------------------------
def _num(value, digits=4):
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def epochs_text(entry):
    trained = entry["state"].get("epoch") or len(entry["history"])
    planned = entry["cfg"]["epochs"]
    text = f"{trained}" if trained == planned else f"{trained} of {planned}"
    best = entry["state"].get("best_epoch")
    return text + (f" (best {best})" if best and best != trained else "")


def method_row(arch, entry):
    history = entry["history"]
    seconds = sum(float(r["epoch_seconds"]) for r in history if r.get("epoch_seconds"))
    rates = [float(r["images_per_s"]) for r in history if r.get("images_per_s")]
    stages = " ".join(_num(v) for v in entry["ne_per_stage"])
    backbone = registry.get(arch).backbone_of(entry["cfg"])
    return [arch, backbone, f"{entry['parameters']:,}",
            _duration(seconds) if history else "—",
            f"{statistics.median(rates):.1f}" if rates else "—", epochs_text(entry),
            _num(entry["ne"]), stages, _num(entry["pck"]["0.1"], 3), _num(entry["pck"]["0.2"], 3)]


def table(runs, scored, baseline):
    header = ["method", "backbone", "parameters", "training time", "train images/s", "epochs",
              "val NE", "NE per stage", "PCK@0.1", "PCK@0.2"]
    rows = [method_row(arch, scored[arch]) if arch in scored else
            [arch, "—", "—", "—", "—", "—", "no run", "—", "—", "—"] for arch in runs]
    rows.append([f"{BASELINE} (baseline)", "—", "0", "—", "—", "—", _num(baseline["ne"]),
                 "—", _num(baseline["pck"]["0.1"], 3), _num(baseline["pck"]["0.2"], 3)])
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i == 2 or i >= 4 else "---" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def verdict(scored, baseline):
    """The best method by the NE measured here, and how it stands against the mean shape."""
    ranked = sorted((e["ne"], arch) for arch, e in scored.items() if e["ne"] is not None)
    if not ranked:
        return "No method could be scored: no validation image has a normalising distance."
    ne, best = ranked[0]
    line = f"**Best: {best}**, val NE {_num(ne)}"
    if len(ranked) > 1:
        line += " (then " + ", ".join(f"{a} {_num(v)}" for v, a in ranked[1:]) + ")"
    floor = baseline["ne"]
    if floor:
        if ne < floor:
            line += f"; {100 * (1 - ne / floor):.0f}% below the mean-shape baseline ({_num(floor)})."
        else:
            line += f"; no method beats the mean-shape baseline ({_num(floor)})."
    return line


def report_text(args, runs, scored, baseline, cfg, train, val):
    title = " vs ".join(registry.get(arch).label for arch in runs)
    lines = [f"# {args.category}: {title}", "",
             f"- data: `{Path(val.data_dir).resolve()}` (fingerprint `{cfg['data_fingerprint']}`), "
             f"{len(train)} train / {len(val)} validation images "
             f"(split: `{cfg['split_rule']}`, val_fraction {cfg['val_fraction']})",
             f"- preset: {cfg['preset']}",
             f"- scored on: {machine.describe(machine.gpu_name())}, "
             f"{datetime.datetime.now().isoformat(sep=' ', timespec='minutes')}",
             "- every figure below was measured now, from each run's best checkpoint; training "
             "time and images/s are from the run's history.csv"]
    trained_on = {e["cfg"].get("machine") for e in scored.values()}
    if trained_on != {training.machine()}:
        lines.append("- trained on: " + "; ".join(
            f"{arch} {e['cfg'].get('machine')}" for arch, e in scored.items()))
    lines += ["", *table(runs, scored, baseline), ""]
    lines += [f"- {arch}: no run in `{Path(args.runs_dir) / run_name(args.category, arch)}` "
              f"(add --train to train it)" for arch in runs if arch not in scored]
    lines += [verdict(scored, baseline), "",
              "NE: mean distance to the truth over visible keypoints, divided by the image's "
              "normalising distance; PCK@t: the share of them within t of it.", ""]
    lines += [f"![{title}]({name})" for name, title in FIGURES.items()]
    return "\n".join(lines) + "\n"


# --- the figures ---------------------------------------------------------------------------------
def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _entries(scored, baseline):
    return [*scored.items(), (BASELINE, baseline)]


def color(label):
    """A method's colour in every plot (its descriptor's); the baseline's grey."""
    return BASELINE_COLOR if label == BASELINE else registry.get(label).color


def draw_figures(out, scored, baseline, val):
    draw_ne_per_keypoint(out / "ne_per_keypoint.png", scored, baseline)
    draw_pck(out / "pck.png", scored, baseline)
    draw_ne_per_stage(out / "ne_per_stage.png", scored, baseline)
    draw_predictions(out / "predictions.png", scored, val)


def draw_ne_per_keypoint(path, scored, baseline):
    names = [n for n in baseline["names"] if n in baseline["ne_per_keypoint"]]
    entries = _entries(scored, baseline)
    fig = _figure(max(6.0, 0.5 * len(names) * len(entries) + 1.5), 4.5)
    ax = fig.add_subplot()
    width = 0.8 / len(entries)
    for i, (label, entry) in enumerate(entries):
        values = [entry["ne_per_keypoint"].get(n, np.nan) for n in names]
        ax.bar(np.arange(len(names)) + (i - (len(entries) - 1) / 2) * width, values, width,
               label=label, color=color(label))
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("val NE (lower is better)")
    ax.set_title("Normalized Error per keypoint")
    ax.legend()
    fig.tight_layout()
    pictures.save_figure(fig, path)


def draw_pck(path, scored, baseline):
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    for label, entry in _entries(scored, baseline):
        ax.plot(PCK_CURVE, entry["curve"], label=label, color=color(label),
                ls="--" if label == BASELINE else "-")
    ax.set_xlabel("threshold t (fraction of the normalising distance)")
    ax.set_ylabel("PCK: share of visible keypoints within t")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title("PCK on the validation split")
    fig.tight_layout()
    pictures.save_figure(fig, path)


def draw_ne_per_stage(path, scored, baseline):
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    for arch, entry in scored.items():
        stages = np.arange(1, len(entry["ne_per_stage"]) + 1)
        values = [np.nan if v is None else v for v in entry["ne_per_stage"]]
        ax.plot(stages, values, marker=registry.get(arch).marker, color=color(arch),
                label=arch)
    if baseline["ne"] is not None:
        ax.axhline(baseline["ne"], color=BASELINE_COLOR, ls="--", label=BASELINE)
    ax.set_xlabel(" · ".join(f"{registry.get(arch).stage_noun} ({arch})" for arch in scored))
    ax.set_ylabel("val NE")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("What each stage adds")
    fig.tight_layout()
    pictures.save_figure(fig, path)


def pick_image(gt):
    """The validation image with the most visible keypoints (the first of equals)."""
    return int(np.argmax((gt[..., 2] == 1).sum(axis=1)))


def draw_predictions(path, scored, val):
    any_entry = next(iter(scored.values()))
    gt = any_entry["prediction"]["gt"]
    n = pick_image(gt)
    index = int(any_entry["prediction"]["indices"][n])
    image = letterbox.read_image(val.image_path(index))
    names, category = any_entry["names"], any_entry["categories"][n]
    own = pipeline.own_mask([category], names)[0]  # a joint model's other categories stay hidden
    fig = _figure(6.0, 6.0 * image.shape[0] / image.shape[1] + 0.6)
    ax = fig.add_subplot()
    ax.imshow(image)
    ax.set_axis_off()
    shown = (gt[n, :, 2] >= 0) & own
    visible, occluded = shown & (gt[n, :, 2] == 1), shown & (gt[n, :, 2] == 0)
    ax.scatter(*gt[n, visible, :2].T, s=70, c=pictures.GT_COLOR, edgecolors="black",
               label="ground truth (visible)", zorder=3)
    ax.scatter(*gt[n, occluded, :2].T, s=70, facecolors="none", edgecolors=pictures.GT_COLOR,
               linewidths=1.5, label="ground truth (occluded)", zorder=3)
    for arch, entry in scored.items():
        xy = entry["xy"][n][own]
        ne = metrics.normalized_error(entry["xy"][n:n + 1], gt[n:n + 1], [category], names)["ne"]
        ax.scatter(*xy.T, s=45, marker=registry.get(arch).marker, c=color(arch),
                   edgecolors="white", label=f"{arch} (NE {_num(ne, 3)} here)", zorder=4)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    ax.set_title(f"{val.image_ids[index]} (original pixels)", fontsize=9)
    fig.tight_layout()
    pictures.save_figure(fig, path)
