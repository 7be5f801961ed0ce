"""Stacked Hourglass (Newell et al. 2016): hourglasses in sequence, each supervised on its heatmaps."""
from engine.plugin.method import HEATMAP_DECODERS, Method

METHOD = Method(
    name="hourglass",
    label="stacked hourglass",
    stage_noun="stack",
    presets={
        # Every preset: Newell et al.'s plain MSE (peak_weight 0); see hourglass/codec.py.
        "tiny": {"stacks": 2, "features": 16, "depth": 2, "sigma": 1.0, "peak_weight": 0},
        # cpu: 88 features for ~0.5 GFLOP per image like every method's cpu preset
        # (tests/test_budgets.py).
        "cpu": {"stacks": 2, "features": 88, "depth": 4, "sigma": 1.0, "peak_weight": 0},
        # Newell et al. 2016: 64x64 maps from a 256 input, 256 features, depth-4 hourglasses;
        # 4 stacks rather than 8 (their ablation: most of the gain by 4, at half the cost).
        "paper": {"stacks": 4, "features": 256, "depth": 4, "sigma": 1.0, "peak_weight": 0},
    },
    options={"stages": "stacks", "features": "features", "hard_keypoints": "hard_keypoints"},
    trunk="hourglass stem",
    decoders=HEATMAP_DECODERS,
    color="#ff7f0e",
    marker="s",
)
