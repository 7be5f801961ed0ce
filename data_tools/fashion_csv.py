"""Read and write the FashionAI CSV format.

`Annotations/train.csv`: image_id,image_category,<24 cells "x_y_v">. The reader
validates every row and raises `DataError` naming the file, the row (1-based,
counting the header as row 1, as a spreadsheet shows it) and the problem.
"""
import csv
import dataclasses
import io
import os
from pathlib import Path, PureWindowsPath

import numpy as np

from data_tools import atomic, schema
from data_tools.errors import DataError

HEADER = ["image_id", "image_category", *schema.KEYPOINTS]
ABSENT = "-1_-1_-1"


@dataclasses.dataclass
class Annotations:
    """Images of one CSV: ids, categories and keypoints (N, 24, 3) as x, y, v."""

    data_dir: Path
    csv_path: Path
    image_ids: list
    categories: list
    keypoints: np.ndarray  # float32 (N, 24, 3); absent points are (-1, -1, -1)

    def __len__(self):
        return len(self.image_ids)

    def image_path(self, i):
        return image_file(self.data_dir, self.image_ids[i])

    def select(self, rows):
        rows = list(rows)
        return Annotations(self.data_dir, self.csv_path,
                           [self.image_ids[i] for i in rows],
                           [self.categories[i] for i in rows],
                           self.keypoints[rows] if rows else self.keypoints[:0])

    def of_category(self, category):
        """The images of one category, or all of them for the joint model ('all')."""
        if category == "all":
            return self
        return self.select(i for i, c in enumerate(self.categories) if c == category)


def parse_cell(text, path=None, row=None, column=None, prediction=False):
    """'x_y_v' → (x, y, v) floats; DataError naming the row for anything else.

    prediction: the cell is a model's guess, not an annotation: a present point with a
    negative coordinate is read as it is (it is scored as the miss it is) instead of
    refused as an annotation error.
    """
    where = f"column {column}: " if column else ""
    parts = str(text).strip().split("_")
    if len(parts) != 3:
        raise DataError(f"{where}cell {text!r} is not of the form x_y_v", path, row)
    try:
        x, y, v = (float(p) for p in parts)
    except ValueError:
        raise DataError(f"{where}cell {text!r} is not of the form x_y_v", path, row) from None
    if not all(np.isfinite([x, y, v])):
        raise DataError(f"{where}cell {text!r} has a non-finite number", path, row)
    if v not in (-1.0, 0.0, 1.0):
        raise DataError(f"{where}cell {text!r}: visibility must be -1, 0 or 1", path, row)
    if v >= 0 and (x < 0 or y < 0) and not prediction:
        raise DataError(f"{where}cell {text!r}: a present keypoint has a negative coordinate",
                        path, row)
    if v < 0:
        return -1.0, -1.0, -1.0
    return x, y, v


def id_path(image_id):
    """An image id as a relative path: a CSV written on Windows separates folders with
    backslashes (`Images\\blouse\\x.jpg`), which mean the same as forward slashes here.
    The id itself is kept as written (a submission echoes test.csv's ids)."""
    return image_id.replace("\\", "/")


def image_file(data_dir, image_id):
    """Where an image id's file is: the id read as a relative path inside data_dir."""
    return Path(data_dir) / id_path(image_id)


def same_image(image_id):
    """The key two spellings of one image id share (`a\\b.jpg` and `a/b.jpg`)."""
    return os.path.normpath(id_path(image_id))


def safe_image_path(data_dir, image_id, path=None, row=None):
    """Resolve an image id inside data_dir; refuse ids that point outside it.

    The check is on the id itself (absolute, or climbing out with '..'), not on where
    symlinks lead: a data folder whose Images/ is a symlink to another disk is usable,
    while a CSV row `../../etc/passwd` is refused whatever the folder holds.
    """
    if not image_id or image_id.strip() != image_id:
        raise DataError(f"image id {image_id!r} is empty or has surrounding spaces", path, row)
    if any(ord(c) < 32 or ord(c) == 127 for c in image_id):
        raise DataError(f"image id {image_id!r} contains a control character", path, row)
    root = Path(data_dir).resolve()
    relative = os.path.normpath(id_path(image_id))  # an id ..\..\x climbs out as ../../x does
    # Absolute in either system's sense: /x, \x, C:\x, C:x, \\server\share\x.
    if (id_path(image_id).startswith("/") or PureWindowsPath(image_id).anchor
            or PureWindowsPath(image_id).drive or relative == os.pardir
            or relative.startswith(os.pardir + os.sep)):
        raise DataError(f"image id {image_id!r} resolves outside the data folder {root}",
                        path, row)
    return root / relative


