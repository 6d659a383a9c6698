"""The README's sentence on `make bench` says which variants it runs, short
and full (scripts/bench.py), and docs/benchmarks.md describes the runs as the
scripts make them."""

import re

from scripts.bench import SHORT, VARIANTS
from tests.support.servers import ROOT

README = " ".join((ROOT / "README.md").read_text().split())
BENCH = (ROOT / "scripts" / "bench.py").read_text()


def test_make_bench_runs_the_variants_the_readme_names():
    assert "loads the monolith under gunicorn with tracing off, on and sampled at 10%" in README
    assert SHORT[:3] == ["off", "traced", "sampled 10%"]
    assert VARIANTS["off"].env == {"OTEL_SDK_DISABLED": "true"}
    assert VARIANTS["sampled 10%"].env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"

    assert (
        "under the zero-code agent (with its defaults, and with the same conventions as "
        "toastsite's), and under uvicorn (ASGI)" in README
    )
    peers = [name for name in SHORT if VARIANTS[name].zero_code]
    assert peers == ["zero-code peer", "peer, same conventions"]
    assert [name for name in SHORT if VARIANTS[name].asgi] == ["asgi (uvicorn), traced"]
    assert len(SHORT) == 6


def test_full_adds_zipkin_stopped_uvicorn_untraced_and_the_split():
    assert "`make bench FULL=1` adds Zipkin stopped, uvicorn untraced and the split" in README
    assert set(VARIANTS) - set(SHORT) == {"zipkin stopped", "asgi (uvicorn), off"}
    assert 'topologies = ("monolith", "split") if args.full else ("monolith",)' in BENCH


# docs/benchmarks.md: its method as the scripts have it, and its figures
# consistent with each other. The figures themselves are a run's, dated in the
# doc; benchmarks assert no timing in the suite.
BENCHMARKS = " ".join((ROOT / "docs" / "benchmarks.md").read_text().split())


def section(title: str) -> str:
    start = BENCHMARKS.index(f"## {title} ")
    return BENCHMARKS[start : BENCHMARKS.index(" ## ", start)]


def millions(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"([+-]?\d+\.\d+) M\b", text)]


def test_the_short_run_is_six_variants_and_three_latency_cycles():
    assert (
        "in six variants (off, traced, sampled 10%, the zero-code peer twice: with its defaults "
        "and with the same conventions as toastsite, and traced under ASGI), then compares their "
        "latency over 3 cycles" in BENCHMARKS
    )
    assert len(SHORT) == 6
    assert "args.cycles = args.cycles or (10 if args.full else 3)" in BENCH


def test_under_asgi_the_counts_add_up():
    text = section("Under ASGI")
    assert "the difference between 5 and 25 page views under valgrind" in text
    assert "views=(5, 25)" in BENCH
    gunicorn_off, gunicorn_traced, gunicorn_cost = millions(
        text.split("| gunicorn, `wsgi.py` |")[1]
    )[:3]
    uvicorn_off, uvicorn_traced, uvicorn_cost = millions(text.split("| uvicorn, `asgi.py` |")[1])[
        :3
    ]
    off_more, traced_more = millions(text.split("| uvicorn against gunicorn |")[1])[:2]
    assert gunicorn_cost == round(gunicorn_traced - gunicorn_off, 2)
    assert uvicorn_cost == round(uvicorn_traced - uvicorn_off, 2)
    assert off_more == round(uvicorn_off - gunicorn_off, 2)
    assert traced_more == round(uvicorn_traced - gunicorn_traced, 2)
    for part, whole, percent in [
        (gunicorn_cost, gunicorn_off, "18.8"),
        (uvicorn_cost, uvicorn_off, "24.1"),
        (off_more, gunicorn_off, "21.7"),
        (traced_more, gunicorn_traced, "27.0"),
    ]:
        assert f"{part:+.2f} M (+{percent}%)" in text
        assert f"{100 * part / whole:.1f}" == percent
    # "A page view is three requests": 3.2 M more per request; half again as much.
    assert f"under ASGI, {off_more / 3:.1f} M instructions more per request" in text
    assert "Tracing costs half again as much under ASGI" in text
    assert 1.45 <= uvicorn_cost / gunicorn_cost <= 1.65


def test_two_calls_at_once_is_measured_as_written_and_its_gain_adds_up():
    text = section("Two calls at once")
    assert "python -m scripts.before_after 69dcdef --cycles 20" in text
    assert "2 s in turn, 20 cycles, the order swapped every cycle" in text
    script = (ROOT / "scripts" / "before_after.py").read_text()
    assert 'parser.add_argument("--duration", type=int, default=2' in script
    assert '("before", "after") if cycle % 2 == 0 else ("after", "before")' in script
    rows = re.findall(
        r"\| (monolith|split) \| ([^|]+) \| ([\d.]+) ms \| ([\d.]+) ms \| ([\d.]+) \|", text
    )
    assert len(rows) == 4
    slowed = [float(b) - float(a) for _, call, b, a, _ in rows if "50 ms" in call]
    assert [round(gain) for gain in slowed] == [54, 58]  # "54 to 58 ms less, about half"
    assert "54 to 58 ms less, about half" in text
    assert all(0.5 <= float(ratio) <= 0.6 for _, call, *_, ratio in rows if "50 ms" in call)
    # Its off count beside the earlier runs' (the tables above).
    off = millions(section("Under ASGI").split("| gunicorn, `wsgi.py` |")[1])[0]
    assert f"{off:.2f} M instructions with tracing off, against 45.3 and 45.2 M" in text
    assert "| monolith / off | 45.3 M instructions |" in BENCHMARKS
    assert "| off | 45.2 M instructions |" in BENCHMARKS
