"""Simple Baselines (Xiao et al. 2018): a backbone, three transposed convolutions, heatmaps at stride 4."""
from engine.plugin.method import HEATMAP_DECODERS, Method

METHOD = Method(
    name="simplebaseline",
    label="SimpleBaseline",
    stage_noun="stage",
    presets={
        "tiny": {"backbone": "residual", "width": 16, "blocks": 1, "deconv_width": 16,
                 "sigma": 1.0, "peak_weight": 0},
        # cpu: ~0.5 GFLOP per image like every method's cpu preset (tests/test_budgets.py).
        "cpu": {"backbone": "residual", "width": 40, "blocks": 2, "deconv_width": 64,
                "sigma": 1.0, "peak_weight": 0},
        # Xiao et al. 2018: ResNet-50, three 256-wide 4x4 deconvolutions, sigma 2 on 64x64 maps.
        "paper": {"backbone": "resnet50", "deconv_width": 256, "sigma": 2.0, "peak_weight": 0},
    },
    options={"backbone": "backbone", "hard_keypoints": "hard_keypoints"},
    backbones=("residual", "vgg16", "vgg19", "resnet50", "densenet121", "densenet169",
               "densenet201"),
    decoders=HEATMAP_DECODERS,
    color="#d62728",
    marker="D",
)
