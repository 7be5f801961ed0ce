"""Ctrl-C and SIGTERM end a command cleanly, even where Python would lose the signal.

A signal handler raises in whatever Python code runs at that moment. When that is a
garbage-collector callback or a __del__ (JAX registers one, and TensorFlow imports JAX
when it is installed), Python prints "Exception ignored" and carries on as if no
signal had come (and prints a traceback). So the handler records the signal, does not
raise inside a gc callback, and `check()` raises it from ordinary code: training calls
it after every batch, run.py at the end.
"""
import gc
import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it ends like Ctrl-C (files stay whole)."""


_received = []


def _exception(signum):
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _in_gc_callback(frame):
    """Whether `frame` runs inside a garbage-collector callback (or code it called)."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame):
    _received.append(signum)
    # Raised inside a gc callback, the exception would be printed as "Exception ignored"
    # with a traceback, and lost; `check()` raises it from ordinary code instead.
    if not _in_gc_callback(frame):
        raise _exception(signum)


def install():
    """Handle SIGTERM, and SIGINT unless it is ignored; returns what restore() needs."""
    _received.clear()
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _handler)}
    # A shell starts background jobs with SIGINT ignored; that choice is kept.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _handler)
    return previous


def restore(previous):
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def check():
    """Raise again a signal that has come, in case its first exception was lost."""
    if _received:
        raise _exception(_received[-1])
