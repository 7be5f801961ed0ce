"""`run.py predict`: keypoints of new images from trained runs, as a FashionAI submission.

    test.csv rows (or a folder of images) → each row to the run(s) of its category, else
    to a run trained on `all` → tf.data (letterbox) → engine/inference/test_time.py (the model, and
    with --flip, --scales or several runs of one category, their views merged; a second
    stage's first stage first, then the crops) → original pixels → SUB.csv

The submission has `x_y_1` for the category's keypoints in the original image's pixels
(whole pixels, as fashion_csv.format_cell writes them) and `-1_-1_-1` for the others.
Rows that no run predicts, and images that cannot be read, are left out and counted.
Photos of --images are read as a viewer shows them (EXIF orientation applied, transparency
on white; data_tools/photos.py), test.csv's images as stored, as FashionAI annotates them.
"""
import tempfile
from pathlib import Path

import numpy as np

from data_tools import fashion_csv, letterbox, photos, pipeline, progress, schema
from data_tools.errors import DataError, UsageError
from engine.inference import test_time
from engine.pictures import draw
from engine.runs.run_dir import RunDir

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# --- runs -----------------------------------------------------------------------------
def read_runs(paths):
    """{category: (run folder, ...)} of the given runs, checked before any model is built:
    several runs of one category are an ensemble (engine/inference/test_time.py)."""
    runs = {}
    for path in paths:
        run = RunDir(path)
        category = run.read_config()["category"]
        if not (run.best_weights.is_file() or run.last_weights.is_file()):
            raise UsageError(f"{run.path} has no checkpoint ({run.best_weights.name} or "
                             f"{run.last_weights.name} in {run.checkpoints})")
        runs[category] = (*runs.get(category, ()), run.path)
    return runs


def run_for(category, runs):
    """The run that predicts a category: its own run wins over a run trained on `all`."""
    return runs.get(category, runs.get("all"))


# --- the images to predict --------------------------------------------------------------
def from_test_csv(csv_path, data_dir, category):
    """(data folder, image ids, categories) of a test.csv, optionally one category's rows.

    Image ids are relative to the CSV's folder (DIR of DIR/Annotations/x.csv) unless
    --data-dir says otherwise;
    read_test_list refuses ids that resolve outside it.
    """
    data_dir = Path(data_dir) if data_dir else fashion_csv.default_data_dir(csv_path)
    ids, categories = fashion_csv.read_test_list(csv_path, data_dir)
    if category:
        rows = [n for n, c in enumerate(categories) if c == category]
        if not rows:
            raise DataError(f"no image of category {category}", csv_path)
        ids, categories = [ids[n] for n in rows], [categories[n] for n in rows]
    return data_dir, ids, categories


def from_folder(folder, category, runs):
    """(folder, image file names, categories) of every image in a folder, sorted.

    A folder has no category column: --category gives it, else the single run's own.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a folder", folder)
    if category is None:
        if len(runs) > 1:
            raise UsageError("--images with several --run needs --category to say which "
                             "category the images are")
        category = next(iter(runs))
        if category == "all":
            raise UsageError("--images with a run trained on all categories needs "
                             "--category to say which category the images are")
    ids = sorted(p.name for p in folder.iterdir()
                 if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    # A backslash in a file name (possible outside Windows) would read as a folder
    # separator, as in a CSV's ids (fashion_csv.id_path): such a file is not read.
    odd = [name for name in ids if "\\" in name]
    if odd:
        print(f"left out {len(odd)} image(s) whose file name holds a backslash, which this "
              f"package reads as a folder separator, first {odd[0]!r}", flush=True)
        ids = [name for name in ids if "\\" not in name]
    if not ids:
        raise DataError(f"no {'/'.join(IMAGE_SUFFIXES)} images in this folder", folder)
    return folder, ids, [category] * len(ids)


def annotations(data_dir, ids, categories, source):
    """An Annotations of the images with every keypoint unknown, for the pipeline."""
    unknown = np.full((len(ids), schema.NUM_KEYPOINTS, 3), -1.0, np.float32)
    return fashion_csv.Annotations(Path(data_dir), Path(source), list(ids), list(categories),
                                   unknown)


def drop_unpredictable(ann, runs, source):
    """The rows some run predicts; says which categories are left out, and refuses none."""
    left_out = [c for c in ann.categories if run_for(c, runs) is None]
    if len(left_out) == len(ann):
        raise UsageError(f"no --run predicts any image of {source}: its categories are "
                         f"{', '.join(sorted(set(left_out)))}, the runs' "
                         f"{', '.join(sorted(runs))}")
    if left_out:
        print(f"left out {len(left_out)} image(s) of {', '.join(sorted(set(left_out)))}: "
              f"no --run for their category", flush=True)
    return ann.select(n for n, c in enumerate(ann.categories) if run_for(c, runs) is not None)


def drop_unreadable(ann):
    """The rows whose image can be read; the others are counted and the first is named."""
    faults = pipeline.scan_images(ann)
    if len(faults) == len(ann):
        image_id, reason = faults[0]
        raise DataError(f"none of the {len(ann)} image(s) can be read from {ann.data_dir}, "
                        f"first {image_id}: {reason}", ann.csv_path)
    if faults:
        image_id, reason = faults[0]
        print(f"left out {len(faults)} unreadable or missing image(s), first {image_id}: "
              f"{reason}", flush=True)
    bad = {image_id for image_id, _ in faults}
    return ann.select(n for n, image_id in enumerate(ann.image_ids) if image_id not in bad)


# --- prediction -----------------------------------------------------------------------------
def predict_run(ensemble, ann, batch_size, bar):
    """One category's runs (test_time.load_ensemble's: one or two stages) over the images
    of `ann`: (N, K, 2) keypoints in original pixels (NaN for an image the pipeline dropped)."""
    prediction = ensemble.predict(ann, batch_size, progress=bar.update)
    xy = np.full((len(ann), len(ensemble.names), 2), np.nan, np.float32)
    xy[prediction["indices"]] = prediction["stage_xy"][-1]
    return xy


def predict_all(ann, runs, batch_size, scales=(1.0,), flip=False, decode=None):
    """(N, 24, 2) keypoints in original pixels of every image, each by its category's
    run(s); only the columns of the image's own category are meaningful."""
    xy = np.full((len(ann), schema.NUM_KEYPOINTS, 2), np.nan, np.float32)
    chosen = [run_for(c, runs) for c in ann.categories]
    # Every run's checkpoint is loaded (and a swapped one refused) before any image is
    # predicted, so a bad last run neither wastes the others' work nor cuts a progress bar.
    ensembles = {paths: test_time.load_ensemble(paths, scales, flip, decode)
                 for paths in dict.fromkeys(chosen)}
    reads = sum(e.passes * chosen.count(paths) for paths, e in ensembles.items())  # 2 for two stages
    with progress.bar(reads, "predict") as bar:
        for paths, ensemble in ensembles.items():
            rows = np.array([n for n, c in enumerate(chosen) if c == paths])
            points = predict_run(ensemble, ann.select(rows), batch_size, bar)
            xy[np.ix_(rows, [schema.INDEX[n] for n in ensemble.names])] = points
    return xy


