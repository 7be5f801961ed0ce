"""`run.py predict`: keypoints of new images from trained runs, as a FashionAI submission.

    test.csv rows (or a folder of images) → engine/inference/submission.py (each row by
    the run(s) of its category, with --flip, --scales, a second stage's crops) → SUB.csv

The submission has `x_y_1` for the category's keypoints in the original image's pixels
(whole pixels, as fashion_csv.format_cell writes them) and `-1_-1_-1` for the others.
Rows that no run predicts, and images that cannot be read, are left out and counted.
Photos of --images are read as a viewer shows them (EXIF orientation applied, transparency
on white; data_tools/photos.py), test.csv's images as stored, as FashionAI annotates them.
"""
import tempfile
from pathlib import Path

from data_tools import fashion_csv, letterbox, photos, progress, schema
from data_tools.errors import DataError, UsageError
from engine.inference import submission
from engine.pictures import draw

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# --- the images to predict --------------------------------------------------------------
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
    return (submission.annotations(folder, read_ids, categories, args.images),
            {str(path): name for name, path in replaced.items()})


def main(args):
    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.images and args.data_dir:
        raise UsageError("--data-dir goes with --test-csv; --images names the folder itself")
    runs = submission.read_runs(args.run)
    with tempfile.TemporaryDirectory(prefix="fashion-photos-") as scratch:
        if args.images:
            source = args.images
            ann, own_name = read_folder(args, runs, scratch)
        else:
            source, own_name = args.test_csv, {}
            ann = submission.annotations(
                *submission.from_test_csv(args.test_csv, args.data_dir, args.category), source)
        ann, xy = submission.predict_rows(ann, runs, args.batch_size, args.scales, args.flip,
                                          args.decode, source)
        names = [own_name.get(image_id, image_id) for image_id in ann.image_ids]
        fashion_csv.write_submission(args.out, names, ann.categories, xy)
        if args.draw:
            folder = pictures_dir(args.out)
            draw_submission(folder, ann, xy, names)
            print(f"wrote {len(ann)} picture(s) to {folder}")
    print(f"wrote {len(ann)} rows to {args.out}")
    return 0
