"""Progress bars that suit where they are written.

On a terminal, a tqdm bar. Anywhere else (a log file, a CI job's output) a tqdm bar is a
stream of carriage-return updates, several a second, all on one line; there this writes
one plain line per tenth of the work instead, and one at the end.
"""
import sys

from tqdm import tqdm

STEP = 0.1  # of the total, between two lines in a log


class LogLines:
    """The tqdm calls the package makes (update, close, a context), as a line per STEP."""

    def __init__(self, total, desc, unit, file):
        self.total, self.desc, self.unit, self.file = total, desc, unit, file
        self.n, self.shown, self.closed = 0, 0, False

    def update(self, n=1):
        self.n += n
        step = STEP * (self.total or 0)
        if step and self.n < self.total and self.n >= (self.shown + 1) * step:
            self.shown = int(self.n / step)
            self._line()

    def _line(self):
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{share}", file=self.file,
              flush=True)

    def close(self):
        if not self.closed:
            self.closed = True
            self._line()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def bar(total, desc, unit="img", file=None, disable=False):
    """A tqdm bar on a terminal, LogLines elsewhere; with `disable`, neither."""
    file = file or sys.stderr
    if disable or file.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=file, disable=disable)
    return LogLines(total, desc, unit, file)


def wrap(iterable, total, desc, unit="img", file=None):
    """`iterable`, advancing a `bar` for each item."""
    with bar(total, desc, unit, file) as progress:
        for item in iterable:
            yield item
            progress.update(1)
