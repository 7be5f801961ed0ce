#!/usr/bin/env python
"""Score the real-photograph study's runs on test-A: docs/results/real/<table>/.

From the repository root, once the runs are trained (train_methods.sh, train_pretraining.sh):

    python docs/results/real/score.py --runs RUNS --sample SAMPLE --table methods --out docs/results/real/methods
    python docs/results/real/score.py --runs RUNS --sample SAMPLE --table pretraining --tags v2 --out docs/results/real/pretraining

SAMPLE is the real sample's folder (its test-a/answers.csv is scored on). Every run is scored
as a user scores it, `run.py evaluate --run RUN --gt ANSWERS` (engine.evaluation.evaluate_runs)
with ANSWERS the dress rows of test-a/answers.csv (so that a --category all run is scored on
the dresses too): predicted and written as a submission, then the official NE. A run already
in OUT/figures.json, scored after it finished, is not scored again. A line's figure is the
mean ± sample sd over its seeds 0, 1, 2; its gaps to the first line, and to the real-only
line of as many training steps, are given seed by seed (paired: the same seed's initial
weights and batches). The mean shape is that of the real training dresses (the first line's
runs' training split). Writes table.md and figures.json (each run's figures).
"""
import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

SEEDS = (0, 1, 2)
CATEGORY = "dress"
# (label, run name stem, the stem of the real-only line at the same number of steps, if any)
METHODS = [("hourglass (2 stacks)", "dress-hourglass", None),
           ("simplebaseline", "dress-simplebaseline", None),
           ("cpm (6 stages)", "dress-cpm", None),
           ("regression (smooth L1)", "dress-regression", None),
           ("regression (RLE)", "dress-regression-rle", None)]


def pretraining_lines(tags):
    lines = [("real dresses only", "dress-hourglass", None),
             ("real dresses only, 56 epochs", "dress-hourglass-e56", None),
             ("real dresses only, 65 epochs", "dress-hourglass-e65", None),
             ("real dresses only, 162 epochs", "dress-hourglass-e162", None)]
    for tag in tags:
        lines += [(f"synthetic dresses ({tag}) only: zero-shot", f"dress-hourglass-synth-{tag}", None),
                  (f"synthetic dresses ({tag}), then real dresses",
                   f"dress-hourglass-fromsynth-{tag}", "dress-hourglass-e65")]
    return lines + [("real photos, all categories: the joint model on dresses",
                     "all-hourglass-real", "dress-hourglass-e162"),
                    ("real photos, all categories, then real dresses", "dress-hourglass-fromall",
                     None)]


def seed_name(stem, seed):
    return stem + (f"-seed{seed}" if seed else "")


def training_seconds(run):
    from engine.run_dir import RunDir
    return sum(float(r["epoch_seconds"]) for r in RunDir(run).read_history())


def pretraining_seconds(run):
    """The training time of the run a run started from (--weights RUN), else 0."""
    from engine.run_dir import RunDir
    source = RunDir(run).read_config().get("weights")
    if not source or not (Path(source) / "config.json").is_file():  # none, or a bare file
        return 0.0
    return training_seconds(source) + pretraining_seconds(source)


def dress_answers(sample, scratch):
    """test-a/answers.csv cut to its dress rows, in `scratch`."""
    import pandas as pd
    answers = pd.read_csv(Path(sample) / "test-a" / "answers.csv", dtype=str)
    path = Path(scratch) / "dress-answers.csv"
    answers[answers["image_category"] == CATEGORY].to_csv(path, index=False)
    return path


def score(run, answers, data_dir):
    from engine import evaluation
    result = evaluation.evaluate_runs([str(run)], str(answers), str(data_dir))
    return {"ne": result["ne"], "beyond_half": result["beyond_half"], "pck": result["pck"],
            "ne_per_keypoint": result["ne_per_keypoint"],
            "mean_shape_ne": result["mean_shape_ne"],
            "train_s": training_seconds(run), "pretrain_s": pretraining_seconds(run)}


def mean_sd(values, digits=3):
    from engine.compare import mean_sd as numbers
    count = sum(v is not None for v in values)
    mean, sd = numbers(values)
    if mean is None:
        return "not run"
    text = f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")
    return text + ("" if count == len(SEEDS) else f" ({count} seed{'s' * (count > 1)})")


