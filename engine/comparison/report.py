"""compare's report.md: the table of every line, the best line against the mean shape,
which gaps exceed the seeds' spread, each seed's figures, and what each figure means."""
import datetime
import itertools
import statistics
from pathlib import Path

import numpy as np

from data_tools import metrics
from engine.comparison.scores import BASELINE, mean_sd
from engine.plugin import registry
from engine.training import machine


FIGURES = {"ne_per_keypoint.png": "NE per keypoint", "pck.png": "PCK curves",
           "ne_per_stage.png": "NE per stage", "predictions.png": "one validation image"}
MIN_VALIDATION_IMAGES = 30  # a rule of thumb: below it one image's miss moves NE more than methods differ


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
