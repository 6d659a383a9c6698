"""Where the work that tracing adds to a page view goes, part by part.

    python -m scripts.attribution [--sampler always_off]

Callgrind counts instructions per C function, and every Python function runs
inside the same few C functions of the interpreter. So each part to measure
(the Django middleware, the SDK's span start, an encoder...) is called through
a C function of its own: a tiny extension module, built here with the
machine's C compiler, has a numbered trampoline per zone that only calls its
argument. callgrind_annotate's inclusive count of trampoline N is then the
work done inside that zone, whatever it called. Zones nest (the middleware
starts a span, which sets attributes); each nesting path gets its own
trampoline, and a zone's own work is its inclusive count less its children's.

As in `make bench`: the traced monolith under gunicorn and valgrind serves 5
and then 25 page views of `/`; the difference over 20 is one page view. It
runs three ways: off (the floor), traced, and traced with the zones, whose
difference to traced is the cost of the zones themselves (reported, and taken
out of each parent zone, per child call).
"""

import argparse
import atexit
import functools
import gc
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from scripts.bench import Variant, run_site, total_instructions
from scripts.harness import traced_to_zipkin

ZONES = 256
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toastsite" / "zones"
# Zones whose own work is the application's, not tracing's: their children count.
# (Under "sending", the HTTP post is the exporter's: tracing's.)
NOT_TRACING = {"app", "db", "http.send"}

# A zone label, then the parts of the table it adds to.
PARTS = {
    "django.mw": "Django middleware (its own logic)",
    "requests.instr": "requests instrumentation (its own logic)",
    "sdk.start": "SDK: span start (sampler, ids, Span, processors' on_start)",
    "sdk.end": "SDK: span end (read-only copy, batch queue)",
    "context": "context attach/detach",
    "attributes": "attributes (collected, checked, stored)",
    "hook.request": "toastsite: request hook",
    "hook.client_name": "toastsite: client span namer",
    "hook.sql": "toastsite: SQL span (its own logic)",
    "hook.sql.summary": "toastsite: SQL summary",
    "hook.remote_endpoint": "toastsite: remote-endpoint encoder (its own logic)",
    "hook.logs": "toastsite: log correlation",
    "hook.links": "toastsite: trace links for the footer",
    "encoding": "encoding (Zipkin JSON)",
    "sending": "sending (batching, HTTP post)",
}


def _c_source() -> str:
    lines = ["#define PY_SSIZE_T_CLEAN", "#include <Python.h>"]
    for n in range(ZONES):
        # Distinct bodies (the index), so that no compiler folds them into one.
        lines.append(
            f"static volatile long ts_calls_{n};\n"
            f"__attribute__((noinline, noclone)) static PyObject *\n"
            f"ts_zone_{n}(PyObject *self, PyObject *const *args, Py_ssize_t nargs,"
            f" PyObject *kwnames)\n"
            f"{{ ts_calls_{n}++; return PyObject_Vectorcall(args[0], args + 1, nargs - 1,"
            f" kwnames); }}"
        )
    methods = ",\n".join(
        f'{{"z{n}", (PyCFunction)(void (*)(void))ts_zone_{n}, METH_FASTCALL | METH_KEYWORDS, 0}}'
        for n in range(ZONES)
    )
    lines.append(f"static PyMethodDef methods[] = {{\n{methods},\n{{0, 0, 0, 0}}}};")
    lines.append(
        'static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ts_zones", 0, -1, methods};'
    )
    lines.append("PyMODINIT_FUNC PyInit__ts_zones(void) { return PyModule_Create(&module); }")
    return "\n".join(lines) + "\n"


