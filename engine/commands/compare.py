"""`run.py compare`: every method side by side on one category, over several seeds.

    RUNS_DIR/<category>-<method>[-<variant>][-seed<i>] for each method of the registry,
    each of its variants (regression's RLE), each name of --lines (runs trained with that
    --name: another input size, a second stage) and each seed index i < --seeds
                                   (with --train, the missing ones are trained, but --lines)
    → refuse runs that differ in data, split or preset         engine/comparison/lines.py
    → re-score each run's best checkpoint on the shared
      validation split                                          engine/comparison/scores.py
    → OUT/report.md,                                            engine/comparison/report.py
      ne_per_keypoint.png, pck.png, ne_per_stage.png,
      predictions.png                                           engine/comparison/plots.py

Every figure comes from the predictions made here, so the report states what was
measured now, next to what each run recorded while it trained (time, images/s, epochs).
With several seeds, each figure is the mean over the seeds with its standard deviation,
and the report says which gaps between methods are larger than that spread.
"""
import sys
from pathlib import Path

from data_tools import atomic
from data_tools.errors import UsageError
from engine.comparison.lines import check_comparable, find_runs, load_split, train_missing
from engine.comparison.plots import draw_figures
from engine.comparison.report import FIGURES, report_text
from engine.comparison.scores import rescore, score_baseline, summarize
from engine.plugin import models, presets
from engine.scoring import run_eval


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
