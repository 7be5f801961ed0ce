"""`run.py compare`: every method side by side on one category, over several seeds.

    RUNS_DIR/<category>-<method>[-<variant>][-seed<i>] for each method of engine/plugin/registry.py,
    each of its variants (regression's RLE), each name of --lines (runs trained with that
    --name: another input size, a second stage) and each seed index i < --seeds
                                   (with --train, the missing ones are trained, but --lines)
    → refuse runs that differ in data, split or preset
    → re-score each run's best checkpoint on the shared validation split
    → OUT/report.md, ne_per_keypoint.png, pck.png, ne_per_stage.png, predictions.png

Every figure comes from the predictions made here, so the report states what was
measured now, next to what each run recorded while it trained (time, images/s, epochs).
With several seeds, each figure is the mean over the seeds with its standard deviation,
and the report says which gaps between methods are larger than that spread.
"""
import dataclasses
import datetime
import itertools
import statistics
import sys
from pathlib import Path

import numpy as np

from data_tools import atomic, letterbox, metrics, pipeline
from data_tools.errors import DataError, UsageError
from engine.pictures import draw
from engine.plugin import models, presets, registry
from engine.runs import data_source, trained_run
from engine.runs.run_dir import run_name, RunDir
from engine.scoring import run_eval
from engine.training import loop, machine

# Runs are comparable only if they saw the same images, split the same way, at the same sizes.
MUST_AGREE = ("data_fingerprint", "split_rule", "val_fraction", "preset")
PCK_CURVE = np.round(np.linspace(0.0, 0.5, 51), 3)
MIN_VALIDATION_IMAGES = 30  # a rule of thumb: below it one image's miss moves NE more than methods differ
BASELINE = "mean shape"
BASELINE_COLOR = "#8c8c8c"
FIGURES = {"ne_per_keypoint.png": "NE per keypoint", "pck.png": "PCK curves",
           "ne_per_stage.png": "NE per stage", "predictions.png": "one validation image"}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of the comparison: a method as its preset trains it, or one of its variants."""
    arch: str
    variant: str = None
    options: tuple = ()  # (option, value) pairs for loop.Options, e.g. (("loss", "rle"),)
    extra: bool = False  # a --lines name: shown where its runs exist, never trained here

    @property
    def label(self):
        return f"{self.arch}-{self.variant}" if self.variant else self.arch

    def name(self, seed_index):
        """The run's --name: the variant, then seed<i> for every seed index but the first."""
        parts = [self.variant] if self.variant else []
        parts += [f"seed{seed_index}"] if seed_index else []
        return "-".join(parts) or None

    def run_name(self, category, seed_index):
        return run_name(category, self.arch, self.name(seed_index))


def entries(lines=(), methods=None):
    """Every method of the registry (or of `methods`, --methods), each followed by its
    variants and the --lines names."""
    for arch in registry.METHODS:
        if methods and arch not in methods:
            continue
        yield Entry(arch)
        for variant, options in registry.get(arch).variants.items():
            yield Entry(arch, variant, tuple(options.items()))
        for name in lines:
            yield Entry(arch, name, extra=True)


def main(args):
    if args.epochs is not None and not args.train:
        raise UsageError("--epochs is for --train: runs already there keep their epochs")
    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    preset = presets.pick(args.preset, models.has_gpu()) if args.preset else None
    runs = find_runs(args.runs_dir, args.category, args.seeds, args.train, args.lines,
                     args.methods)
    reference = check_comparable(runs, preset)
    data_dir = args.data_dir or (reference and reference["data_dir"])
    # Loaded now, so that other data is refused before any time is spent on training.
    split = load_split(data_dir, reference) if reference else None
    if args.train and any(run is None for seeds in runs.values() for run in seeds):
        code = train_missing(runs, args, reference, data_dir)
        if code:
            print(f"error: training stopped (exit {code}); no report written", file=sys.stderr)
            return code
        runs = find_runs(args.runs_dir, args.category, args.seeds, args.train, args.lines,
                         args.methods)
        reference = check_comparable(runs, preset)
    if reference is None:
        names = ", ".join(entry.run_name(args.category, 0) for entry in runs)
        raise UsageError(f"no run of {args.category} in {args.runs_dir} (looked for {names}); "
                         f"add --train to train them")
    train, val = split or load_split(data_dir or reference["data_dir"], reference)
    # One mean-shape layout serves every run: they share the category (names) and the preset
    # (input size), as check_comparable made sure.
    layout = run_eval.training_layout(train, reference["names"], reference["input_size"])
    scored = {}
    for entry, seeds in runs.items():
        found = [rescore(run, train, val, layout) for run in seeds if run]
        if found:
            scored[entry.label] = summarize(entry, found)
    baseline = score_baseline(next(iter(scored.values()))["seeds"][0], val, layout)
    out = Path(args.out)
    draw_figures(out, scored, baseline, val)
    report = report_text(args, runs, scored, baseline, reference, train, val)
    atomic.write_text(out / "report.md", report)
    print(f"wrote {out / 'report.md'} and {len(FIGURES)} figures")
    return 0