def build() -> Path:
    """The trampolines' extension module, built once into the cache; its folder."""
    source = _c_source()
    folder = CACHE / hashlib.sha256(source.encode()).hexdigest()[:16]
    target = folder / f"_ts_zones{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "zones.c").write_text(source)
        include = sysconfig.get_paths()["include"]
        command = ["cc", "-shared", "-fPIC", "-O2", "-fno-ipa-icf", f"-I{include}"]
        subprocess.run([*command, "zones.c", "-o", target.name], cwd=folder, check=True)
    return folder


class Zones:
    """Calls zoned functions through their path's trampoline, counting calls."""

    def __init__(self, module, folder: Path) -> None:
        self._trampolines = [getattr(module, f"z{n}") for n in range(ZONES)]
        self._index: dict[str, int] = {}
        self._calls: dict[str, int] = defaultdict(int)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._folder = folder
        atexit.register(self.dump)

    def wrap(self, label: str, fn):
        @functools.wraps(fn)
        def zoned(*args, **kwargs):
            parent = getattr(self._local, "path", "")
            if parent.endswith(label) and parent.rsplit("/", 1)[-1] == label:
                return fn(*args, **kwargs)  # the same part calling itself: one zone
            path = f"{parent}/{label}" if parent else label
            index = self._index.get(path)
            if index is None:
                index = self._assign(path)
                if index is None:
                    return fn(*args, **kwargs)
            self._calls[path] += 1
            self._local.path = path
            try:
                return self._trampolines[index](fn, *args, **kwargs)
            finally:
                self._local.path = parent

        return zoned

    def _assign(self, path: str) -> int | None:
        with self._lock:
            if path not in self._index:
                if len(self._index) == ZONES:
                    return None
                self._index[path] = len(self._index)
            return self._index[path]

    def dump(self) -> None:
        """Each process its own file: a worker inherits the master's zones, then
        numbers new paths its own way."""
        log = self._folder / f"{os.getpid()}.json"
        log.write_text(json.dumps({"index": self._index, "calls": self._calls}))


def install(zones: Zones) -> None:
    """Zones every part, before the app loads; the requests instrumentation's
    own wrapper, once tracing is set up."""
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
    from opentelemetry.exporter.zipkin.encoder import JsonEncoder
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
    from opentelemetry.instrumentation.django.middleware import otel_middleware
    from opentelemetry.sdk import trace as sdk
    from opentelemetry.sdk._shared_internal import BatchProcessor

    from toastsite.telemetry import exporters, http, links, logs, sql
    from toastsite.telemetry import setup as tracing

    def patch(owner, name: str, label: str) -> None:
        raw = vars(owner).get(name)
        if isinstance(raw, staticmethod):  # stays one, or it would be handed `self`
            setattr(owner, name, staticmethod(zones.wrap(label, raw.__func__)))
        else:
            setattr(owner, name, zones.wrap(label, getattr(owner, name)))

    middleware = otel_middleware._DjangoMiddleware
    patch(middleware, "__call__", "django.mw")
    patch(middleware, "process_view", "django.mw")
    patch(middleware, "process_exception", "django.mw")
    original_init = middleware.__init__

    def init(self, get_response):
        original_init(self, zones.wrap("app", get_response))

    middleware.__init__ = init
    for name in ("wsgi_collect_request_attributes", "add_response_attributes"):
        patch(otel_middleware, name, "attributes")
    for name in ("__init__", "__setitem__", "_set_items"):
        patch(BoundedAttributes, name, "attributes")
    for name in ("set_attribute", "set_attributes"):
        patch(sdk.Span, name, "attributes")
    patch(sdk.Tracer, "start_span", "sdk.start")
    patch(sdk.Span, "end", "sdk.end")
    patch(ContextVarsRuntimeContext, "attach", "context")
    patch(ContextVarsRuntimeContext, "detach", "context")
    patch(requests.Session, "send", "http.send")  # the HTTP call itself: the app's

    patch(http, "server_request_hook", "hook.request")
    patch(http, "name_client_span", "hook.client_name")
    patch(http, "request_started_untraced", "hook.logs")
    patch(links, "trace_links", "hook.links")
    patch(logs, "serving", "hook.logs")
    patch(logs.TraceContextFilter, "filter", "hook.logs")
    patch(sql, "statement_summary", "hook.sql.summary")
    sql_span = zones.wrap("hook.sql", sql.sql_span)
    sql.sql_span = lambda execute, *rest: sql_span(zones.wrap("db", execute), *rest)
    encoder = exporters.RemoteEndpointEncoder
    if "_remote_endpoint" in vars(encoder):  # the lean encoder: its own encoding
        patch(encoder, "_remote_endpoint", "hook.remote_endpoint")
        patch(encoder, "serialize", "encoding")
    else:  # the library's encoding, then the remote endpoint added to each span
        patch(encoder, "_encode_span", "hook.remote_endpoint")
    patch(JsonEncoder, "serialize", "encoding")
    patch(JsonV2Encoder, "_encode_span", "encoding")
    patch(BatchProcessor, "_export", "sending")
    patch(ZipkinExporter, "export", "sending")

    setup = tracing.setup

    def setup_then_zone_requests(*args, **kwargs):
        setup(*args, **kwargs)
        patch(requests.Session, "send", "requests.instr")

    tracing.setup = setup_then_zone_requests


