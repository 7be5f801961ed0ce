"""What TensorBoard shows beside Keras' loss curves: what the run's PNGs show.

Each epoch's stage-by-stage picture (heatmaps/epoch_NNN.png) as the image `stages`, and the
val NE of every stage as the scalars `val_ne/stage1`, `val_ne/stage2`, ... and `val_ne/final`,
in the run's tensorboard/validation/ folder, next to the validation losses that Keras'
TensorBoard callback writes there, so `tensorboard --logdir runs` shows both. Steps count
epochs from 0, as Keras' callback does, so that both line up: step 0 is epoch_001.png.
"""
from pathlib import Path


class StageBoard:
    def __init__(self, folder):
        import tensorflow as tf
        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(Path(folder) / "validation"))

    def write(self, epoch, result, picture=None):
        """Epoch `epoch`'s figures (1-based, as history.csv counts); `picture` is the PNG
        the epoch's drawing wrote (or None)."""
        tf = self.tf
        with self.writer.as_default(step=epoch - 1):
            for stage, ne in enumerate(result["ne_per_stage"], start=1):
                if ne is not None:
                    tf.summary.scalar(f"val_ne/stage{stage}", ne)
            if result.get("ne") is not None:
                tf.summary.scalar("val_ne/final", result["ne"])
            if picture is not None and Path(picture).is_file():
                image = tf.io.decode_png(tf.io.read_file(str(picture)), channels=3)
                tf.summary.image("stages", image[None], max_outputs=1)
        self.writer.flush()

    def close(self):
        self.writer.close()