# --- the runs -----------------------------------------------------------------------------
def find_runs(runs_dir, category, seeds, train, lines=(), methods=None):
    """{Entry: [RunDir or None, one per seed index]}: the run folders that have a checkpoint.
    A --lines name appears only for the methods that have a run of it."""
    if not Path(runs_dir).is_dir() and not train:
        raise UsageError(f"--runs-dir {runs_dir} does not exist (add --train to train "
                         f"the methods there)")
    runs = {}
    for entry in entries(lines, methods):
        if entry.extra and not any((Path(runs_dir) / entry.run_name(category, i)).exists()
                                   for i in range(seeds)):
            continue
        runs[entry] = []
        for i in range(seeds):
            run = RunDir(Path(runs_dir) / entry.run_name(category, i))
            if not run.path.exists():
                runs[entry].append(None)
            elif run.best_weights.is_file() or run.last_weights.is_file():
                runs[entry].append(run)
            else:  # training it again would make a "-2" folder that compare never looks at
                raise UsageError(f"{run.path} has no checkpoint (an unfinished run?): resume "
                                 f"it with `run.py train --resume` or remove it")
    return runs


def check_comparable(runs, preset=None):
    """The first run's config, after refusing any run that differs from it; None if no run."""
    reference, first = None, None
    for run in (run for seeds in runs.values() for run in seeds if run):
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


def base_seed(runs, reference):
    """The seed of seed index 0: that of a first-seed run already there, else the
    reference run's, else 0. Seed index i trains with base + i."""
    for seeds in runs.values():
        if seeds[0]:
            return int(seeds[0].read_config().get("seed", 0))
    return int(reference["seed"]) if reference else 0


def train_missing(runs, args, reference, data_dir):
    """Train every missing run in-process, with the settings of the runs already there."""
    import keras
    seed = base_seed(runs, reference)
    settings = dict(category=args.category, out=args.runs_dir,
                    data_dir=str(data_dir) if data_dir else None,
                    preset=args.preset or (reference and reference["preset"]) or "auto",
                    epochs=args.epochs or (reference and reference["epochs"]) or None)
    for entry, seeds in runs.items():
        for i in [i for i, run in enumerate(seeds) if run is None and not entry.extra]:
            print(f"compare: training {entry.run_name(args.category, i)} (no run yet)", flush=True)
            options = loop.Options(arch=entry.arch, name=entry.name(i), seed=seed + i,
                                   **dict(entry.options), **settings)
            code = loop.train(options)
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
    first = RunDir(cfg["first_stage"]).read_config()
    model, _ = models.build_uncompiled(first)
    return models.forward_flops(model)


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


# --- the report --------------------------------------------------------------------------------
def _num(value, digits=4):
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def epochs_text(run):
    trained = run["state"].get("epoch") or len(run["history"])
    planned = run["cfg"]["epochs"]
    text = f"{trained}" if trained == planned else f"{trained} of {planned}"
    best = run["state"].get("best_epoch")
    return text + (f" (best {best})" if best and best != trained else "")


def training_seconds(run):
    return sum(float(r["epoch_seconds"]) for r in run["history"] if r.get("epoch_seconds"))