def _read_rows(csv_path):
    """(row number, cells) of each non-blank row of a CSV, with a clear error for an
    unreadable file. Row numbers count every record, blank ones too (header = 1), so an
    error names the row a spreadsheet shows even after a blank line."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError("file not found", csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"not a readable CSV ({e})", csv_path) from None
    rows = [(n, r) for n, r in enumerate(rows, 1) if any(cell.strip() for cell in r)]
    if not rows:
        raise DataError("the file is empty (no header)", csv_path)
    return rows


def _check_header(header, required, csv_path, row=1):
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", csv_path, row)
    return {name: header.index(name) for name in required}


def _check_category(category, csv_path, row):
    if category not in schema.CATEGORIES:
        raise DataError(f"unknown category {category!r} (expected one of "
                        f"{', '.join(schema.CATEGORIES)})", csv_path, row)


def default_data_dir(csv_path):
    """The folder a CSV's image ids are relative to, as the FashionAI downloads lay it out:
    DIR of DIR/Annotations/train.csv, else the CSV's own folder (DIR/test.csv)."""
    folder = Path(csv_path).parent
    return folder.parent if folder.name == "Annotations" else folder


def read_annotations(csv_path, data_dir=None, allow_duplicates=False, predictions=False):
    """Read and validate a FashionAI annotation CSV (train.csv or test_gt.csv).

    data_dir defaults to default_data_dir (DIR/Annotations/train.csv → DIR).
    A repeated image id (in either spelling, see `same_image`) is an error unless
    allow_duplicates (check-data lists them). predictions: the CSV is a submission, whose
    points may lie off their image (parse_cell).
    """
    csv_path = Path(csv_path)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir(csv_path)
    (header_row, header), *rows = _read_rows(csv_path)
    columns = _check_header(header, HEADER, csv_path, header_row)
    if not rows:
        raise DataError("the file has a header but no rows", csv_path)
    ids, categories = [], []
    keypoints = np.full((len(rows), schema.NUM_KEYPOINTS, 3), -1.0, np.float32)
    seen = {}
    for n, (row, cells) in enumerate(rows):
        if len(cells) < len(header):
            raise DataError(f"has {len(cells)} cells, the header has {len(header)}",
                            csv_path, row)
        image_id = cells[columns["image_id"]]
        category = cells[columns["image_category"]]
        safe_image_path(data_dir, image_id, csv_path, row)
        _check_category(category, csv_path, row)
        key = same_image(image_id)
        if key in seen and not allow_duplicates:
            raise DataError(f"duplicate image id {image_id!r} (first on row {seen[key]})",
                            csv_path, row)
        seen.setdefault(key, row)
        for k, name in enumerate(schema.KEYPOINTS):
            keypoints[n, k] = parse_cell(cells[columns[name]], csv_path, row, name,
                                         prediction=predictions)
        ids.append(image_id)
        categories.append(category)
    return Annotations(data_dir, csv_path, ids, categories, keypoints)


def read_test_list(csv_path, data_dir=None):
    """Read test.csv (image_id,image_category): the images to predict."""
    csv_path = Path(csv_path)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir(csv_path)
    (header_row, header), *rows = _read_rows(csv_path)
    columns = _check_header(header, HEADER[:2], csv_path, header_row)
    ids, categories = [], []
    for row, cells in rows:
        if len(cells) <= max(columns.values()):
            raise DataError(f"has {len(cells)} cells: needs image_id and image_category",
                            csv_path, row)
        image_id, category = cells[columns["image_id"]], cells[columns["image_category"]]
        safe_image_path(data_dir, image_id, csv_path, row)
        _check_category(category, csv_path, row)
        ids.append(image_id)
        categories.append(category)
    if not ids:
        raise DataError("the file has a header but no rows", csv_path)
    return ids, categories


def format_cell(x, y, v):
    if v < 0:
        return ABSENT
    return f"{int(round(float(x)))}_{int(round(float(y)))}_{int(v)}"


def csv_text(rows):
    """Rows (lists of cells) as CSV text."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def format_rows(image_ids, categories, keypoints):
    """CSV text in the FashionAI format. keypoints: (N, 24, 3) x, y, v."""
    return csv_text([HEADER] + [[image_id, category, *(format_cell(*p) for p in points)]
                                for image_id, category, points
                                in zip(image_ids, categories, keypoints)])


def write_annotations(path, image_ids, categories, keypoints):
    atomic.write_text(path, format_rows(image_ids, categories, keypoints))


def write_submission(path, image_ids, categories, xy):
    """A submission: `x_y_1` for each category's keypoints, `-1_-1_-1` for the others.

    xy: (N, 24, 2) predicted points in original image pixels (other columns ignored).
    """
    points = np.full((len(image_ids), schema.NUM_KEYPOINTS, 3), -1.0, np.float32)
    for n, category in enumerate(categories):
        idx = schema.keypoint_indices(category)
        points[n, idx, :2] = np.asarray(xy)[n, idx]
        points[n, idx, 2] = 1
    write_annotations(path, image_ids, categories, points)
