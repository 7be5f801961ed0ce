"""The picture of 16 images of the default synthetic set in the README and docs/DATA.md.

    python docs/synthetic-examples.py --out docs/synthetic-examples.jpg

Images 0-3 of each category but trousers, then of trousers, drawn as the default set
draws them (seed 0), with their keypoints: green visible, red occluded.
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from data_tools import schema, synth  # noqa: E402

TILE = 256


def tile(category, index):
    img, kps = synth.render(category, synth.image_rng(0, category, index))
    for x, y, v in kps:
        if v >= 0:
            cv2.circle(img, (int(x), int(y)), 6, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(img, (int(x), int(y)), 4, (60, 200, 60) if v == 1 else (40, 40, 230), -1,
                       cv2.LINE_AA)
    h, w = img.shape[:2]
    canvas = np.full((512, 512, 3), 255, np.uint8)        # narrower images on white
    canvas[:h, (512 - w) // 2:(512 - w) // 2 + w] = img
    return cv2.resize(canvas, (TILE, TILE), interpolation=cv2.INTER_AREA)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/synthetic-examples.jpg")
    out = Path(parser.parse_args().out)
    picks = [(c, i) for i in range(4) for c in schema.CATEGORIES][:16]
    tiles = [tile(c, i) for c, i in picks]
    grid = np.vstack([np.hstack(tiles[r * 4:(r + 1) * 4]) for r in range(4)])
    cv2.imwrite(str(out), grid, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
