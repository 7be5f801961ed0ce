"""Keypoints of a set of images, each predicted by the run(s) of its category: what
`run.py predict` writes as a submission and `run.py evaluate --run --gt` scores.

    test.csv rows (or a folder's images) → each row to the run(s) of its category, else to
    a run trained on `all` → test_time.load_ensemble (one or two stages, the views merged)
    → original pixels, moved onto the image

Rows that no run predicts, and images that cannot be read, are left out and counted.
"""
from pathlib import Path

import numpy as np

from data_tools import fashion_csv, letterbox, pipeline, progress, schema
from data_tools.errors import DataError, UsageError
from engine.inference import test_time
from engine.runs.run_dir import RunDir


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
