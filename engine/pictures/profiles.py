"""1-D distributions on a tile: a keypoint's distribution over x drawn up from the tile's
bottom edge, its distribution over y drawn in from the left edge, so that a reader sees
where along each axis the model puts the point and how sure it is (SimCC's two
classifications). A codec that gives them declares `stage_profiles` (engine/plugin/codec.py).

Heights are probabilities on one scale per tile (the tile's largest probability reaches
PROFILE_SHARE of the side): a sure keypoint is a tall narrow peak, an unsure one low and wide.
"""
import dataclasses

import numpy as np

from engine.pictures.canvas import PRED_COLOR

PROFILE_SHARE = 0.25   # of the tile's side, reached by its largest probability
CURVE_ALPHA = 0.85


@dataclasses.dataclass
class Profiles:
    """The distributions drawn on one tile: px, py (K, B) probabilities over the bins whose
    centres are the input pixels `pixels` (B,)."""
    px: np.ndarray
    py: np.ndarray
    pixels: np.ndarray

    def row(self, r):
        """Image r's distributions, of batched ones (px, py (N, K, B))."""
        return Profiles(self.px[r], self.py[r], self.pixels)


def draw_profiles(ax, size, profiles):
    """Each keypoint's x distribution along the bottom and y distribution along the left."""
    h, w = size
    px = np.asarray(profiles.px, np.float64)
    py = np.asarray(profiles.py, np.float64)
    pixels = np.asarray(profiles.pixels, np.float64)
    top = max(float(np.nanmax(px, initial=0.0)), float(np.nanmax(py, initial=0.0)), 1e-12)
    for k in range(len(px)):
        ax.plot(pixels, h - 0.5 - px[k] / top * PROFILE_SHARE * h, color=PRED_COLOR, lw=0.9,
                alpha=CURVE_ALPHA, zorder=2)
        ax.plot(-0.5 + py[k] / top * PROFILE_SHARE * w, pixels, color=PRED_COLOR, lw=0.9,
                alpha=CURVE_ALPHA, zorder=2)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
