"""SimCC (Li et al. 2022) as RTMPose has it (Jiang et al. 2023): a CSPNeXt trunk, then per
keypoint a classification over x bins and one over y bins, at half a pixel each."""
from engine.plugin.method import Method

METHOD = Method(
    name="simcc",
    label="SimCC (RTMPose)",
    stage_noun="stage",
    presets={
        "tiny": {"stem_width": 16, "widths": (16, 32, 64, 128), "depths": (1, 1, 1, 1),
                 "final_kernel": 3, "hidden": 32, "attention": 16, "split": 2.0,
                 "sigma": 2.83, "beta": 10.0},
        # cpu: RTMPose's input size, 256 px, and its stride-32 CSPNeXt trunk, narrowed to
        # widen 0.25 (deepen 0.33, as RTMPose-s) for ~0.48 GFLOP per image like every
        # method's cpu preset (tests/test_budgets.py); labels of sigma 5.66 bins, the paper's.
        # At the same budget, RTMPose-s's own widths at 128 px (4 x 4 features per keypoint
        # instead of 8 x 8) learnt nothing beyond the mean shape on photos (measured:
        # docs/results/real/README.md, a).
        "cpu": {"input_size": 256, "stem_width": 16, "widths": (32, 64, 128, 256),
                "depths": (1, 2, 2, 1), "final_kernel": 7, "hidden": 256, "attention": 128,
                "split": 2.0, "sigma": 5.66, "beta": 10.0},
        # RTMPose-m (Jiang et al. 2023): CSPNeXt widen 0.75, deepen 0.67, a 7x7 final conv,
        # a 256-wide GAU head of attention width 128; split 2, labels of sigma 5.66 bins
        # (their y sigma at 256 px), beta 10.
        "paper": {"stem_width": 48, "widths": (96, 192, 384, 768), "depths": (2, 4, 4, 2),
                  "final_kernel": 7, "hidden": 256, "attention": 128, "split": 2.0,
                  "sigma": 5.66, "beta": 10.0},
    },
    options={},
    trunk="CSPNeXt",
    color="#8c564b",
    marker="P",
)
