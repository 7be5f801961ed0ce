"""`run.py check-data` and `run.py fit-shapes`: is a FashionAI folder usable, how its labels
look (beside another set's, with --against), and the shape model fitted to them."""
from collections import defaultdict
from pathlib import Path

import numpy as np

from data_tools import fashion_csv, label_stats, schema, shape_model
from data_tools.letterbox import ImageError, read_image

EXAMPLES = 3       # image ids shown per kind of problem


def find_problems(ann, read_images=True):
    """Every per-image problem as (image_id, kind, detail), and each row's (width, height),
    NaN where the image cannot be read (or is not looked at)."""
    problems = []
    sizes = np.full((len(ann), 2), np.nan)
    # `a\\b.jpg` and `a/b.jpg` are one image (fashion_csv.same_image), as training sees it;
    # a duplicate is named by its first row's spelling.
    rows = defaultdict(list)
    for image_id in ann.image_ids:
        rows[fashion_csv.same_image(image_id)].append(image_id)
    problems += [(ids[0], "duplicate image id", f"{len(ids)} rows")
                 for ids in rows.values() if len(ids) > 1]
    for n, image_id in enumerate(ann.image_ids):
        own = set(schema.keypoint_indices(ann.categories[n]))
        for k, (x, y, v) in enumerate(ann.keypoints[n]):
            if v >= 0 and k not in own:
                problems.append((image_id, "keypoint not of its category",
                                 f"{schema.KEYPOINTS[k]} on a {ann.categories[n]}"))
        if not read_images:
            continue
        try:
            height, width = read_image(ann.image_path(n)).shape[:2]
        except ImageError as e:
            problems.append((image_id, e.reason, ""))
            continue
        sizes[n] = width, height
        for k, (x, y, v) in enumerate(ann.keypoints[n]):
            if v >= 0 and not (0 <= x < width and 0 <= y < height):
                problems.append((image_id, "keypoint outside its image",
                                 f"{schema.KEYPOINTS[k]} ({x:g}, {y:g}) in {width}x{height}"))
    return problems, sizes


def problem_lines(problems):
    """One line per kind of problem: its count and a few examples."""
    by_kind = defaultdict(list)
    for image_id, kind, detail in problems:
        by_kind[kind].append(f"{image_id} ({detail})" if detail else image_id)
    lines = []
    for kind, where in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        more = f", and {len(where) - EXAMPLES} more" if len(where) > EXAMPLES else ""
        lines.append(f"problem: {kind}: {len(where)} row(s), e.g. "
                     f"{'; '.join(where[:EXAMPLES])}{more}")
    return lines


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
    known = sizes[np.isfinite(sizes).all(1)]
    if len(known):
        lines.append(f"image sizes: width {known[:, 0].min():g}-{known[:, 0].max():g}, "
                     f"height {known[:, 1].min():g}-{known[:, 1].max():g}")
    return lines


def longer_sides(sizes):
    """Each row's longer side; an image whose size is unknown is taken as 512x512."""
    sides = np.max(sizes, axis=1)
    return np.where(np.isfinite(sides), sides, shape_model.DEFAULT_SIDE)


def _images_folder_missing(ann):
    """Whether none of the CSV's images is on disk because its images folder is not."""
    folders = {Path(ann.image_path(n)).parent for n in range(len(ann))}
    return not any(folder.is_dir() for folder in folders)


def _read(data_dir_or_csv, csv_path=None):
    """Annotations of a folder (its Annotations/train.csv) or of a CSV."""
    path = Path(csv_path) if csv_path else Path(data_dir_or_csv)
    if path.is_dir():
        path = path / "Annotations" / "train.csv"
    data_dir = Path(data_dir_or_csv) if csv_path else None
    return fashion_csv.read_annotations(path, data_dir=data_dir, allow_duplicates=True)


def _look(ann):
    """(problems, sizes, a line when the images are not there) of one set."""
    missing = _images_folder_missing(ann)
    problems, sizes = find_problems(ann, read_images=not missing)
    note = None
    if missing:
        note = (f"the images are not on disk (no folder such as {Path(ann.image_path(0)).parent}): "
                f"only the labels are checked, and every image is taken as 512x512")
    return problems, sizes, note


def main(data_dir, csv_path=None, against=None):
    """Print the summary, the label statistics and the problems by kind; 0 when the data
    is clean, 2 when not."""
    ann = _read(data_dir, csv_path)
    other_ann = _read(against) if against else None     # a bad --against fails before any output
    problems, sizes, note = _look(ann)
    print("\n".join(summary_lines(ann, sizes)))
    stats = label_stats.dataset_stats(ann, longer_sides(sizes))
    other = None
    if other_ann is not None:
        _, other_sizes, other_note = _look(other_ann)
        other = label_stats.dataset_stats(other_ann, longer_sides(other_sizes))
        if other_note:
            print(f"{against}: {other_note}")
    print()
    print("\n".join(label_stats.table_lines(stats, other, (str(data_dir), str(against)))))
    print()
    if note:
        print(f"problem: {note}")
    for line in problem_lines(problems):
        print(line)
    if problems or note:
        print(f"{len(problems) + bool(note)} problem(s) found")
        return 2
    print("no problems found: the data is usable")
    return 0


def fit_shapes(csv_path, data_dir, out):
    """Fit the shape model to a CSV's labels and write it; each image's size from its
    header when `data_dir` has the images, 512x512 otherwise."""
    from data_tools import letterbox
    ann = fashion_csv.read_annotations(csv_path, data_dir=data_dir, allow_duplicates=True)
    sizes = letterbox.image_sizes(ann, unreadable_ok=True) if data_dir else \
        np.full((len(ann), 2), np.nan)
    model = shape_model.fit(ann, longer_sides(sizes))
    shape_model.save(model, out)
    for category, m in model["categories"].items():
        vis = m["visibility"]
        print(f"  {category:<9} {m['rows']:>6} rows: {len(m['modes'])} modes, "
              f"{len(vis['absent_patterns'])} absent and {len(vis['occluded_patterns'])} "
              f"occluded patterns")
    print(f"wrote the shape model of {len(model['categories'])} categories to {out}; "
          f"use it with `run.py synth --shapes {out}`")
    return 0
