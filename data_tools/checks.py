"""`run.py check-data`: is a FashionAI folder usable, and what is wrong with it."""
from collections import Counter
from pathlib import Path

from data_tools import fashion_csv, schema
from data_tools.letterbox import ImageError, read_image


def find_problems(ann):
    """Every per-image problem as (image_id, what), and the sizes of the readable images."""
    problems, sizes = [], []
    # `a\\b.jpg` and `a/b.jpg` are one image (fashion_csv.same_image), as training sees it;
    # a duplicate is named by its first row's spelling.
    counts, first = Counter(), {}
    for image_id in ann.image_ids:
        counts[fashion_csv.same_image(image_id)] += 1
        first.setdefault(fashion_csv.same_image(image_id), image_id)
    problems += [(first[key], f"duplicate image id ({n} rows)")
                 for key, n in counts.items() if n > 1]
    for n, image_id in enumerate(ann.image_ids):
        try:
            height, width = read_image(ann.image_path(n)).shape[:2]
        except ImageError as e:
            problems.append((image_id, e.reason))
            continue
        sizes.append((width, height))
        own = set(schema.keypoint_indices(ann.categories[n]))
        for k, (x, y, v) in enumerate(ann.keypoints[n]):
            name = schema.KEYPOINTS[k]
            if v >= 0 and not (0 <= x < width and 0 <= y < height):
                problems.append((image_id, f"{name} ({x:g}, {y:g}) lies outside the "
                                           f"{width}x{height} image"))
            if v >= 0 and k not in own:
                problems.append((image_id, f"{name} is annotated but a "
                                           f"{ann.categories[n]} has no such keypoint"))
    return problems, sizes


def summary_lines(ann, sizes):
    lines = [f"{len(ann)} images in {ann.csv_path}"]
    for category in schema.CATEGORIES:
        rows = [n for n, c in enumerate(ann.categories) if c == category]
        if not rows:
            continue
        own = schema.keypoint_indices(category)
        v = ann.keypoints[rows][:, own, 2]
        lines.append(f"  {category:<9} {len(rows):>6} images, {len(own):>2} keypoints: "
                     f"visible {int((v == 1).sum())}, occluded {int((v == 0).sum())}, "
                     f"absent {int((v == -1).sum())}")
    if sizes:
        widths, heights = zip(*sizes)
        lines.append(f"image sizes: width {min(widths)}-{max(widths)}, "
                     f"height {min(heights)}-{max(heights)}")
    return lines


def main(data_dir, csv_path=None):
    """Print the summary and every problem; 0 when the data is clean, 2 when not."""
    csv_path = Path(csv_path) if csv_path else Path(data_dir) / "Annotations" / "train.csv"
    ann = fashion_csv.read_annotations(csv_path, data_dir=data_dir, allow_duplicates=True)
    problems, sizes = find_problems(ann)
    print("\n".join(summary_lines(ann, sizes)))
    for image_id, what in problems:
        print(f"problem: {image_id}: {what}")
    if problems:
        print(f"{len(problems)} problem(s) found")
        return 2
    print("no problems found: the data is usable")
    return 0