def training_rate(run):
    rates = [float(r["images_per_s"]) for r in run["history"] if r.get("images_per_s")]
    return statistics.median(rates) if rates else None


def decoders(scored):
    """The other decoders some line was also scored with (DARK), in first-seen order."""
    return list(dict.fromkeys(d for s in scored.values() for d in s["ne_by_decoder"]))


def method_row(summary, other_decoders):
    first = summary["seeds"][0]
    arch = first["cfg"]["arch"]
    seconds = mean_sd([training_seconds(r) for r in summary["seeds"] if r["history"]])[0]
    rate = mean_sd([training_rate(r) for r in summary["seeds"]])[0]
    stages = " ".join(_num(v) for v in summary["ne_per_stage"])
    return [summary["entry"].label, registry.get(arch).backbone_of(first["cfg"]),
            input_text(first), f"{first['flops'] / 1e9:.3g}", f"{first['parameters']:,}",
            _duration(seconds) if seconds is not None else "—",
            f"{rate:.1f}" if rate is not None else "—", epochs_text(first),
            f"{len(summary['seeds'])}", _num(summary["ne"]), _num(summary["ne_sd"]), stages,
            _num(summary["pck"].get("0.1"), 3), _num(summary["pck"].get("0.2"), 3),
            _num(summary["far"], 3),
            *[_num(summary["ne_by_decoder"][d][0]) if d in summary["ne_by_decoder"] else "—"
              for d in other_decoders]]


def input_text(run):
    """The input side in px; a second stage's as "first → second" (its crop)."""
    two = run.get("two_stage")
    size = str(run["cfg"]["input_size"])
    return f"{two['first_stage']['input_size']} → {size} crop" if two else size


def two_stage_notes(scored):
    """For each two-stage line: what its first stage gives, and the NE on perfect boxes."""
    lines = []
    for label, summary in scored.items():
        runs = [r for r in summary["seeds"] if r.get("two_stage")]
        if not runs:
            continue
        gt_ne = mean_sd([r["two_stage"]["gt_boxes"]["ne"] for r in runs])
        gt_far = mean_sd([r["two_stage"]["gt_boxes"]["beyond_half"] for r in runs])
        first_ne = mean_sd([r["two_stage"]["first_stage"]["ne"] for r in runs])
        inside = mean_sd([r["two_stage"]["first_stage"]["visible_points_in_box"] for r in runs])
        clipped = [r["two_stage"]["first_stage"]["boxes_clipped"] for r in runs]
        first = runs[0]["two_stage"]["first_stage"]
        lines.append(f"- {label}: two stages, boxes from the first stage ({first['arch']}, "
                     f"{first['input_size']} px; its own val NE {_with_sd(*first_ne)}); "
                     f"{100 * inside[0]:.1f}% of visible points inside its boxes, "
                     f"{', '.join(map(str, clipped))} box(es) clipped per seed. With "
                     f"ground-truth boxes instead: val NE {_with_sd(*gt_ne)}, beyond {metrics.FAR} "
                     f"{_with_sd(*gt_far, 3)} (a perfect first stage's).")
    return lines + [""] if lines else []


def table(runs, scored, baseline):
    other = decoders(scored)
    header = ["method", "backbone", "input px", "GFLOPs", "parameters", "training time",
              "train images/s",
              "epochs", "seeds", "val NE", "± sd", "NE per stage", "PCK@0.1", "PCK@0.2",
              f"beyond {metrics.FAR}", *[f"val NE {d}" for d in other]]
    rows = []
    for entry in runs:
        if entry.label in scored:
            rows.append(method_row(scored[entry.label], other))
        else:
            rows.append([entry.label] + ["—"] * (len(header) - 1))
            rows[-1][header.index("val NE")] = "no run"
    rows.append([f"{BASELINE} (baseline)", "—", "—", "0", "0", "—", "—", "—", "—",
                 _num(baseline["ne"]), "—", "—", _num(baseline["pck"]["0.1"], 3),
                 _num(baseline["pck"]["0.2"], 3), _num(baseline["far"], 3),
                 *["—"] * len(other)])
    numeric = {"GFLOPs", "parameters", "train images/s", "seeds", "val NE", "± sd", "PCK@0.1",
               "PCK@0.2", f"beyond {metrics.FAR}", *[f"val NE {d}" for d in other]}
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if h in numeric else "---" for h in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _with_sd(mean, sd, digits=4):
    return _num(mean, digits) + ("" if sd is None else f" ± {_num(sd, digits)}")


