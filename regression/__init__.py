"""DeepPose (Toshev & Szegedy 2014): a CNN that regresses the keypoints' coordinates directly."""
from engine.method import Method

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
    options={"backbone": "backbone", "stages": "stages", "box": "box"},
    backbones=("simple", "vgg", "vgg16", "vgg19", "resnet50", "densenet121", "densenet169",
               "densenet201"),
    color="#2ca02c",
    marker="^",
)
