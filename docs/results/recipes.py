#!/usr/bin/env python
"""The table of what each training and test-time step buys: docs/results/recipes.md.

From the repository root, after the comparison's dress runs (train_lanes.sh) and the
recipes' runs (train_recipes.sh) are trained, with the machine otherwise quiet (the
prediction rates are timed):

    python docs/results/recipes.py --runs runs --timing runs-timing --out docs/results/recipes

Training steps: each hourglass line's val NE over its seeds (its metrics.json), and the
training time of seeds 0 and 1, all trained at once in train_recipes.sh's three lanes
(the plain lines' times from runs-timing/, the same runs trained again beside them).
Test-time steps: what `run.py evaluate --run ... [--flip] [--scales ...]` reports
(engine.scoring.run_eval.evaluate_views) on the same validation split, for every seed; its
images/s is timed after the first batch, so model building and tracing are left out.
"""
import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SEEDS = (0, 1, 2)
SCALES = (0.75, 1.0, 1.25)


def run_name(category, arch, variant, seed):
    """The run of a line and seed, named as `compare` names it."""
    from engine.comparison.lines import Entry
    return Entry(arch, variant).run_name(category, seed)


def training_seconds(run):
    with open(Path(run) / "history.csv", newline="") as f:
        return sum(float(r["epoch_seconds"]) for r in csv.DictReader(f))


def evaluate(runs, flip=False, scales=(1.0,)):
    """What `run.py evaluate --run RUN ... [--flip] [--scales S ...]` reports, with the
    run alone also through the test-time layer, so that its images/s is timed too."""
    from engine.scoring import run_eval
    return run_eval.evaluate_views([str(r) for r in runs], scales, flip)


def mean_sd(values):
    from engine.comparison.scores import mean_sd as numbers
    mean, sd = numbers(values)
    if mean is None:
        return ""
    return f"{mean:.3f} ± {sd or 0.0:.3f} ({sum(v is not None for v in values)})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--timing", default="runs-timing")
    parser.add_argument("--category", default="dress")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import run
    run.import_tensorflow_quietly()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs, c = Path(args.runs), args.category
    rows = []

    # --- training steps ------------------------------------------------------------------
    for label, variant, timing in (("hourglass", "", Path(args.timing)),
                                   ("+ hard keypoints (8 of 15)", "ohkm8", runs),
                                   ("+ curriculum", "curriculum", runs)):
        found = [runs / run_name(c, "hourglass", variant, s) for s in SEEDS]
        found = [r for r in found if (r / "metrics.json").is_file()]
        ne = [json.loads((r / "metrics.json").read_text())["ne"] for r in found]
        timed = [timing / run_name(c, "hourglass", variant, s) for s in (0, 1)]
        seconds = [training_seconds(r) for r in timed if (r / "history.csv").is_file()]
        rows.append({"step": label, "kind": "training", "ne": ne,
                     "train_s": statistics.mean(seconds) if seconds else None})

    # --- test-time steps ---------------------------------------------------------------------
    def hourglass(s):
        return runs / run_name(c, "hourglass", "", s)

    views = {"alone": {}, "flip": {"flip": True}, "scales": {"scales": SCALES},
             "both": {"flip": True, "scales": SCALES}}
    lines = [
        ("hourglass alone", lambda s: [hourglass(s)], views["alone"]),
        ("+ flip", lambda s: [hourglass(s)], views["flip"]),
        ("+ scales 0.75 1 1.25", lambda s: [hourglass(s)], views["scales"]),
        ("+ flip and scales", lambda s: [hourglass(s)], views["both"]),
        ("+ a second hourglass (the next seed): maps averaged",
         lambda s: [hourglass(s), hourglass((s + 1) % 3)], views["alone"]),
        ("+ SimpleBaseline (same seed): maps averaged",
         lambda s: [hourglass(s), runs / run_name(c, "simplebaseline", "", s)], views["alone"]),
        ("+ CPM (same seed): points by certainty",
         lambda s: [hourglass(s), runs / run_name(c, "cpm", "", s)], views["alone"]),
        ("+ regression (same seed): points by certainty",
         lambda s: [hourglass(s), runs / run_name(c, "regression", "", s)], views["alone"]),
    ]
    for label, members, how in lines:
        figures = [evaluate(members(s), **how) for s in SEEDS]
        rows.append({"step": label, "kind": "test time", "ne": [f["ne"] for f in figures],
                     "calls": figures[0]["model_calls"],
                     "images_per_s": statistics.mean(f["images_per_s"] or 0 for f in figures)})
        print(label, [round(f["ne"], 4) for f in figures], flush=True)

    (out / "figures.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = ["| step | val NE, mean ± sd (seeds) | training time | model calls per image | prediction images/s |",
             "|---|---|---|---|---|"]
    for r in rows:
        train = f"{r['train_s'] / 60:.1f} min" if r.get("train_s") else ""
        rate = f"{r['images_per_s']:.0f}" if r.get("images_per_s") else ""
        table.append(f"| {r['step']} | {mean_sd(r['ne'])} | {train} | {r.get('calls', '')} | {rate} |")
    (out / "table.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
