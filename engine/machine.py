"""What this machine is, in one line, under any Keras backend (TensorFlow is optional)."""
import os
import platform


def backend():
    import keras
    return keras.backend.backend()


def gpu_name():
    """The first GPU's name under the current Keras backend, or None."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else None
    if name == "jax":
        import jax
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus[0].device_kind if gpus else None
    if name == "torch":
        import torch
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return None


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(gpu):
    """CPU model, cores, `gpu` (gpu_name()) and Keras backend: the line bench and compare print."""
    return (f"{cpu_model()}, {os.cpu_count()} CPU cores, GPU: {gpu or 'none'}, "
            f"Keras backend {backend()}")
