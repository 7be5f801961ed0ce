"""The FashionAI keypoint schema: names, per-category subsets, flip pairs, NE pairs.

Everything here is plain Python data so every other module (and the tests) can
agree on one order of the 24 keypoints.
"""

KEYPOINTS = (
    "neckline_left", "neckline_right", "center_front",
    "shoulder_left", "shoulder_right", "armpit_left", "armpit_right",
    "waistline_left", "waistline_right",
    "cuff_left_in", "cuff_left_out", "cuff_right_in", "cuff_right_out",
    "top_hem_left", "top_hem_right", "waistband_left", "waistband_right",
    "hemline_left", "hemline_right", "crotch",
    "bottom_left_in", "bottom_left_out", "bottom_right_in", "bottom_right_out",
)
NUM_KEYPOINTS = len(KEYPOINTS)
INDEX = {name: i for i, name in enumerate(KEYPOINTS)}

# The competition's per-category subsets (seed 001's table), in official order.
_CATEGORY_NAMES = {
    "blouse": ("neckline_left", "neckline_right", "center_front", "shoulder_left",
               "shoulder_right", "armpit_left", "armpit_right", "cuff_left_in",
               "cuff_left_out", "cuff_right_in", "cuff_right_out", "top_hem_left",
               "top_hem_right"),
    "outwear": ("neckline_left", "neckline_right", "shoulder_left", "shoulder_right",
                "armpit_left", "armpit_right", "waistline_left", "waistline_right",
                "cuff_left_in", "cuff_left_out", "cuff_right_in", "cuff_right_out",
                "top_hem_left", "top_hem_right"),
    "dress": ("neckline_left", "neckline_right", "center_front", "shoulder_left",
              "shoulder_right", "armpit_left", "armpit_right", "waistline_left",
              "waistline_right", "cuff_left_in", "cuff_left_out", "cuff_right_in",
              "cuff_right_out", "hemline_left", "hemline_right"),
    "skirt": ("waistband_left", "waistband_right", "hemline_left", "hemline_right"),
    "trousers": ("waistband_left", "waistband_right", "crotch", "bottom_left_in",
                 "bottom_left_out", "bottom_right_in", "bottom_right_out"),
}
CATEGORIES = tuple(_CATEGORY_NAMES)

# Normalized Error divides by the distance between these two ground-truth points.
NORM_PAIRS = {
    "blouse": ("armpit_left", "armpit_right"),
    "outwear": ("armpit_left", "armpit_right"),
    "dress": ("armpit_left", "armpit_right"),
    "skirt": ("waistband_left", "waistband_right"),
    "trousers": ("waistband_left", "waistband_right"),
}


def keypoint_names(category):
    """Keypoint names of a category, or all 24 for the joint model ('all')."""
    if category == "all":
        return KEYPOINTS
    return _CATEGORY_NAMES[category]


def keypoint_indices(category):
    """Indices of a category's keypoints among the 24 official columns."""
    return [INDEX[name] for name in keypoint_names(category)]


def _mirror_name(name):
    if "_left" in name:
        return name.replace("_left", "_right")
    if "_right" in name:
        return name.replace("_right", "_left")
    return name


def flip_permutation(names):
    """For a list of keypoint names, the index each one takes after a horizontal flip.

    A mirrored image shows the left sleeve where the right one was, so after
    flipping the coordinates, keypoint i must take the values of its mirror partner.
    """
    position = {name: i for i, name in enumerate(names)}
    return [position[_mirror_name(name)] for name in names]


def flip_pairs(names):
    """(i, j) pairs of left/right partners within a list of names, i < j."""
    perm = flip_permutation(names)
    return [(i, j) for i, j in enumerate(perm) if i < j]


def norm_pair_indices(category, names=None):
    """Positions of a category's NE normalisation pair within `names`."""
    names = keypoint_names(category) if names is None else names
    left, right = NORM_PAIRS[category]
    return names.index(left), names.index(right)
