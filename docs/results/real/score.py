#!/usr/bin/env python
"""Score the real-photograph study's runs on test-A: docs/results/real/<table>/.

From the repository root, once the runs are trained (train_methods.sh, train_pretraining.sh,
train_steps.sh):

    python docs/results/real/score.py --runs RUNS --sample SAMPLE --table methods --out docs/results/real/methods
    python docs/results/real/score.py --runs RUNS --sample SAMPLE --table pretraining --tags v2 --out docs/results/real/pretraining
    python docs/results/real/score.py --runs RUNS --sample SAMPLE --table steps --out docs/results/real/steps

SAMPLE is the real sample's folder (its test-a/answers.csv is scored on). Every run is scored
as a user scores it, `run.py evaluate --run RUN --gt ANSWERS` (engine/scoring/test_set.py's
evaluate_runs) with ANSWERS the dress rows of test-a/answers.csv (so that a --category all
run is scored on the dresses too): predicted and written as a submission, then the official NE. A run already
in OUT/figures.json, scored after it finished, is not scored again. A line's figure is the
mean ± sample sd over its seeds 0, 1, 2; its gaps to the first line, and to the real-only
line of as many training steps, are given seed by seed (paired: the same seed's initial
weights and batches). The mean shape is that of the real training dresses (the first line's
runs' training split). Writes table.md and figures.json (each run's figures).

The steps table scores the winning recipe's steps one at a time against the plain hourglass:
the training steps (train_steps.sh's runs) and the test-time steps on the plain runs
(`evaluate --decode dark`, `--flip`, `--scales`, and two seeds' runs as one ensemble, seed s
with seed s + 1, whose gap is to the mean of its two runs). A two-stage line also gives its
first stage's boxes against the true ones and the NE of its second stage on the true boxes
(the most better boxes could give).
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
           ("regression (RLE)", "dress-regression-rle", None),
           ("hrnet (4 branches)", "dress-hrnet", None),
           ("hrnet at 192 px, 1 module per stage", "dress-hrnet-192a", None),
           ("hrnet W20, 1, 2, 1 modules", "dress-hrnet-w20", None),
           ("hrnet W24, 3 branches", "dress-hrnet-w24b3", None),
           ("simcc (256 px, widen 0.25)", "dress-simcc", None),
           ("simcc, RTMPose-s's widths at 128 px", "dress-simcc-128px", None),
           ("simcc, 3 stages (stride 16) at 128 px", "dress-simcc-stride16", None)]


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


# The recipe: the joint model (train_pretraining.sh real-all, recipe.sh) on all of test-A
SCALES = {"scales": (0.75, 1.0, 1.25)}
FLIP_SCALES = {"flip": True, **SCALES}
RECIPE = [("the joint model alone", "all-hourglass-real", {}),
          ("`--flip`", "all-hourglass-real", {"flip": True}),
          ("`--scales 0.75 1 1.25`", "all-hourglass-real", SCALES),
          ("`--flip --scales 0.75 1 1.25`", "all-hourglass-real", FLIP_SCALES),
          ("two seeds' runs as one ensemble, `--flip --scales 0.75 1 1.25`",
           "all-hourglass-real", dict(FLIP_SCALES, ensemble=True)),
          ("the same, `--decode dark`", "all-hourglass-real",
           dict(FLIP_SCALES, ensemble=True, decode="dark")),
          # The joint model at 192 px: train_steps.sh SAMPLE RUNS all SEED 192px
          ("the joint model at 192 px (`--input-size 192`)", "all-hourglass-192px", {}),
          ("192 px, `--flip --scales 0.75 1 1.25`", "all-hourglass-192px", FLIP_SCALES),
          ("192 px, two seeds' runs as one ensemble, `--flip --scales 0.75 1 1.25`",
           "all-hourglass-192px", dict(FLIP_SCALES, ensemble=True)),
          ("the same, `--decode dark`", "all-hourglass-192px",
           dict(FLIP_SCALES, ensemble=True, decode="dark"))]


# (label, run name stem, test-time options of run.py evaluate; "ensemble": with the next seed)
STEPS = [("hourglass, 128 px, 28 epochs", "dress-hourglass", {}),
         ("`--hard-keypoints 8`", "dress-hourglass-ohkm8", {}),
         ("`--curriculum`", "dress-hourglass-curriculum", {}),
         ("first stage alone, 64 px", "dress-hourglass-64px", {}),
         ("two stages: 64 px boxes, 128 px crops (76 features)", "dress-hourglass-crop", {}),
         ("`--input-size 192`", "dress-hourglass-192px", {}),
         ("`--input-size 256`", "dress-hourglass-256px", {}),
         ("`--decode dark`", "dress-hourglass", {"decode": "dark"}),
         ("`--flip`", "dress-hourglass", {"flip": True}),
         ("`--scales 0.75 1 1.25`", "dress-hourglass", SCALES),
         ("`--flip --scales 0.75 1 1.25`", "dress-hourglass", FLIP_SCALES),
         ("two seeds' runs as one ensemble", "dress-hourglass", {"ensemble": True}),
         ("the same, `--flip --scales 0.75 1 1.25`", "dress-hourglass",
          dict(FLIP_SCALES, ensemble=True))]

def seed_name(stem, seed):
    return stem + (f"-seed{seed}" if seed else "")


def step_key(stem, seed, options):
    """A step's name in figures.json: its run's name, then its test-time options."""
    return " ".join([seed_name(stem, seed)] + [f"{k}={v}" for k, v in sorted(options.items())])


def step_runs(runs, stem, seed, options):
    partner = [runs / seed_name(stem, (seed + 1) % len(SEEDS))] if options.get("ensemble") else []
    return [runs / seed_name(stem, seed)] + partner


def training_seconds(run):
    from engine.runs.run_dir import RunDir
    return sum(float(r["epoch_seconds"]) for r in RunDir(run).read_history())


def pretraining_seconds(run):
    """The training time of the run a run started from (--weights RUN), else 0."""
    from engine.runs.run_dir import RunDir
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


def score(run, answers, data_dir, others=(), scales=(1.0,), flip=False, decode=None):
    """`run.py evaluate --run RUN [--run OTHER...] --gt ANSWERS` with its test-time options."""
    from engine.scoring import test_set
    result = test_set.evaluate_runs([str(run), *map(str, others)], str(answers), str(data_dir),
                                    scales, flip, decode)
    return {"ne": result["ne"], "beyond_half": result["beyond_half"], "pck": result["pck"],
            "ne_per_keypoint": result["ne_per_keypoint"],
            "ne_per_category": result["ne_per_category"],
            "mean_shape_ne": result["mean_shape_ne"],
            "mean_shape_per_category": result["mean_shape_per_category"],
            "train_s": training_seconds(run), "pretrain_s": pretraining_seconds(run)}


def model_calls(run_paths, views):
    """The model calls per image of a step, as the test-time layer counts them (both stages'
    for a second stage)."""
    from engine.inference import test_time
    return test_time.load_ensemble([str(p) for p in run_paths], **views).model_calls


def two_stage_bound(run, answers, data_dir):
    """A second stage on test-A: its first stage's boxes against the true ones
    (two_stage.box_errors), and its NE on the true boxes."""
    from data_tools import fashion_csv, metrics
    from engine.inference import test_time, two_stage
    from engine.runs.run_dir import RunDir
    cfg = RunDir(run).read_config()
    test = fashion_csv.read_annotations(answers, data_dir)
    chain = test_time.load_ensemble([str(run)])
    chained = chain.predict(test, cfg["batch_size"])
    truth, _ = two_stage.gt_boxes(cfg, test)
    on_truth = chain.second.predict(test, cfg["batch_size"], truth)
    categories = [test.categories[i] for i in on_truth["indices"]]
    bound = metrics.normalized_error(on_truth["stage_xy"][-1], on_truth["gt"], categories,
                                     cfg["names"])["ne"]
    return {"true_boxes_ne": bound, **two_stage.box_errors(chained["boxes"], truth, cfg["crop"])}


def score_step(runs, stem, seed, options, answers, data_dir):
    paths = step_runs(runs, stem, seed, options)
    views = {k: v for k, v in options.items() if k != "ensemble"}
    figures = dict(score(paths[0], answers, data_dir, paths[1:], **views),
                   model_calls=model_calls(paths, views))
    from engine.inference import two_stage
    from engine.runs.run_dir import RunDir
    if two_stage.first_stage_of(RunDir(paths[0]).read_config()):
        figures.update(two_stage_bound(paths[0], answers, data_dir))
    return figures


def mean_sd(values, digits=3):
    from engine.comparison.scores import mean_sd as numbers
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
    parser.add_argument("--table", choices=("methods", "pretraining", "steps", "recipe"),
                        required=True)
    parser.add_argument("--tags", nargs="+", default=["v2"],
                        help="the synthetic sets' tags in the run names")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    test_a = Path(args.sample) / "test-a"
    if not (test_a / "answers.csv").is_file():
        sys.exit(f"error: {args.sample} is not the real sample (no test-a/answers.csv)")
    import run
    run.import_tensorflow_quietly()
    lines = {"methods": METHODS, "pretraining": pretraining_lines(args.tags),
             "steps": STEPS, "recipe": RECIPE}[args.table]
    with_views = args.table in ("steps", "recipe")
    steps = [(stem, options if with_views else {}) for _, stem, options in lines]
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scored = json.loads((out / "figures.json").read_text()) \
        if (out / "figures.json").is_file() else {}
    scored_at = (out / "figures.json").stat().st_mtime if scored else 0
    figures = {}
    with tempfile.TemporaryDirectory() as scratch:
        answers = test_a / "answers.csv" if args.table == "recipe" else \
            dress_answers(args.sample, scratch)
        for stem, options in steps:
            for seed in SEEDS:
                finished = [p / "metrics.json" for p in step_runs(runs, stem, seed, options)]
                if not all(f.is_file() for f in finished):
                    continue
                key = step_key(stem, seed, options)
                if key in scored and all(f.stat().st_mtime < scored_at for f in finished):
                    figures[key] = scored[key]
                else:
                    figures[key] = score_step(runs, stem, seed, options, answers, test_a)
                print(f"{key}: NE {figures[key]['ne']:.4f}", flush=True)
    (out / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
    if args.table == "recipe":
        rows = recipe_table([line for line in lines if any(
            step_key(line[1], s, line[2]) in figures for s in SEEDS)], figures)
    elif args.table == "steps":
        rows = steps_table([line for line in lines if any(
            step_key(line[1], s, line[2]) in figures for s in SEEDS)], figures)
    else:
        found = [line for line in lines if any(seed_name(line[1], s) in figures for s in SEEDS)]
        rows = table(found, figures, {stem: forward_gflops(runs / stem) for _, stem, _ in found}
                     if args.table == "methods" else None)
    (out / "table.md").write_text("\n".join(rows) + "\n")
    print((out / "table.md").read_text())


def gaps(found, figures, control):
    """A line's NE minus the control's, seed by seed (paired: the same seed)."""
    base = [figures.get(seed_name(control, s)) for s in SEEDS]
    return ", ".join(f"{f['ne'] - b['ne']:+.3f}" if f and b else "—" for f, b in zip(found, base))


def forward_gflops(run):
    """The forward GFLOPs of one image through the run's model (both stages' for a second)."""
    from engine.comparison.scores import config_flops
    return config_flops(json.loads((Path(run) / "config.json").read_text())) / 1e9


def table(lines, figures, gflops=None):
    """The lines' rows; with `gflops` ({stem: GFLOPs}), a column of each one's forward work."""
    reference = lines[0][1]
    floor = [f["mean_shape_ne"] for name, f in figures.items()
             if name.startswith(reference) and f["mean_shape_ne"] is not None]
    budgets = any(control for *_, control in lines)
    rows = ["| line | test-A NE (mean ± sd) | ÷ mean shape | gap to the first line per seed "
            "(0, 1, 2) | " + ("gap to the real-only line of as many steps | " if budgets else "")
            + "beyond 0.5 | PCK@0.2 | training (pretraining) per seed |"
            + (" GFLOP |" if gflops else ""),
            "|---|---:|---:|---|" + "---|" * budgets + "---:|---:|---|" + "---:|" * bool(gflops)]
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
                    f"{minutes([f['train_s'] for f in done])}{f' (+ {pre})' if pre else ''} |"
                    + (f" {gflops[stem]:.2f} |" if gflops else ""))
    if floor:
        rows.append(f"| mean shape of the real training dresses | {floor[0]:.3f} | 1 |"
                    + " |" * (4 + budgets + bool(gflops)))
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


def paired_base(plain, seed, options):
    """What a step of seed `seed` is measured against: the plain run of that seed, or for an
    ensemble the mean of its two runs alone (None where one is missing)."""
    partner = plain[(seed + 1) % len(SEEDS)]
    if not options.get("ensemble") or not plain[seed]:
        return plain[seed]
    return {"ne": (plain[seed]["ne"] + partner["ne"]) / 2} if partner else None


def steps_table(lines, figures):
    """The steps one at a time against the first line, with their costs; then the two-stage
    lines' boxes."""
    reference = lines[0][1]
    plain = [figures.get(step_key(reference, s, {})) for s in SEEDS]
    floor = next((f["mean_shape_ne"] for f in plain if f), None)
    rows = ["| step | test-A NE (mean ± sd) | ÷ mean shape | gap to the plain run per seed "
            "(0, 1, 2) | beyond 0.5 | PCK@0.2 | model calls per image | training per seed |",
            "|---|---:|---:|---|---:|---:|---:|---|"]
    for label, stem, options in lines:
        found = [figures.get(step_key(stem, s, options)) for s in SEEDS]
        done = [f for f in found if f]
        ne = [f["ne"] if f else None for f in found]
        base = [paired_base(plain, s, options) for s in SEEDS]
        gap = ", ".join(f"{f['ne'] - b['ne']:+.3f}" if f and b else "—"
                        for f, b in zip(found, base))
        ratio = f"{statistics.mean(v for v in ne if v is not None) / floor:.3f}" \
            if floor else ""
        trained = options == {} and stem != reference or label == lines[0][0]
        rows.append(f"| {label} | {mean_sd(ne)} | {ratio} | "
                    f"{gap if (stem, options) != (reference, {}) else ''} | "
                    f"{mean_sd([f['beyond_half'] for f in done])} | "
                    f"{mean_sd([f['pck']['0.2'] for f in done])} | "
                    f"{done[0].get('model_calls', 1)} | "
                    f"{minutes([f['train_s'] for f in done]) if trained else ''} |")
    if floor:
        rows.append(f"| mean shape of the real training dresses | {floor:.3f} | 1 |" + " |" * 5)
    two = [(label, stem) for label, stem, options in lines
           if any((figures.get(step_key(stem, s, options)) or {}).get("true_boxes_ne")
                  is not None for s in SEEDS)]
    for label, stem in two:
        found = [figures.get(step_key(stem, s, {})) for s in SEEDS]
        done = [f for f in found if f]
        rows += ["", f"{label}: the first stage's boxes on test-A against the true ones", "",
                 "| | mean ± sd |", "|---|---:|",
                 f"| NE end to end | {mean_sd([f['ne'] for f in done])} |",
                 f"| NE of the second stage on the true boxes | "
                 f"{mean_sd([f['true_boxes_ne'] for f in done])} |",
                 f"| box side ÷ true side, median | "
                 f"{mean_sd([f['box_side_ratio'][1] for f in done], 2)} |",
                 f"| box centre's shift in true sides, median | "
                 f"{mean_sd([f['box_shift'][0] for f in done], 3)} |",
                 f"| box centre's shift in true sides, 90th percentile | "
                 f"{mean_sd([f['box_shift'][1] for f in done], 3)} |",
                 f"| boxes within the training jitter | "
                 f"{mean_sd([f['boxes_within_jitter'] for f in done], 2)} |"]
    return rows