def minutes(seconds):
    return f"{statistics.mean(seconds) / 60:.0f} min" if seconds else ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", required=True)
    parser.add_argument("--sample", required=True, help="the real sample's folder")
    parser.add_argument("--table", choices=("methods", "pretraining"), required=True)
    parser.add_argument("--tags", nargs="+", default=["v2"],
                        help="the synthetic sets' tags in the run names")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    test_a = Path(args.sample) / "test-a"
    if not (test_a / "answers.csv").is_file():
        sys.exit(f"error: {args.sample} is not the real sample (no test-a/answers.csv)")
    import run
    run.import_tensorflow_quietly()
    lines = METHODS if args.table == "methods" else pretraining_lines(args.tags)
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scored = json.loads((out / "figures.json").read_text()) \
        if (out / "figures.json").is_file() else {}
    scored_at = (out / "figures.json").stat().st_mtime if scored else 0
    figures = {}
    with tempfile.TemporaryDirectory() as scratch:
        answers = dress_answers(args.sample, scratch)
        for _, stem, _ in lines:
            for seed in SEEDS:
                path = runs / seed_name(stem, seed)
                if not (path / "metrics.json").is_file():
                    continue
                if path.name in scored and (path / "metrics.json").stat().st_mtime < scored_at:
                    figures[path.name] = scored[path.name]
                else:
                    figures[path.name] = score(path, answers, test_a)
                print(f"{path.name}: NE {figures[path.name]['ne']:.4f}", flush=True)
    lines = [line for line in lines if any(seed_name(line[1], s) in figures for s in SEEDS)]
    (out / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
    (out / "table.md").write_text("\n".join(table(lines, figures)) + "\n")
    print((out / "table.md").read_text())


def gaps(found, figures, control):
    """A line's NE minus the control's, seed by seed (paired: the same seed)."""
    base = [figures.get(seed_name(control, s)) for s in SEEDS]
    return ", ".join(f"{f['ne'] - b['ne']:+.3f}" if f and b else "—" for f, b in zip(found, base))


def table(lines, figures):
    reference = lines[0][1]
    floor = [f["mean_shape_ne"] for name, f in figures.items()
             if name.startswith(reference) and f["mean_shape_ne"] is not None]
    budgets = any(control for *_, control in lines)
    rows = ["| line | test-A NE (mean ± sd) | ÷ mean shape | gap to the first line per seed "
            "(0, 1, 2) | " + ("gap to the real-only line of as many steps | " if budgets else "")
            + "beyond 0.5 | PCK@0.2 | training (pretraining) per seed |",
            "|---|---:|---:|---|" + "---|" * budgets + "---:|---:|---|"]
    for label, stem, control in lines:
        found = [figures.get(seed_name(stem, s)) for s in SEEDS]
        ne = [f["ne"] if f else None for f in found]
        done = [f for f in found if f]
        ratio = f"{statistics.mean(v for v in ne if v is not None) / floor[0]:.2f}" \
            if done and floor else ""
        pre = minutes([f["pretrain_s"] for f in done if f["pretrain_s"]])
        same_budget = f"{gaps(found, figures, control)} ({control.split('-')[-1]})" \
            if control else ""
        rows.append(f"| {label} | {mean_sd(ne)} | {ratio} | "
                    f"{gaps(found, figures, reference) if stem != reference else ''} | "
                    + (f"{same_budget} | " if budgets else "")
                    + f"{mean_sd([f['beyond_half'] for f in done])} | "
                    f"{mean_sd([f['pck']['0.2'] for f in done])} | "
                    f"{minutes([f['train_s'] for f in done])}{f' (+ {pre})' if pre else ''} |")
    if floor:
        rows.append(f"| mean shape of the real training dresses | {floor[0]:.3f} | 1 |"
                    + " |" * (4 + budgets))
    rows += ["", "NE per keypoint (mean over the seeds):", ""]
    names = list(next(iter(figures.values()))["ne_per_keypoint"]) if figures else []
    rows.append("| keypoint | " + " | ".join(label for label, *_ in lines) + " |")
    rows.append("|---|" + "---:|" * len(lines))
    for name in names:
        cells = []
        for _, stem, _ in lines:
            values = [figures[seed_name(stem, s)]["ne_per_keypoint"].get(name)
                      for s in SEEDS if seed_name(stem, s) in figures]
            values = [v for v in values if v is not None]
            cells.append(f"{statistics.mean(values):.3f}" if values else "")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


if __name__ == "__main__":
    main()
