"""Property-based tests of the CSV cell parser and the annotation reader (issue 6, part 4).

Whatever a cell or a row holds, the reader either accepts it with sane numbers or raises
DataError naming the row; nothing else escapes (no ValueError, IndexError, ...).
"""
import csv
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_tools import fashion_csv, schema
from data_tools.errors import DataError

SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)
ROW = re.compile(r"row \d+")

# Text without lone surrogates (which no UTF-8 file can hold).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
NUMBERISH = st.lists(st.sampled_from([*"0123456789_-.eE+ ", "nan", "inf", "-inf", "1e400",
                                      "_", "-1", "0", "1"]),
                     max_size=12).map("".join)
NUMBER = st.one_of(st.integers(-3, 3000).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["nan", "inf", "-0", "1e400", "", " 5", "0x10", "1_0"]))
TRIPLE = st.tuples(NUMBER, NUMBER, st.sampled_from(["-1", "0", "1", "2", "0.5", "-0", "nan",
                                                    "1.0", ""])).map("_".join)
CELL = st.one_of(TEXT, NUMBERISH, TRIPLE,
                 st.sampled_from(["-1_-1_-1", "10_20_1", "5_7_0", "3_4_-1"]))


def check_cell(text):
    try:
        x, y, v = fashion_csv.parse_cell(text, "f.csv", 7, "crotch")
    except DataError as e:
        message = str(e)
        assert "f.csv, row 7: column crotch" in message
        assert "\n" not in message
        return
    for value in (x, y, v):
        assert isinstance(value, float) and math.isfinite(value)
    assert v in (-1.0, 0.0, 1.0)
    if v < 0:
        assert (x, y, v) == (-1.0, -1.0, -1.0)
    else:
        assert x >= 0 and y >= 0


@SETTINGS
@given(TEXT)
def test_parse_cell_any_text(text):
    check_cell(text)


@SETTINGS
@given(NUMBERISH)
def test_parse_cell_number_like_text(text):
    check_cell(text)


@SETTINGS
@given(TRIPLE)
def test_parse_cell_triples(text):
    check_cell(text)


@pytest.mark.parametrize("text, expected", [
    ("10_20_1", (10.0, 20.0, 1.0)), ("3.5_0_0", (3.5, 0.0, 0.0)),
    ("-1_-1_-1", (-1.0, -1.0, -1.0)), ("7_8_-1", (-1.0, -1.0, -1.0)),
])
def test_parse_cell_accepts(text, expected):
    assert fashion_csv.parse_cell(text) == expected


@pytest.mark.parametrize("text", ["nan_1_1", "1_inf_1", "1e400_1_1", "1_1_nan", "1_1_2",
                                  "-5_1_1", "1_2", "1_2_3_4", "", "a_b_c"])
def test_parse_cell_refuses(text):
    with pytest.raises(DataError, match="f.csv, row 3"):
        fashion_csv.parse_cell(text, "f.csv", 3)


IMAGE_ID = st.one_of(st.sampled_from(["Images/dress/a.jpg", "Images/skirt/b.jpg", "a.jpg",
                                      "../x.jpg", "../../etc/passwd", "/etc/passwd", "",
                                      " a.jpg", "Images/../a.jpg", "a/../../b.jpg", ".",
                                      "..", "a\0b.jpg"]),
                     TEXT)
CATEGORY = st.one_of(st.sampled_from([*schema.CATEGORIES, "hat", "", "Dress"]), TEXT)
ROW_CELLS = st.tuples(IMAGE_ID, CATEGORY,
                      st.lists(CELL, min_size=20, max_size=26)).map(
                          lambda t: [t[0], t[1], *t[2]])
VALID_ROW = st.tuples(st.integers(0, 10**6), st.sampled_from(schema.CATEGORIES)).map(
    lambda t: [f"Images/{t[1]}/{t[0]}.jpg", t[1], *(["10_20_1"] * schema.NUM_KEYPOINTS)])


def read_written(rows):
    """Write header + rows to a fresh folder's Annotations/train.csv and read it back."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Annotations" / "train.csv"
        path.parent.mkdir()
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([fashion_csv.HEADER, *rows])
        try:
            return fashion_csv.read_annotations(path), None
        except DataError as e:
            return None, str(e)


@SETTINGS
@given(st.lists(st.one_of(ROW_CELLS, VALID_ROW), min_size=1, max_size=4))
def test_read_annotations_random_rows(rows):
    ann, error = read_written(rows)
    if error is not None:
        assert "train.csv" in error
        assert ROW.search(error) or "no rows" in error, error
        return
    assert len(ann) == len(ann.image_ids) == len(ann.categories) <= len(rows)
    assert set(ann.categories) <= set(schema.CATEGORIES)
    assert np.isfinite(ann.keypoints).all()
    assert set(np.unique(ann.keypoints[..., 2])) <= {-1.0, 0.0, 1.0}


@SETTINGS
@given(st.lists(VALID_ROW, min_size=1, max_size=3, unique_by=lambda r: r[0]),
       st.integers(0, 3), CELL)
def test_a_bad_cell_is_named_by_its_row(rows, blank_lines, cell):
    """A faulty cell in the last row: the error names that row as a spreadsheet numbers it,
    blank lines before it included."""
    bad = [*rows[-1][:2], cell, *rows[-1][3:]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Annotations" / "train.csv"
        path.parent.mkdir()
        lines = [",".join(fashion_csv.HEADER), *(",".join(r) for r in rows[:-1]),
                 *([""] * blank_lines)]
        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            csv.writer(f, lineterminator="\n").writerow(bad)
        try:
            fashion_csv.read_annotations(path)
        except DataError as e:
            assert f"row {len(lines) + 1}: column {fashion_csv.HEADER[2]}" in str(e), str(e)
        else:
            fashion_csv.parse_cell(cell)  # accepted by the reader, so by the parser too
