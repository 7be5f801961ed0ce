#!/usr/bin/env python
"""The table of two stages against one, and of input sizes: docs/results/two-stage/.

From the repository root, after train_two_stage.sh has trained every category's seeds:

    python docs/results/two_stage.py --runs runs --out docs/results/two-stage

Every figure is what the runs' metrics.json holds: their best epoch scored on the
validation split (a second stage's end to end, on its first stage's boxes, and with
ground-truth boxes for reference), as `run.py evaluate --run RUN` reports it. GFLOPs are
the forward pass of one image, a second stage's both stages together.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SEEDS = (0, 1, 2)
CATEGORIES = ("dress", "skirt")
LINES = (  # (label, run name suffix)
    ("one stage, 128 px", ""),
    ("one stage, 192 px", "192px"),
    ("first stage alone, 64 px", "64px"),
    ("two stages: 64 px boxes → 128 px crop (76 features)", "crop"),
    ("the same, `--crop-jitter 0.15`", "cropj15"),
)
REFERENCE = ""  # the line every other is measured against, seed by seed


def run_name(category, suffix, seed):
    """The hourglass run of a line and seed, named as `compare` names it."""
    from engine.comparison.lines import Entry
    return Entry("hourglass", suffix or None).run_name(category, seed)


def forward_gflops(run):
    from engine.comparison.scores import config_flops
    return config_flops(json.loads((run / "config.json").read_text())) / 1e9


def gap_by_box(run):
    """Where a second stage loses against ground-truth boxes: (end-to-end NE − NE with
    ground-truth boxes, the part of that gap from the images whose first-stage box is
    beyond the training jitter, the share of such images), scored point by point through
    the test-time layer, as `evaluate --run` does."""
    import numpy as np
    from engine.inference import test_time, two_stage
    from engine.runs import data_source
    from data_tools import metrics
    cfg = json.loads((run / "config.json").read_text())
    _, val = data_source.split(cfg, data_source.load_annotations(cfg))
    chain = test_time.load_ensemble([run])
    chained = chain.predict(val, cfg["batch_size"])
    truth, _ = two_stage.gt_boxes(cfg, val)
    reference = chain.second.predict(val, cfg["batch_size"], truth)
    categories = [val.categories[i] for i in chained["indices"]]
    far = metrics.point_errors(chained["stage_xy"][-1], chained["gt"], categories, cfg["names"])
    near = metrics.point_errors(reference["stage_xy"][-1], reference["gt"], categories,
                                cfg["names"])
    boxes = chained["boxes"][chained["indices"]]
    side = lambda b: np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])  # noqa: E731
    ratio = side(boxes) / side(truth[chained["indices"]])
    shift = np.abs((boxes[:, :2] + boxes[:, 2:]) / 2 - (truth[chained["indices"], :2]
                                                        + truth[chained["indices"], 2:]) / 2)
    shift = shift.max(axis=1) / side(truth[chained["indices"]])
    low, high = cfg["crop"]["scale"]
    outside = (ratio < low) | (ratio > high) | (shift > cfg["crop"]["shift"])
    counted = np.isfinite(far) & np.isfinite(near)
    difference = np.where(counted, far - near, 0.0)
    points = counted.sum()
    return (float(difference.sum() / points), float(difference[outside].sum() / points),
            float(outside.mean()))


def mean_sd(values):
    from engine.comparison.scores import mean_sd as numbers
    return numbers(values)


def fmt(mean_and_sd, digits=3):
    mean, sd = mean_and_sd
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" + ("" if sd is None else f" ± {sd:.{digits}f}")


def lines_of(runs, category):
    rows = []
    for label, suffix in LINES:
        found = {s: runs / run_name(category, suffix, s) for s in SEEDS}
        metrics = {s: json.loads((r / "metrics.json").read_text())
                   for s, r in found.items() if (r / "metrics.json").is_file()}
        if not metrics:
            continue
        two = [m["two_stage"] for m in metrics.values() if m.get("two_stage")]
        rows.append({
            "line": label, "suffix": suffix, "seeds": sorted(metrics),
            "gflops": forward_gflops(found[min(metrics)]),
            "ne": {s: m["ne"] for s, m in metrics.items()},
            "beyond_half": {s: m.get("beyond_half") for s, m in metrics.items()},
            "gt_boxes_ne": [t["gt_boxes"]["ne"] for t in two],
            "first_stage_ne": [t["first_stage"]["ne"] for t in two],
            "in_box": [t["first_stage"]["visible_points_in_box"] for t in two],
            "clipped": [t["first_stage"]["boxes_clipped"] for t in two],
            "within_jitter": [t["first_stage"].get("boxes_within_jitter") for t in two],
            "gap_by_box": [gap_by_box(found[s]) for s in metrics if metrics[s].get("two_stage")],
        })
    return rows


def table(rows):
    reference = next((r for r in rows if r["suffix"] == REFERENCE), None)
    out = ["| line | GFLOPs | val NE | per seed | gap to one stage 128 px, per seed | "
           "beyond 0.5 | NE with ground-truth boxes | first stage's NE | visible points "
           "in its boxes | its boxes within the training jitter |",
           "|---|---:|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gaps = ""
        if reference is not None and r is not reference:
            common = [s for s in r["seeds"] if s in reference["ne"]]
            gaps = ", ".join(f"{r['ne'][s] - reference['ne'][s]:+.3f}" for s in common)
        per_seed = ", ".join(f"{r['ne'][s]:.3f}" for s in r["seeds"])
        in_box = mean_sd(r["in_box"])
        out.append(f"| {r['line']} | {r['gflops']:.3f} | {fmt(mean_sd(list(r['ne'].values())))} | "
                   f"{per_seed} | {gaps} | {fmt(mean_sd(list(r['beyond_half'].values())))} | "
                   f"{fmt(mean_sd(r['gt_boxes_ne']))} | {fmt(mean_sd(r['first_stage_ne']))} | "
                   + (f"{100 * in_box[0]:.1f}%" if in_box[0] is not None else "—") + " | "
                   + fmt(mean_sd(r["within_jitter"]), 2) + " |")
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import run
    run.import_tensorflow_quietly()
    from engine.training import machine
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures, text = {}, []
    for category in CATEGORIES:
        rows = lines_of(Path(args.runs), category)
        if not rows:
            continue
        figures[category] = rows
        text += [f"### {category}", "", *table(rows), ""]
    for category, rows in figures.items():
        for r in rows:
            for seed, (gap, outside, share) in zip(r["seeds"], r["gap_by_box"]):
                text.append(f"- {category}, {r['line']}, seed {seed}: end to end "
                            f"{gap:+.4f} against ground-truth boxes, {outside:+.4f} of it from "
                            f"the {100 * share:.0f}% of images whose first-stage box is beyond "
                            f"the training jitter")
    text += [""]
    text.append(f"Measured on {machine.describe(machine.gpu_name())}; `python "
                f"docs/results/two_stage.py --runs {args.runs} --out {args.out}`.")
    (out / "table.md").write_text("\n".join(text) + "\n")
    (out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
