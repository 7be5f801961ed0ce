"""`run.py train` (the default verb): one run of a method, as engine/training/loop.py trains it."""
from engine.training import loop


def main(args):
    return loop.train(loop.Options.from_args(args))
