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


def host():
    """Where a run was trained, as config.json records it: host name, architecture, processor."""
    return f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip()


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (x86 "flags", ARM "Features"); None where
    it does not say."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.split(":")[0].strip() in ("flags", "Features"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


# The flags of bfloat16 arithmetic: x86's AVX-512 BF16 and AMX, ARM's BF16.
BFLOAT16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}
SLOW_BFLOAT16 = ("--precision mixed_bfloat16 on a CPU without bfloat16 instructions: "
                 "several times slower than float32 (the cpu CPM: 4.1 against 32.4 images/s "
                 "on an AVX2-only EPYC); float32 is the CPU's default")
# The vector extensions that set a CPU's convolution speed, widest first, as users name them.
VECTOR_EXTENSIONS = [("avx512f", "AVX-512"), ("avx512_bf16", "AVX-512 BF16"), ("amx_bf16", "AMX"),
                     ("avx2", "AVX2"), ("neon", "NEON"), ("asimd", "NEON")]


def cpu_has_bfloat16():
    """True or False from the CPU's flags; None where /proc/cpuinfo does not say."""
    flags = cpu_flags()
    return None if flags is None else bool(BFLOAT16_FLAGS & flags)


def vector_extensions():
    """e.g. "AVX-512, AVX-512 BF16" or "AVX2 only": the widest of AVX2 and up that the CPU has."""
    flags = cpu_flags()
    if flags is None:
        return "vector extensions unknown"
    names = list(dict.fromkeys(name for flag, name in VECTOR_EXTENSIONS if flag in flags))
    if "AVX-512" in names:  # it implies AVX2
        names = [name for name in names if name != "AVX2"]
    if not names:
        return "no AVX2"
    return names[0] + " only" if len(names) == 1 else ", ".join(names)


def slow_bfloat16(precision, gpu):
    """SLOW_BFLOAT16 where a CPU run asks for bfloat16 that its CPU lacks, else None."""
    if precision == "mixed_bfloat16" and not gpu and cpu_has_bfloat16() is False:
        return SLOW_BFLOAT16
    return None


def describe(gpu):
    """CPU model, cores, `gpu` (gpu_name()) and Keras backend: the line bench and compare print."""
    return (f"{cpu_model()} ({vector_extensions()}), {os.cpu_count()} CPU cores, "
            f"GPU: {gpu or 'none'}, "
            f"Keras backend {backend()}")
