"""What a method folder declares about itself, in one place: its `Method` descriptor.

A method is a folder (cpm/, hourglass/, ...) with
    model.py   build_model(num_keypoints, cfg) -> keras.Model, one output per stage
    codec.py   make_codec(cfg, num_keypoints) -> an engine.plugin.codec.Codec
    __init__.py  METHOD = Method(...), which engine/plugin/registry.py reads.

The engine learns everything else about a method from the descriptor: the sizes of
its model in each preset, the command-line options that apply to it, what its stages
are called, and how plots draw it. This module imports nothing heavy, so run.py can
list the methods before TensorFlow or Keras is imported.
"""
import dataclasses
import importlib
from types import MappingProxyType

PRESETS = ("tiny", "cpu", "paper")


@dataclasses.dataclass(frozen=True)
class Option:
    """A training option a method may take (`--name` on the command line): its type, the
    placeholder its help shows, and what it does. Its values, where they are a fixed set,
    are the methods' own (Method.choices)."""
    type: type
    metavar: str
    help: str


# The training options a method may take, each setting one key of its config; run.py's
# `train` offers each, and a method's descriptor says which it takes (Method.options).
OPTIONS = {
    "backbone": Option(str, "B", "the trunk (default: the preset's)"),
    "stages": Option(int, "N", "how many outputs the model refines (default: the preset's)"),
    "features": Option(int, "F", "channels of the hourglass's residual modules (default: "
                       "the preset's)"),
    "box": Option(str, "BOX", "coordinate targets: relative to the whole input (default) or "
                  "to a garment box that the model predicts too"),
    "loss": Option(str, "LOSS", "smooth L1 on the coordinates (DeepPose; the default) or "
                   "rle, Residual Log-likelihood Estimation (Li et al. 2021)"),
    "hard_keypoints": Option(int, "K", "per image, only the K keypoints whose maps cost most "
                             "count in the loss (online hard keypoint mining, CPN; default: "
                             "all)"),
}
# How the heatmap methods' maps become points (`--decode`), the default first: the argmax
# with a quarter-cell shift, or DARK's Taylor step (engine/plugin/heatmaps.py).
HEATMAP_DECODERS = ("argmax", "dark")


@dataclasses.dataclass(frozen=True)
class Method:
    """One method's descriptor.

    name:       what --arch takes, the run folder's suffix and the package's name.
    label:      how reports name it ("stacked hourglass").
    stage_noun: what one of its outputs is called in pictures and reports ("stage", "stack").
    presets:    {"tiny": {...}, "cpu": {...}, "paper": {...}}: its model's config keys per
                preset, merged over the preset's shared keys (engine/plugin/presets.py).
    options:    {option: config key} for the options of OPTIONS that it takes, e.g.
                {"stages": "stacks"}: `--stages 4` sets cfg["stacks"]. Any other is refused.
    backbones:  the --backbone values it takes (empty if it takes no --backbone).
    choices:    {option: the values it takes} for its options of a fixed set of values,
                e.g. regression's {"loss": ("smoothl1", "rle")}, its default first.
    decoders:   the --decode values its codec offers, its default first (none: it reads
                its points off the outputs).
    trunk:      how reports name its trunk when it takes no --backbone ("hourglass stem").
    color, marker: its line colour and marker in plots (matplotlib names).
    variants:   {name: {option: value}}: other ways of training it that `compare` reports
                beside the preset's own, each as the run <category>-<method>-<name>
                (regression: {"rle": {"loss": "rle"}}).
    """

    name: str
    label: str
    stage_noun: str
    presets: dict
    options: dict
    color: str
    marker: str
    backbones: tuple = ()
    choices: dict = dataclasses.field(default_factory=dict)
    decoders: tuple = ()
    trunk: str = ""
    variants: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        missing = [p for p in PRESETS if p not in self.presets]
        unknown = [o for o in self.options if o not in OPTIONS]
        unknown += [o for v in self.variants.values() for o in v if o not in self.options]
        unknown += [o for o in self.choices if o not in self.options]
        if missing or unknown or (("backbone" in self.options) != bool(self.backbones)):
            raise ValueError(f"method {self.name}: presets lack {missing}, unknown options "
                             f"{unknown}, or --backbone without backbones (or the reverse)")
        # Read-only, so that no caller changes a method's presets for everyone.
        object.__setattr__(self, "presets", MappingProxyType(dict(self.presets)))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "variants", MappingProxyType(dict(self.variants)))
        object.__setattr__(self, "choices", MappingProxyType(dict(self.choices)))

    def build_model(self, num_keypoints, cfg):
        """The package's model.build_model (imported now: it needs Keras)."""
        return importlib.import_module(f"{self.name}.model").build_model(num_keypoints, cfg)

    def make_codec(self, cfg, num_keypoints):
        """The package's codec.make_codec."""
        return importlib.import_module(f"{self.name}.codec").make_codec(cfg, num_keypoints)

    def values_of(self, option):
        """The values it takes for `option`: its backbones, its choices, or () where any
        value of the option's type goes."""
        return self.backbones if option == "backbone" else self.choices.get(option, ())

    def backbone_of(self, cfg):
        """The trunk a run of this method used, as reports name it."""
        return str(cfg.get("backbone")) if "backbone" in self.options else self.trunk
