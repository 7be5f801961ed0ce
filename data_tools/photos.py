"""Photos as people have them, turned into what the readers take: upright, opaque RGB.

`predict --images DIR` reads a folder of photos, and `visualize --image` one photo: mixed
sizes, grey, PNGs with an alpha channel, phone JPEGs with an EXIF orientation. The readers (OpenCV's and TensorFlow's)
letterbox any size and turn grey into RGB themselves; two things they do not do, and what
this package decides for them:

- **EXIF orientation is applied.** A phone stores a portrait photo as landscape pixels and
  a tag that says "turn me"; every viewer shows it upright, the user thinks of it upright,
  and the model was trained on upright garments. So the model sees the upright picture, and
  the keypoints (CSV and --draw) are in the upright picture's pixels: what the user sees.
  The FashionAI CSVs are different: their coordinates refer to the stored pixel grid, so
  training, evaluation and `predict --test-csv` ignore the tag (data_tools/letterbox.py).
- **Transparency is flattened onto white**, as a cut-out product photo shows on a page. (The
  readers would drop the alpha channel and show whatever colour the transparent pixels
  hold, often black.)

Such a photo is converted once into a lossless PNG in a scratch folder, which the pipeline
reads in its place; every other photo is read where it is.
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from data_tools.letterbox import read_bytes, read_image

ORIENTATION = 0x0112  # the EXIF tag; 1 is "as stored"
WHITE = (255, 255, 255)


def has_transparency(image):
    """An alpha channel, or a palette or grey image with a transparent colour."""
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def needs_conversion(image):
    """'orientation', 'transparency' or None: what a PIL image needs before the readers."""
    if image.getexif().get(ORIENTATION, 1) not in (0, 1):
        return "orientation"
    if has_transparency(image):
        return "transparency"
    return None


def upright_rgb(image):
    """The picture a viewer shows: EXIF orientation applied, alpha flattened onto white."""
    image = ImageOps.exif_transpose(image)
    if has_transparency(image):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE + (255,)),
                                     rgba).convert("RGB")
    return image.convert("RGB")


def read_photo(path):
    """One photo as uint8 (H, W, 3) RGB as a viewer shows it; ImageError, with the readers'
    reasons, for a missing, empty or undecodable file. As in `prepare`, only a photo that
    needs converting goes through PIL; any other is OpenCV's (which also scales 16 bits)."""
    try:
        with Image.open(io.BytesIO(read_bytes(path))) as image:
            if needs_conversion(image):
                return np.asarray(upright_rgb(image))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        pass  # OpenCV's reader says what is wrong with it
    return read_image(path)


def prepare(folder, names, scratch):
    """({name: the path to read instead}, {'orientation': n, 'transparency': n}) for the
    photos of `folder` that need converting; each converted one is written to `scratch`.

    A file PIL cannot open is left alone: the readers' scan reports it as unreadable.
    """
    replaced, counts = {}, {"orientation": 0, "transparency": 0}
    for n, name in enumerate(names):
        try:
            with Image.open(Path(folder) / name) as image:
                reason = needs_conversion(image)
                if reason is None:
                    continue
                converted = upright_rgb(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            continue
        target = Path(scratch) / f"{n:06d}.png"
        converted.save(target)
        replaced[name] = target.resolve()
        counts[reason] += 1
    return replaced, counts
