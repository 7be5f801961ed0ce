"""Native libraries' start-up and conversion chatter kept off the terminal.

TensorFlow (CUDA stubs, oneDNN), tf2onnx and LiteRT print from C++ straight to file
descriptor 2, which redirecting Python's sys.stderr does not reach: the descriptor itself
is pointed at /dev/null for the while, and put back after, whatever happens.
"""
import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_off():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
