"""Progress bars in a log file: a line per tenth of the work, not a stream of updates."""
import io

from data_tools import progress


def test_a_bar_in_a_log_writes_a_line_per_tenth_and_one_at_the_end():
    log = io.StringIO()
    with progress.bar(1000, "synthetic FashionAI", file=log) as bar:
        for _ in range(1000):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 10  # 10%, 20%, ... 90%, then the end
    assert lines[0] == "synthetic FashionAI: 100/1000 img (10%)"
    assert lines[-1] == "synthetic FashionAI: 1000/1000 img (100%)"


def test_a_wrapped_iterable_yields_every_item_and_closes_once():
    log = io.StringIO()
    assert list(progress.wrap(range(7), 7, "draw", file=log)) == list(range(7))
    assert log.getvalue().splitlines()[-1] == "draw: 7/7 img (100%)"
    assert log.getvalue().count("7/7") == 1


def test_a_disabled_bar_writes_nothing():
    log = io.StringIO()
    with progress.bar(10, "x", file=log, disable=True) as bar:
        bar.update(10)
    assert log.getvalue() == ""
