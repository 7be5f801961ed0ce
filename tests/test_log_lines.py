"""What a run writes to a log: progress bars as a line per tenth of the work, not a stream
of updates; a warning where bfloat16 would be slow."""
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


def test_bfloat16_on_a_cpu_without_it_is_called_slow(monkeypatch):
    from engine.commands import bench
    from engine.training import machine
    monkeypatch.setattr(machine, "cpu_has_bfloat16", lambda: False)
    assert "several times slower than float32" in machine.slow_bfloat16("mixed_bfloat16", None)
    assert machine.slow_bfloat16("float32", None) is None
    assert machine.slow_bfloat16("mixed_bfloat16", "H100") is None  # a GPU has it
    monkeypatch.setattr(machine, "cpu_has_bfloat16", lambda: True)
    assert machine.slow_bfloat16("mixed_bfloat16", None) is None
    result = {"arch": "cpm", "preset": "cpu", "input_size": 128, "batch_size": 16, "steps": 1,
              "category": "dress", "machine": "m", "pipeline": None, "training": {},
              "slow_bfloat16": machine.SLOW_BFLOAT16}
    assert f"note: {machine.SLOW_BFLOAT16}" in bench.table(result)


def test_the_machine_line_names_the_cpus_vector_extensions(monkeypatch):
    from engine.training import machine
    cases = [({"sse2", "avx", "avx2", "fma"}, "AVX2 only"),
             ({"avx2", "avx512f", "avx512bw"}, "AVX-512 only"),
             ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AVX-512, AVX-512 BF16, AMX"),
             ({"sse2"}, "no AVX2"), ({"fp", "asimd"}, "NEON only"),
             (None, "vector extensions unknown")]
    for flags, words in cases:
        monkeypatch.setattr(machine, "cpu_flags", lambda flags=flags: flags)
        assert machine.vector_extensions() == words
        assert machine.cpu_has_bfloat16() is (None if flags is None else "avx512_bf16" in flags)
    assert "(vector extensions unknown), " in machine.describe(None)
