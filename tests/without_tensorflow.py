"""`python tests/without_tensorflow.py ARGS`: run.py under JAX with TensorFlow made unimportable.

Any `import tensorflow`, at any depth, raises ImportError. The models, losses and
output layers must run like this (the GPU machine has JAX but no TensorFlow), so
`run.py bench`'s training step does.
"""
import importlib.abc
import os
import sys
from pathlib import Path


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"{name} was imported, but must not be under this backend")
        return None


sys.meta_path.insert(0, NoTensorFlow())
os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import run  # noqa: E402  (after the blocker, by design)

code = 0
for arch in sys.argv[1:]:
    code = code or run.main(["bench", "--arch", arch, "--preset", "tiny", "--steps", "1",
                             "--precision", "float32"])
print("tensorflow imported:", "tensorflow" in sys.modules)
sys.exit(code)
