"""HTTP as a visitor does it: no trace context of our own. Forms are sent as a
browser sends them by apps.pages.traffic (post_rating, form_field). And an API
that answers as a test says (`fake_api`)."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from requests.adapters import HTTPAdapter

from toastsite.telemetry.links import TraceResponse, parse_traceresponse


class Visitor(requests.Session):
    """An HTTP client that, like a browser, sends no trace context of its own.

    The test process itself is instrumented (see conftest.py); this keeps its
    calls to real servers out of the traces under test.

    `address` is the address it connects from. Every 127.x.y.z is this machine,
    so visitors at 127.0.0.2 and 127.0.0.3 are two visitors to a server on
    127.0.0.1, and neither is the site itself calling its API.
    """

    def __init__(self, address: str | None = None) -> None:
        super().__init__()
        self.address = address or "127.0.0.1"
        if address:
            for scheme in ("http://", "https://"):
                self.mount(scheme, _FromAddress(address))

    def request(self, *args, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        with suppress_http_instrumentation():
            return super().request(*args, **kwargs)


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self._source = (address, 0)
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, source_address=self._source, **kwargs)


def traceresponse(response) -> TraceResponse:
    """The W3C `traceresponse` header of a response: which trace served it."""
    traced = parse_traceresponse(response.headers.get("traceresponse"))
    assert traced, f"no traceresponse header in {dict(response.headers)}"
    return traced


@contextmanager
def fake_api(answer: Callable[[BaseHTTPRequestHandler, threading.Event], None]) -> Iterator[str]:
    """A stand-in for the API on a free port of 127.0.0.1; yields its URL.

    Each GET is answered by `answer(handler, stopping)`. An answer that never
    comes waits on `stopping`, which is set as the server stops, so that no
    thread outlives the test.
    """
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self, stopping)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
