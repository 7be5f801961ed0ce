"""DeepPose (Toshev & Szegedy 2014): a CNN that regresses the keypoints' coordinates directly."""
from engine.plugin.method import Method

METHOD = Method(
    name="regression",
    label="regression",
    stage_noun="stage",
    presets={
        "tiny": {"backbone": "simple", "width": 8, "stages": 1, "box": "input"},
        "cpu": {"backbone": "simple", "width": 32, "stages": 1, "box": "input"},
        # DeepPose on an ImageNet backbone (Toshev & Szegedy 2014 used AlexNet).
        "paper": {"backbone": "resnet50", "width": 32, "stages": 1, "box": "input"},
    },
    options={"backbone": "backbone", "stages": "stages", "box": "box", "loss": "loss"},
    # Coordinates relative to the whole input, or to a garment box it predicts too; DeepPose's
    # smooth L1 or RLE (regression/codec.py).
    choices={"box": ("input", "garment"), "loss": ("smoothl1", "rle")},
    backbones=("simple", "vgg", "vgg16", "vgg19", "resnet50", "densenet121", "densenet169",
               "densenet201"),
    color="#2ca02c",
    marker="^",
    # Compare shows DeepPose's smooth L1 beside RLE (Li et al. 2021), the regression loss of
    # the current literature.
    variants={"rle": {"loss": "rle"}},
)
