"""compare's figures: NE per keypoint, PCK curves, NE per stage, and one validation image
with every line's points; each line in its method's colour and marker, the mean shape grey."""
import numpy as np

from data_tools import letterbox, metrics, pipeline
from engine.comparison.scores import BASELINE, PCK_CURVE
from engine.pictures.canvas import GT_COLOR, save_figure
from engine.plugin import registry


BASELINE_COLOR = "#8c8c8c"


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
    save_figure(fig, path)


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
    save_figure(fig, path)


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
    save_figure(fig, path)


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
    ax.scatter(*gt[n, visible, :2].T, s=70, c=GT_COLOR, edgecolors="black",
               label="ground truth (visible)", zorder=3)
    ax.scatter(*gt[n, occluded, :2].T, s=70, facecolors="none", edgecolors=GT_COLOR,
               linewidths=1.5, label="ground truth (occluded)", zorder=3)
    for label, summary in scored.items():
        run = summary["seeds"][0]
        colour, marker, _ = style(label, summary)
        xy = run["xy"][n][own]
        ne = metrics.normalized_error(run["xy"][n:n + 1], gt[n:n + 1], [category], names)["ne"]
        ax.scatter(*xy.T, s=45, marker=marker, c=colour,
                   edgecolors="black" if summary["entry"].variant else "white",
                   label=f"{label} (NE {metrics.fmt(ne, 3, '—')} here)", zorder=4)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    ax.set_title(f"{val.image_ids[index]} (original pixels)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
