"""Maps over images: several keypoints' maps combined into one, and a map laid over its
image in a colour map at the image's size."""
import cv2
import numpy as np


_EPS = 1e-12


def combine_maps(maps):
    """All keypoints' maps as one (M, M) display map in [0, 1].

    Each map is clipped at 0 and divided by its own peak, then the maximum over
    keypoints is taken, so a softmax map (sums to 1, peak maybe 0.05) and a peak-1
    Gaussian both show at full strength. An all-zero map (an absent keypoint's
    target) stays zero. NaN and inf count as 0. maps: (M, M, K) or (M, M).
    """
    m = np.asarray(maps, dtype=np.float32)
    if m.ndim == 2:
        m = m[..., None]
    if m.ndim != 3:
        raise ValueError(f"combine_maps: expected maps of shape (M, M, K), got {m.shape}")
    if m.shape[-1] == 0:
        return np.zeros(m.shape[:2], np.float32)
    m = np.maximum(np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    peak = m.max(axis=(0, 1), keepdims=True)
    norm = np.divide(m, peak, out=np.zeros_like(m), where=peak > _EPS)
    return np.clip(norm.max(axis=-1), 0.0, 1.0)


def normalise_map(heat):
    """One map clipped at 0 and scaled to its own peak (zeros if it has none)."""
    return combine_maps(np.asarray(heat, np.float32)[..., None])


def overlay(image, heat, alpha=0.65, colormap=cv2.COLORMAP_JET):
    """`heat` (M, M) in [0, 1] upsampled to the image and blended over it as a colour map.

    Upsampling is cv2.resize INTER_LINEAR (cell i covers pixels [i·stride, (i+1)·stride)).
    The blend weight grows with the heat from 0 (alpha·min(1, 2·heat)): where a map is
    zero the photo shows as it is, not under a dark blue veil, and half the peak already
    shows at full strength. A (M, M, K) stack is combined first with `combine_maps`.
    Returns uint8 with the image's shape (S, S, 3).
    """
    img = as_rgb_uint8(image)
    h, w = img.shape[:2]
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim == 3:
        heat = combine_maps(heat)
    if heat.ndim != 2:
        raise ValueError(f"overlay: expected a (M, M) map, got {heat.shape}")
    heat = np.clip(np.nan_to_num(heat, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    up = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    up = np.clip(up, 0.0, 1.0)
    colour = cv2.applyColorMap(np.round(up * 255).astype(np.uint8), colormap)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    a = (alpha * np.minimum(1.0, 2.0 * up))[..., None]
    out = img.astype(np.float32) * (1.0 - a) + colour * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def as_rgb_uint8(image):
    """uint8 RGB (H, W, 3) from uint8/float, grey or RGB input.

    Float images: [0, 1] is scaled by 255, [-1, 1] (min < 0) is mapped to [0, 255],
    anything else is taken as 0..255 and clipped.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (S, S, 3) RGB image, got {np.shape(image)}")
    img = img[..., :3]
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    lo, hi = float(img.min(initial=0.0)), float(img.max(initial=0.0))
    if lo < 0.0 and lo >= -1.0 - 1e-3 and hi <= 1.0 + 1e-3:
        img = (img + 1.0) * 127.5
    elif hi <= 1.0 + 1e-3:
        img = img * 255.0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
