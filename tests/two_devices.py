"""`python tests/two_devices.py ARGS`: run.py with this machine's CPU split in two.

TensorFlow then sees two logical CPU devices, which `--strategy mirrored` trains on
as two replicas: the mirrored strategy's test on a machine with no GPU. The split
must happen before TensorFlow starts, hence a script of its own.
"""
import sys
from pathlib import Path

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import run  # noqa: E402  (after the split, by design)

sys.exit(run.main(sys.argv[1:]))
