"""HRNet (Sun et al. 2019): a high-resolution branch through the whole network, lower ones
added stage by stage and exchanging with it; heatmaps from the highest, at stride 4."""
from engine.plugin.method import HEATMAP_DECODERS, Method

METHOD = Method(
    name="hrnet",
    label="HRNet",
    # Output b is the head's reading of branches 1 to b (hrnet/model.py); the last, of all.
    stage_noun="up to branch",
    presets={
        "tiny": {"width": 16, "stem_width": 16, "stage1_blocks": 1, "blocks": 1,
                 "modules": (1,), "sigma": 1.0, "peak_weight": 0},
        # cpu: ~0.5 GFLOP per image like every method's cpu preset (tests/test_budgets.py):
        # W16, four branches, the depth cut to 1, 2, 2 modules of 2 blocks.
        "cpu": {"width": 16, "stem_width": 32, "stage1_blocks": 2, "blocks": 2,
                "modules": (1, 2, 2), "sigma": 1.0, "peak_weight": 0},
        # Sun et al. 2019: HRNet-W32 (64-wide stem, 4 bottlenecks, 1, 4, 3 modules of 4
        # blocks), sigma 2 on the 64x64 maps of a 256 input.
        "paper": {"width": 32, "stem_width": 64, "stage1_blocks": 4, "blocks": 4,
                  "modules": (1, 4, 3), "sigma": 2.0, "peak_weight": 0},
    },
    options={"hard_keypoints": "hard_keypoints"},
    trunk="high-resolution net",
    decoders=HEATMAP_DECODERS,
    color="#9467bd",
    marker="v",
)