def predict_rows(ann, runs, batch_size, scales=(1.0,), flip=False, decode=None, source=None):
    """(the rows predicted, their (N, 24, 2) keypoints in original pixels, on the image):
    the rows of a category no run predicts, and images that cannot be read, are left out
    and counted."""
    ann = drop_unreadable(drop_unpredictable(ann, runs, source or ann.csv_path))
    xy = predict_all(ann, runs, batch_size, scales, flip, decode)
    done = np.flatnonzero(~np.isnan(xy).all(axis=(1, 2)))  # rows the pipeline did not drop
    if len(done) < len(ann):
        print(f"left out {len(ann) - len(done)} image(s) that failed to load", flush=True)
    ann = ann.select(done)
    return ann, keep_on_image(xy[done], letterbox.image_sizes(ann))


def keep_on_image(xy, sizes):
    """Points moved onto their image: a point predicted in the letterbox's padding lies off
    the picture, and a FashionAI cell holds no negative coordinate."""
    return np.clip(xy, 0, sizes[:, None, :] - 1)


# --- output ---------------------------------------------------------------------------------
def pictures_dir(out):
    """Where --draw puts its PNGs: SUB_pictures/ next to SUB.csv."""
    out = Path(out)
    return out.with_name(f"{out.stem}_pictures")


def draw_submission(folder, ann, xy, ids):
    """One PNG per image: the image (as a viewer shows it) with its category's predicted
    keypoints, named after the image's id in `ids`."""
    for n, image_id in enumerate(progress.wrap(ids, len(ids), "draw")):
        names = schema.keypoint_names(ann.categories[n])
        points = xy[n, schema.keypoint_indices(ann.categories[n])]
        image = letterbox.read_image(ann.image_path(n))
        draw.points_grid(folder / Path(fashion_csv.id_path(image_id)).with_suffix(".png"),
                             image, [points[None]],
                             None, names, title=f"{ann.categories[n]} · {image_id}",
                             stage_label="prediction")


def read_folder(args, runs, scratch):
    """(Annotations to read, {id read: the photo's own name}) of --images: the photos that
    need it are read from upright, opaque copies in `scratch` (data_tools/photos.py)."""
    folder, names, categories = from_folder(args.images, args.category, runs)
    replaced, counts = photos.prepare(folder, names, scratch)
    said = [f"{n} {what}" for what, n in (("with an EXIF orientation, predicted upright",
                                          counts["orientation"]),
                                         ("with transparency, flattened onto white",
                                          counts["transparency"])) if n]
    if said:
        print(f"photos: {'; '.join(said)} (keypoints are in the pixels a viewer shows)",
              flush=True)
    read_ids = [str(replaced.get(name, name)) for name in names]
    return (annotations(folder, read_ids, categories, args.images),
            {str(path): name for name, path in replaced.items()})


def main(args):
    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.images and args.data_dir:
        raise UsageError("--data-dir goes with --test-csv; --images names the folder itself")
    runs = read_runs(args.run)
    with tempfile.TemporaryDirectory(prefix="fashion-photos-") as scratch:
        if args.images:
            source = args.images
            ann, own_name = read_folder(args, runs, scratch)
        else:
            source, own_name = args.test_csv, {}
            ann = annotations(*from_test_csv(args.test_csv, args.data_dir, args.category),
                              source)
        ann, xy = predict_rows(ann, runs, args.batch_size, args.scales, args.flip,
                               args.decode, source)
        names = [own_name.get(image_id, image_id) for image_id in ann.image_ids]
        fashion_csv.write_submission(args.out, names, ann.categories, xy)
        if args.draw:
            folder = pictures_dir(args.out)
            draw_submission(folder, ann, xy, names)
            print(f"wrote {len(ann)} picture(s) to {folder}")
    print(f"wrote {len(ann)} rows to {args.out}")
    return 0
