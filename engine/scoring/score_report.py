"""How a score reads: the lines `evaluate` and training print, and its JSON file."""
import json

from data_tools import atomic, metrics


def _fmt(value):
    return metrics.fmt(value, missing="n/a")


def report_lines(result):
    lines = [f"NE {_fmt(result['ne'])} over {result['points']} visible keypoints in "
             f"{result['images']} images ({result['skipped_images']} images skipped: "
             f"no normalising distance)"]
    if result.get("decoder"):
        lines[0] += f", decoded with {result['decoder']} (metrics.json keeps the run's own decoder)"
    if result.get("answers"):
        runs = "; ".join(f"{c} {m}" for c, m in result["methods"].items())
        lines.append(f"scored on {result['answers']}: {runs}; test time: {result['test_time']}")
    if result.get("views"):
        rate = (f"{result['images_per_s']:.1f} images/s after the first batch"
                if result.get("images_per_s") else "one batch, not timed")
        lines.append(f"test time: {result['views']}; {result['model_calls']} model call(s) "
                     f"per image, {rate}")
    lines += two_stage_lines(result)
    if result.get("ne_per_stage"):
        lines.append("per stage: " + "  ".join(_fmt(v) for v in result["ne_per_stage"]))
    if result.get("mean_shape_ne") is not None:
        lines.append(f"mean-shape baseline NE {_fmt(result['mean_shape_ne'])}")
    shapes = result.get("mean_shape_per_category") or {}
    lines.append("per category: " + "  ".join(
        f"{c} {_fmt(v)}" + (f" (mean shape {_fmt(shapes[c])})" if c in shapes else "")
        for c, v in result["ne_per_category"].items()))
    if result.get("left_out"):
        lines.append("left out (no prediction of their category): " + ", ".join(
            f"{c} {n} images" for c, n in result["left_out"].items()))
    lines.append("per keypoint:")
    lines += [f"  {name:<18} {_fmt(v)}" for name, v in result["ne_per_keypoint"].items()]
    if result.get("pck"):
        lines.append("PCK: " + "  ".join(f"@{t} {_fmt(v)}" for t, v in result["pck"].items()))
    return lines


def two_stage_lines(result):
    """A second stage's figures: its first stage, its boxes, and the NE with ground-truth
    boxes (what a perfect first stage would give)."""
    two = result.get("two_stage")
    if not two:
        return []
    first = two["first_stage"]
    inside = first["visible_points_in_box"]
    share = "n/a" if inside is None else f"{100 * inside:.1f}%"
    return [f"first stage {first['run']} ({first['arch']}, {first['input_size']} px): its own "
            f"NE {_fmt(first['ne'])}; {first['boxes_clipped']} box(es) clipped to their image, "
            f"{share} of visible points inside the boxes",
            f"its boxes against the ground truth's: side ×{first['box_side_ratio'][1]:.3f} "
            f"(10th–90th percentile {first['box_side_ratio'][0]:.3f}–"
            f"{first['box_side_ratio'][2]:.3f}), centre {first['box_shift'][0]:.3f} of the side "
            f"off (90th percentile {first['box_shift'][1]:.3f}); "
            f"{100 * first['boxes_within_jitter']:.0f}% within the training jitter",
            f"with ground-truth boxes instead: NE {_fmt(two['gt_boxes']['ne'])}"]


def write_json(path, result):
    atomic.write_text(path, json.dumps(result, indent=2) + "\n")
