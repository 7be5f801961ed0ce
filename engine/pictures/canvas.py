"""The look every picture shares and the canvas it is drawn on: tile sizes, colours and
fonts, a figure of equal square tiles placed in inches, its header and legend, and the
PNG writer (Agg, atomic, colours kept to PNG_BITS per channel).

Figures are drawn with the Agg canvas directly (`matplotlib.figure.Figure`, not pyplot),
so nothing is left open in pyplot's registry and the code runs headless whatever backend
a caller uses.
"""
import sys

import cv2
import matplotlib
import numpy as np

from data_tools import atomic

if "matplotlib.pyplot" not in sys.modules:  # switching later would close a user's figures
    matplotlib.use("Agg")
from matplotlib import patheffects  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402


TILE_IN = 3.0          # side of one tile, inches
DPI = 80               # 240 px per tile
PNG_BITS = 6           # colour bits per channel kept in the PNG (8: all)

PRED_COLOR = "#ff2bd6"   # magenta: predicted points
GT_COLOR = "#19f26b"     # green: ground truth (filled: visible, hollow: occluded)
LINE_COLOR = "#ffe600"   # yellow: ground truth -> prediction
NAME_COLOR = "white"      # keypoint names (black outline), readable on any background
NAME_FONTSIZE = 7.0
TITLE_FONTSIZE = 11.0
SUPTITLE_FONTSIZE = 13.0

_GAP_IN = 0.1            # white space between tiles (the test counts tiles by it)
_LEFT_IN = 0.3           # room for row labels
_RIGHT_IN = 0.1
_COLTITLE_IN = 0.3       # above each row of tiles (column titles on the first row)
_BOTTOM_IN = 0.1
_MIN_WIDTH_IN = 7.6      # the four-entry legend's width

THIN_STROKE = [patheffects.withStroke(linewidth=1.3, foreground="black")]


class Grid:
    """A figure of equal square tiles placed in inches: predictable size, no tight_layout."""

    def __init__(self, n_rows, n_cols, header_in, tile_in=TILE_IN):
        self.n_rows, self.n_cols, self.tile = n_rows, n_cols, tile_in
        self.header = header_in
        tiles_width = _LEFT_IN + n_cols * tile_in + (n_cols - 1) * _GAP_IN + _RIGHT_IN
        self.width = max(tiles_width, _MIN_WIDTH_IN)     # room for the title and the legend
        self.x0 = (self.width - tiles_width) / 2          # narrow grids are centred
        self.height = header_in + n_rows * (_COLTITLE_IN + tile_in) + _BOTTOM_IN
        self.fig = Figure(figsize=(self.width, self.height), dpi=DPI, facecolor="white")
        FigureCanvasAgg(self.fig)

    def ax(self, row, col):
        left = self.x0 + _LEFT_IN + col * (self.tile + _GAP_IN)
        top = self.header + _COLTITLE_IN + row * (_COLTITLE_IN + self.tile)
        rect = (left / self.width, 1.0 - (top + self.tile) / self.height,
                self.tile / self.width, self.tile / self.height)
        ax = self.fig.add_axes(rect)
        ax.set_axis_off()
        return ax

    def header_y(self, inches_from_top):
        return 1.0 - inches_from_top / self.height


def draw_header(grid, title, legend_handles):
    """Overall title, then the legend, in the space above the first row."""
    y = 0.12
    if title:
        title = str(title)
        fits = 0.95 * grid.width * 72.0 / (0.62 * max(len(title), 1))   # long titles shrink
        grid.fig.text(0.5, grid.header_y(y), title, ha="center", va="top",
                      fontsize=max(6.0, min(SUPTITLE_FONTSIZE, fits)), fontweight="bold")
        y += 0.32
    if legend_handles:
        grid.fig.legend(handles=legend_handles, loc="upper center", ncol=len(legend_handles),
                        bbox_to_anchor=(0.5, grid.header_y(y - 0.04)), frameon=False,
                        fontsize=9, handletextpad=0.4, columnspacing=1.5, borderaxespad=0.0)


def header_height(title, legend):
    return 0.1 + (0.32 if title else 0.0) + (0.3 if legend else 0.0)


def legend_handles(with_pred=True, with_gt=True):
    handles = []
    if with_pred:
        handles.append(Line2D([], [], ls="none", marker="o", ms=6, mfc=PRED_COLOR,
                              mec="white", mew=0.8, label="predicted"))
    if with_gt:
        handles += [
            Line2D([], [], ls="none", marker="o", ms=6, mfc=GT_COLOR, mec="black",
                   mew=0.8, label="ground truth (visible)"),
            Line2D([], [], ls="none", marker="o", ms=6, mfc="none", mec=GT_COLOR,
                   mew=1.5, label="ground truth (occluded)"),
        ]
    if with_pred and with_gt:
        handles.append(Line2D([], [], color=LINE_COLOR, lw=1.2, label="error (truth → prediction)"))
    return handles


def show_image(ax, rgb):
    ax.imshow(rgb, interpolation="bilinear")
    h, w = rgb.shape[:2]
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def corner_note(ax, text):
    ax.text(0.02, 0.02, text, transform=ax.transAxes, ha="left", va="bottom",
            fontsize=7.5, color="white", path_effects=THIN_STROKE, zorder=7)


def row_label(ax, label):
    label = str(label)
    if len(label) > 40:                          # keep the end of a long image id
        label = "…" + label[-39:]
    ax.text(-0.03, 0.5, label, transform=ax.transAxes, rotation=90, ha="right",
            va="center", fontsize=8, clip_on=False)


def _png_bytes(fig):
    """The figure rendered by Agg as PNG bytes, with colours kept to PNG_BITS per channel.

    Photos under colour maps compress badly; dropping the two lowest bits (invisible to
    the eye) makes a 4-image x 8-column grid ~40% smaller. PNG_BITS = 8 keeps them.
    """
    canvas = fig.canvas
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    if PNG_BITS < 8:
        shift = 8 - PNG_BITS
        top = rgb >> shift
        # bit replication: the 2^bits levels spread over 0..255 (white stays 255)
        rgb = (top << shift) | (top >> max(PNG_BITS - shift, 0))
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 4,
                            cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_FILTERED])
    if not ok:
        raise RuntimeError("OpenCV could not encode the picture as PNG")
    return buf.tobytes()


def save_figure(fig, path):
    """Write the figure as PNG atomically (data_tools.atomic); returns `path`."""
    atomic.write_bytes(path, _png_bytes(fig))  # the figure is not in pyplot's registry
    return path
