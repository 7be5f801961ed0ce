"""What a model sees, drawn from its codec's outputs: each stage's maps where the codec gives
maps (heatmap methods), each stage's points where it gives points (regression), with their
1-D distributions along the tile's edges where it gives those (SimCC).

The codec says which by `stage_maps(outputs)` (None: no maps) and `stage_profiles(outputs)`
(None: no distributions); nothing here asks which method it holds.
"""
import numpy as np

from engine.pictures import draw
from engine.pictures.profiles import Profiles


def hide_unshown(xy, shown):
    """Keypoints (N, K, 2) with those not shown set to NaN (pictures skip them)."""
    return xy if shown is None else np.where(np.asarray(shown)[..., None], xy, np.nan)


def profiles_of(codec, outputs, shown=None, k=None):
    """The codec's 1-D distributions per stage as profiles.Profiles (px, py (N, K, B)), the
    keypoints not `shown` flat at 0; only keypoint `k` ((N, 1, B)) if given; None where
    the codec gives none."""
    stage_profiles = codec.stage_profiles(outputs)
    if stage_profiles is None:
        return None
    pixels, kept = codec.profile_pixels(), slice(None) if k is None else slice(k, k + 1)
    hide = 1.0 if shown is None else np.asarray(shown, np.float32)[..., None]
    return [Profiles((px * hide)[:, kept], (py * hide)[:, kept], pixels)
            for px, py in stage_profiles]


def draw_stages(codec, path, images, outputs, gt, names, *, title=None, stage_label="stage",
                shown=None, context=None, row_labels=None):
    """The stage-by-stage picture of a batch, written to `path` (PNG); returns `path`.

    images uint8 (N, S, S, 3); gt float32 (N, K, 3) in input pixels, or None; names (K,);
    shown: bool (N, K), the keypoints to draw (a joint model's other categories are
    hidden), or None for all; context: a second stage's whole images and boxes
    (draw.stage_grid); row_labels: one string per image. Maps: one tile per stage with its
    maps (all keypoints over the image), then the target maps (with `gt`), then the last
    stage's points. Points: one tile per stage with that stage's points.
    """
    maps = codec.stage_maps(outputs)
    if maps is None:
        stage_xy = [hide_unshown(xy, shown) for xy, _ in codec.decode_stages(outputs)]
        return draw.points_grid(path, images, stage_xy, gt, names, title=title,
                                stage_label=stage_label, context=context,
                                row_labels=row_labels,
                                stage_profiles=profiles_of(codec, outputs, shown))
    xy = hide_unshown(codec.decode(outputs)[0], shown)
    gt_maps = None
    if shown is not None:
        maps = [np.where(np.asarray(shown)[:, None, None, :], m, 0) for m in maps]
    if gt is not None:
        # A sentinel below 0 (a map with no target) is drawn as an empty map.
        gt_maps = np.stack([np.maximum(np.asarray(codec.targets(points)), 0)
                            for points in np.asarray(gt, np.float32)])
    return draw.stage_grid(path, images, maps, gt_maps, xy, gt, names, title=title,
                           stage_label=stage_label, context=context, row_labels=row_labels)


def draw_keypoint_stages(codec, path, images, outputs, gt, k, name, *, title=None,
                         stage_label="stage", row_labels=None):
    """Keypoint k through the stages of a batch (draw.keypoint_stages), written to `path`:
    each stage's point, over the keypoint's map where the codec gives maps; gt (N, K, 3) in
    input pixels or None."""
    maps = codec.stage_maps(outputs)
    stage_xy = [xy[:, k] for xy, _ in codec.decode_stages(outputs)]
    return draw.keypoint_stages(path, images, None if maps is None else [m[..., k] for m in maps],
                                stage_xy, None if gt is None else np.asarray(gt)[:, k], name,
                                title=title, stage_label=stage_label, row_labels=row_labels,
                                stage_profiles=profiles_of(codec, outputs, k=k))


def draw_keypoints(codec, path, image, outputs, names, title=None):
    """One image's last-stage maps, or 1-D distributions, one tile per keypoint with its
    decoded point, written to `path`; returns `path`, or None where the codec gives points
    alone (nothing per keypoint to show)."""
    maps, profiles = codec.stage_maps(outputs), profiles_of(codec, outputs)
    if maps is None and profiles is None:
        return None
    xy, _ = codec.decode(outputs)
    if maps is None:
        return draw.keypoint_panel(path, image, None, names, pred_xy=xy[0], title=title,
                                   profiles=profiles[-1].row(0))
    return draw.keypoint_panel(path, image, maps[-1][0], names, pred_xy=xy[0], title=title)