def recipe_table(lines, figures):
    """The recipe's steps on all of test-A: overall and per category, paired by seed."""
    from data_tools import schema
    first = [figures[step_key(lines[0][1], s, lines[0][2])] for s in SEEDS]
    rows = ["| all 498 test-A photos | model calls per image | overall NE | gap per seed | "
            "÷ mean shape | " + " | ".join(schema.CATEGORIES) + " |",
            "|---|---:|---:|---|---:|" + "---:|" * len(schema.CATEGORIES)]
    for label, stem, options in lines:
        # A line may lack a seed's run (a costlier one trained for fewer seeds): its gaps
        # are given for the seeds it has, each against the first line's run of that seed.
        found = [figures.get(step_key(stem, s, options)) for s in SEEDS]
        base = [paired_base(first, s, options) for s in SEEDS]
        gap = ", ".join(f"{f['ne'] - b['ne']:+.3f}" for f, b in zip(found, base) if f) \
            if found != first else ""
        found = [f for f in found if f]
        ratio = statistics.mean(f["ne"] for f in found) / first[0]["mean_shape_ne"]
        rows.append(f"| {label} | {found[0].get('model_calls', 1)} | "
                    f"{mean_sd([f['ne'] for f in found])} | {gap} | {ratio:.3f} | " + " | ".join(
                        mean_sd([f["ne_per_category"][c] for f in found])
                        for c in schema.CATEGORIES) + " |")
    shapes = first[0]["mean_shape_per_category"]
    rows.append(f"| mean shape | | {first[0]['mean_shape_ne']:.3f} | | 1 | "
                + " | ".join(f"{shapes[c]:.3f}" for c in schema.CATEGORIES) + " |")
    return rows


if __name__ == "__main__":
    main()
