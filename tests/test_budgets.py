"""Equal budgets: the cpu presets of every method do about the same forward work per image,
counted from the built models (models.forward_flops), so that `compare` ranks methods, not sizes."""
import keras
import pytest

from data_tools import schema
from engine.plugin import models, presets, registry

TOLERANCE = 0.25  # the largest may do at most 25% more work than the smallest


@pytest.fixture(scope="module")
def cpu_flops():
    """{method: forward FLOPs of one image} of every method's cpu preset, for dresses."""
    names = schema.keypoint_names("dress")
    flops = {}
    for arch in registry.METHODS:
        cfg = {**presets.resolve("cpu", arch), "weights": "none"}
        flops[arch] = models.forward_flops(registry.get(arch).build_model(len(names), cfg))
        keras.backend.clear_session()
    return flops


def test_cpu_presets_do_the_same_work_within_25_percent(cpu_flops):
    smallest, largest = min(cpu_flops.values()), max(cpu_flops.values())
    assert largest <= (1 + TOLERANCE) * smallest, {a: f / 1e9 for a, f in cpu_flops.items()}


def test_the_shared_budget_is_about_half_a_gigaflop(cpu_flops):
    # What the README and docs/results state; a preset that drifts must change them too.
    for arch, flops in cpu_flops.items():
        assert 0.4e9 <= flops <= 0.6e9, (arch, flops / 1e9)
