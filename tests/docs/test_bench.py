"""The README's sentence on `make bench` says which variants it runs, short
and full (scripts/bench.py)."""

from scripts.bench import SHORT, VARIANTS
from tests.support.servers import ROOT

README = " ".join((ROOT / "README.md").read_text().split())


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
    bench = (ROOT / "scripts" / "bench.py").read_text()
    assert 'topologies = ("monolith", "split") if args.full else ("monolith",)' in bench