def seed_table(scored):
    """Per line: each seed's val NE, then every figure of the main table as mean ± sd."""
    header = ["method", "val NE per seed", "NE per stage (mean ± sd)", "PCK@0.1", "PCK@0.2",
              f"beyond {metrics.FAR}"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|---:|---:|---:|"]
    for label, summary in scored.items():
        stages = ", ".join(_with_sd(m, sd) for m, sd in zip(summary["ne_per_stage"],
                                                          summary["ne_per_stage_sd"]))
        seeds = ", ".join(f"{_num(r['ne'])} (seed {r['cfg'].get('seed', 0)})"
                          for r in summary["seeds"])
        pck = [_with_sd(summary["pck"].get(t), summary["pck_sd"].get(t), 3) for t in ("0.1", "0.2")]
        lines.append(f"| {label} | {seeds} | {stages} | {pck[0]} | {pck[1]} | "
                     f"{_with_sd(summary['far'], summary['far_sd'], 3)} |")
    return lines


def ranked(scored):
    return sorted((s["ne"], label) for label, s in scored.items() if s["ne"] is not None)


def too_few(val_images):
    """Why a validation set cannot rank methods, or None when it is large enough."""
    if val_images >= MIN_VALIDATION_IMAGES:
        return None
    return (f"over {val_images} validation image(s), too few to tell methods apart (a ranking "
            f"needs {MIN_VALIDATION_IMAGES} at least): read no gap here as a result")


def verdict(scored, baseline, val_images):
    """The best line by its mean NE measured here, and how it stands against the mean shape."""
    order = ranked(scored)
    if not order:
        return "No method could be scored: no validation image has a normalising distance."
    ne, best = order[0]
    caveat = too_few(val_images)
    line = f"**Best here: {best}, {caveat}**, val NE {_num(ne)}" if caveat else \
        f"**Best: {best}**, val NE {_num(ne)}"
    if len(order) > 1:
        line += " (then " + ", ".join(f"{a} {_num(v)}" for v, a in order[1:]) + ")"
    floor = baseline["ne"]
    if floor:
        if ne < floor:
            line += f"; {100 * (1 - ne / floor):.0f}% below the mean-shape baseline ({_num(floor)})."
        else:
            line += f"; no method beats the mean-shape baseline ({_num(floor)})."
    return line


def spread_lines(scored, val_images):
    """Which gaps between two lines' mean NE are larger than their seeds' spread.

    A gap counts as larger when it exceeds the sum of the two standard deviations (the
    two mean +- sd intervals do not overlap): with three seeds a rough rule, stated as such.
    Over too few validation images no gap is called larger: the seeds then share one tiny
    sample, and their spread says nothing of it.
    """
    order = ranked(scored)
    with_sd = [label for _, label in order if scored[label]["ne_sd"] is not None]
    if len(with_sd) < 2:
        return ["One seed per method: no spread between seeds was measured, so no gap above "
                "can be told from luck (`--seeds 3` measures it)."]
    lines = ["Gaps between mean val NE, against the spread between seeds (a gap is called "
             "larger when it exceeds the sum of the two standard deviations):", "",
             "| better | worse | gap | sd + sd | larger than the spread |",
             "|---|---|---:|---:|---|"]
    for a, b in itertools.combinations(with_sd, 2):
        gap = scored[b]["ne"] - scored[a]["ne"]
        spread = scored[a]["ne_sd"] + scored[b]["ne_sd"]
        called = "yes" if gap > spread else "no"
        lines.append(f"| {a} | {b} | {_num(gap)} | {_num(spread)} | "
                     f"{called if not too_few(val_images) else 'not told: too few images'} |")
    return lines


def shown_data_dir(args, cfg):
    """The data folder as the user named it: --data-dir as given, else the runs' own folder,
    relative to here when it lies below."""
    if args.data_dir:
        return str(args.data_dir)
    path = Path(cfg["data_dir"])
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def report_text(args, runs, scored, baseline, cfg, train, val):
    title = " vs ".join(dict.fromkeys(registry.get(e.arch).label for e in runs))
    seeds = sorted({int(r["cfg"].get("seed", 0)) for s in scored.values() for r in s["seeds"]})
    lines = [f"# {args.category}: {title}", "",
             f"- data: `{shown_data_dir(args, cfg)}` (fingerprint `{cfg['data_fingerprint']}`), "
             f"{len(train)} train / {len(val)} validation images "
             f"(split: `{cfg['split_rule']}`, val_fraction {cfg['val_fraction']})",
             f"- preset: {cfg['preset']}; seeds: {', '.join(map(str, seeds))} "
             f"(up to {args.seeds} per method)",
             f"- scored on: {machine.describe(machine.gpu_name())}, "
             f"{datetime.datetime.now().isoformat(sep=' ', timespec='minutes')}",
             "- every figure below was measured now, from each run's best checkpoint, and is the "
             "mean over the seeds (± sd: their sample standard deviation); training time and "
             "images/s are from the runs' history.csv, GFLOPs the forward pass of one image"]
    trained_on = {r["cfg"].get("machine") for s in scored.values() for r in s["seeds"]}
    if trained_on != {machine.host()}:
        lines.append("- trained on: " + "; ".join(
            f"{label} {s['seeds'][0]['cfg'].get('machine')}" for label, s in scored.items()))
    lines += ["", *table(runs, scored, baseline), ""]
    lines += [f"- {entry.label}: no run in `{Path(args.runs_dir) / entry.run_name(args.category, 0)}` "
              f"(add --train to train it)" for entry in runs if entry.label not in scored]
    lines += [""] if len(scored) < len(runs) else []
    lines += two_stage_notes(scored)
    lines += [verdict(scored, baseline, len(val)), "", *spread_lines(scored, len(val)), ""]
    if any(len(summary["seeds"]) > 1 for summary in scored.values()):
        lines += ["Each seed, and the spread of every figure:", "", *seed_table(scored), ""]
    lines.append("NE: mean distance to the truth over visible keypoints, divided by the "
                 "image's normalising distance; PCK@t: the share of them within t of it; "
                 f"beyond {metrics.FAR}: the share farther than {metrics.FAR} "
                 "(on another part of the garment).")
    for decoder in decoders(scored):
        lines.append(f"val NE {decoder}: the same checkpoints decoded with {decoder} "
                     f"(`evaluate --run RUN --decode {decoder}`).")
    lines.append("")
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


def style(label, summary):
    """(colour, marker, line style) of a line in every plot: its method's colour and marker
    (the descriptor's), dotted for a variant; the baseline grey and dashed."""
    if label == BASELINE:
        return BASELINE_COLOR, None, "--"
    method = registry.get(summary["entry"].arch)
    return method.color, method.marker, ":" if summary["entry"].variant else "-"


def draw_figures(out, scored, baseline, val):
    draw_ne_per_keypoint(out / "ne_per_keypoint.png", scored, baseline)
    draw_pck(out / "pck.png", scored, baseline)
    draw_ne_per_stage(out / "ne_per_stage.png", scored, baseline)
    draw_predictions(out / "predictions.png", scored, val)


def _errors(sds):
    """Error bars from standard deviations (None: no bar)."""
    return [0.0 if sd is None else sd for sd in sds]


def draw_ne_per_keypoint(path, scored, baseline):
    names = [n for n in baseline["names"] if baseline["ne_per_keypoint"].get(n, (None,))[0]
             is not None]
    entries = _entries(scored, baseline)
    fig = _figure(max(6.0, 0.5 * len(names) * len(entries) + 1.5), 4.5)
    ax = fig.add_subplot()
    width = 0.8 / len(entries)
    for i, (label, summary) in enumerate(entries):
        colour, _, line = style(label, summary)
        mean_and_sd = [summary["ne_per_keypoint"].get(n, (None, None)) for n in names]
        values = [np.nan if m is None else m for m, _ in mean_and_sd]
        ax.bar(np.arange(len(names)) + (i - (len(entries) - 1) / 2) * width, values, width,
               yerr=_errors(sd for _, sd in mean_and_sd), capsize=2, label=label,
               color=colour, hatch="//" if line == ":" else None, edgecolor="white")
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("val NE (lower is better; bars: ± sd over seeds)")
    ax.set_title("Normalized Error per keypoint")
    ax.legend()
    fig.tight_layout()
    draw.save_figure(fig, path)


def draw_pck(path, scored, baseline):
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    for label, summary in _entries(scored, baseline):
        colour, _, line = style(label, summary)
        ax.plot(PCK_CURVE, summary["curve"], label=label, color=colour, ls=line)
        if summary["curve_sd"] is not None:
            ax.fill_between(PCK_CURVE, summary["curve"] - summary["curve_sd"],
                            summary["curve"] + summary["curve_sd"], color=colour, alpha=0.2)
    ax.set_xlabel("threshold t (fraction of the normalising distance)")
    ax.set_ylabel("PCK: share of visible keypoints within t")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title("PCK on the validation split (bands: ± sd over seeds)")
    fig.tight_layout()
    draw.save_figure(fig, path)


def draw_ne_per_stage(path, scored, baseline):
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    for label, summary in scored.items():
        colour, marker, line = style(label, summary)
        stages = np.arange(1, len(summary["ne_per_stage"]) + 1)
        values = [np.nan if v is None else v for v in summary["ne_per_stage"]]
        ax.errorbar(stages, values, yerr=_errors(summary["ne_per_stage_sd"]), capsize=3,
                    marker=marker, color=colour, ls=line, label=label)
    if baseline["ne"] is not None:
        ax.axhline(baseline["ne"], color=BASELINE_COLOR, ls="--", label=BASELINE)
    arches = dict.fromkeys(s["entry"].arch for s in scored.values())
    ax.set_xlabel(" · ".join(f"{registry.get(a).stage_noun} ({a})" for a in arches))
    ax.set_ylabel("val NE (± sd over seeds)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("What each stage adds")
    fig.tight_layout()
    draw.save_figure(fig, path)


def pick_image(gt):
    """The validation image with the most visible keypoints (the first of equals)."""
    return int(np.argmax((gt[..., 2] == 1).sum(axis=1)))


def draw_predictions(path, scored, val):
    """One validation image with every line's points from its first seed's run."""
    any_run = next(iter(scored.values()))["seeds"][0]
    gt = any_run["prediction"]["gt"]
    n = pick_image(gt)
    index = int(any_run["prediction"]["indices"][n])
    image = letterbox.read_image(val.image_path(index))
    names, category = any_run["names"], any_run["categories"][n]
    own = pipeline.own_mask([category], names)[0]  # a joint model's other categories stay hidden
    fig = _figure(6.0, 6.0 * image.shape[0] / image.shape[1] + 0.6)
    ax = fig.add_subplot()
    ax.imshow(image)
    ax.set_axis_off()
    shown = (gt[n, :, 2] >= 0) & own
    visible, occluded = shown & (gt[n, :, 2] == 1), shown & (gt[n, :, 2] == 0)
    ax.scatter(*gt[n, visible, :2].T, s=70, c=draw.GT_COLOR, edgecolors="black",
               label="ground truth (visible)", zorder=3)
    ax.scatter(*gt[n, occluded, :2].T, s=70, facecolors="none", edgecolors=draw.GT_COLOR,
               linewidths=1.5, label="ground truth (occluded)", zorder=3)
    for label, summary in scored.items():
        run = summary["seeds"][0]
        colour, marker, _ = style(label, summary)
        xy = run["xy"][n][own]
        ne = metrics.normalized_error(run["xy"][n:n + 1], gt[n:n + 1], [category], names)["ne"]
        ax.scatter(*xy.T, s=45, marker=marker, c=colour,
                   edgecolors="black" if summary["entry"].variant else "white",
                   label=f"{label} (NE {_num(ne, 3)} here)", zorder=4)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    ax.set_title(f"{val.image_ids[index]} (original pixels)", fontsize=9)
    fig.tight_layout()
    draw.save_figure(fig, path)