def serve() -> None:
    """gunicorn (python -m scripts.attribution serve ARGS), its garbage collector
    off, with every part of tracing zoned if TOASTSITE_ZONES_DIR is set."""
    # A collection runs whenever enough objects were allocated, inside whichever
    # zone allocated the last one; a full one costs tens of millions. Off, it
    # leaves each zone its own work; its share is measured apart (main()).
    gc.disable()
    if folder := os.environ.get("TOASTSITE_ZONES_DIR"):
        sys.path.insert(0, str(build()))
        import _ts_zones  # noqa: PLC0415 - built just above

        install(Zones(_ts_zones, Path(folder)))
    from gunicorn.app.wsgiapp import run  # noqa: PLC0415

    sys.argv = ["gunicorn", *sys.argv[2:]]
    run()


def inclusive(file: Path) -> dict[int, int]:
    """Inclusive instructions of each trampoline in one process's callgrind file."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[int, int] = defaultdict(int)
    for value, n in re.findall(r"^\s*([\d,]+) .*?ts_zone_(\d+)\b", text, re.M):
        counts[int(n)] += int(value.replace(",", ""))
    return counts


def count(env: dict, zoned: bool, collector: bool, views: int) -> dict:
    """One run: the total, and (zoned) each path's inclusive count and calls.
    The garbage collector is on only with `collector` (and then no zones)."""
    out = Path(tempfile.mkdtemp())
    valgrind = ("valgrind", "--tool=callgrind", "--trace-children=yes")
    prefix = (*valgrind, f"--callgrind-out-file={out}/callgrind.%p")
    if zoned:
        env = {**env, "TOASTSITE_ZONES_DIR": str(out)}
    with run_site(env, Variant(zones=not collector), "monolith", prefix) as url:
        session = requests.Session()
        for _ in range(views):
            session.get(f"{url}/").raise_for_status()
    result = {"total": total_instructions(out)}
    if zoned:
        paths: dict[str, dict] = defaultdict(lambda: {"inclusive": 0, "calls": 0})
        for log in out.glob("*.json"):
            data = json.loads(log.read_text())
            by_index = inclusive(out / f"callgrind.{log.stem}")
            for path, index in data["index"].items():
                paths[path]["inclusive"] += by_index.get(index, 0)
                paths[path]["calls"] += data["calls"].get(path, 0)
        result["paths"] = dict(paths)
    shutil.rmtree(out)
    return result


def per_view(runs: tuple[dict, dict], span: int) -> dict:
    """The difference of two runs (few and many page views), per page view."""
    few, many = runs
    result = {"total": (many["total"] - few["total"]) / span}
    if "paths" in many:
        result["paths"] = {
            path: {
                key: (figures[key] - few["paths"].get(path, {}).get(key, 0)) / span
                for key in ("inclusive", "calls")
            }
            for path, figures in many["paths"].items()
        }
    return result


def attribute(paths: dict[str, dict], overhead_per_call: float) -> dict[str, float]:
    """Each part's own work: a zone's inclusive count less its children's, and
    less the zones' own cost per child call; summed by label."""
    parts: dict[str, float] = defaultdict(float)
    for path, figures in paths.items():
        children = [
            other
            for other in paths
            if other.startswith(f"{path}/") and "/" not in other[len(path) + 1 :]
        ]
        own = figures["inclusive"] - sum(paths[c]["inclusive"] for c in children)
        own -= overhead_per_call * sum(paths[c]["calls"] for c in children)
        label = path.rsplit("/", 1)[-1]
        if path.startswith("sending") and label not in ("encoding", "hook.remote_endpoint"):
            label = "sending"  # the exporter's own post, instrumentation checks and all
        if label not in NOT_TRACING:
            parts[label] += own
    return dict(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler", default="parentbased_always_on")
    parser.add_argument("--out", type=Path, default=Path("bench-results/attribution.json"))
    parser.add_argument("--views", type=int, nargs=2, default=(5, 25), help="few, then many")
    parser.add_argument(
        "--no-collector", action="store_true", help="skip the runs with the collector on"
    )
    args = parser.parse_args()
    build()
    views = tuple(args.views)
    database = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    with traced_to_zipkin(database, heap="1g", OTEL_SERVICE_NAME="toastsite") as (_, env):
        off = {**env, "OTEL_SDK_DISABLED": "true"}
        traced = {**env, "OTEL_TRACES_SAMPLER": args.sampler}
        jobs = {  # name: environment, zoned, garbage collector on
            "off": (off, False, False),
            "traced": (traced, False, False),
            "zoned": (traced, True, False),
        }
        if not args.no_collector:
            jobs["off, collector on"] = (off, False, True)
            jobs["traced, collector on"] = (traced, False, True)
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            futures = {
                (name, n): pool.submit(count, *job, n) for name, job in jobs.items() for n in views
            }
            runs = {
                name: per_view(
                    (futures[(name, views[0])].result(), futures[(name, views[1])].result()),
                    views[1] - views[0],
                )
                for name in jobs
            }
    added = runs["traced"]["total"] - runs["off"]["total"]
    paths = runs["zoned"]["paths"]
    calls = sum(figures["calls"] for figures in paths.values())
    overhead = runs["zoned"]["total"] - runs["traced"]["total"]
    parts = attribute(paths, overhead / calls if calls else 0)
    collector_on = runs.get("traced, collector on", runs["traced"])
    with_collector = collector_on["total"] - runs.get("off, collector on", runs["off"])["total"]
    report = {
        "sampler": args.sampler,
        "totals": {name: run["total"] for name, run in runs.items()},
        "added": added,
        "added_with_collector": with_collector,
        "collector": with_collector - added,
        "zones_overhead": overhead,
        "zone_calls": calls,
        "parts": parts,
        "elsewhere": added - sum(parts.values()),
        "paths": paths,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    totals = report["totals"]
    print(f"collector on: adds {with_collector / 1e6:.2f} M")
    print(f"collector off: off {totals['off'] / 1e6:.2f} M, traced {totals['traced'] / 1e6:.2f} M")
    print(f"(the zones themselves: {overhead / 1e6:.2f} M over {calls:.0f} calls, taken out)")
    for label, own in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {own / 1e6:6.2f} M  {PARTS.get(label, label)}")
    print(f"  {report['elsewhere'] / 1e6:6.2f} M  elsewhere (in no zone)")
    print(f"  {report['collector'] / 1e6:6.2f} M  garbage collection (collector on less off)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    else:
        main()
