"""Convolutional Pose Machine (Wei et al. 2016): a trunk, then stages that refine softmax belief maps."""
from engine.plugin.method import HEATMAP_DECODERS, Method

METHOD = Method(
    name="cpm",
    label="CPM",
    stage_noun="stage",
    presets={
        "tiny": {"backbone": "vgg", "width": 0.125, "stages": 6, "stage_channels": 16,
                 "stage_kernel": 3, "sigma": 1.0},
        # cpu: sized to the other methods' forward FLOPs (~0.5 GFLOP per image, see
        # tests/test_budgets.py), keeping the paper's six stages of 7x7 convolutions.
        "cpu": {"backbone": "vgg", "width": 0.125, "stages": 6, "stage_channels": 24,
                "stage_kernel": 7, "sigma": 1.0},
        # Wei et al. 2016: VGG trunk to stride 8, 128-wide stages of 7x7 convs.
        "paper": {"backbone": "vgg", "width": 1.0, "stages": 6, "stage_channels": 128,
                  "stage_kernel": 7, "sigma": 1.0},
    },
    options={"backbone": "backbone", "stages": "stages", "hard_keypoints": "hard_keypoints"},
    backbones=("vgg", "vgg16", "vgg19", "resnet50", "densenet121", "densenet169", "densenet201"),
    decoders=HEATMAP_DECODERS,
    color="#1f77b4",
    marker="o",
)
