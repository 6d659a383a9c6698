import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests


class ZipkinReceiver:
    """A local HTTP server that takes Zipkin JSON v2 posts, as Zipkin would.

    `mode` "ok" answers 202; "error" answers 500; "hang" accepts the
    connection and never answers.
    """

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.posts: list[list[dict]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}/api/v2/spans"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.mode == "hang":
                    receiver._release.wait(30)
                    return
                with receiver._lock:
                    receiver.posts.append(json.loads(body))
                self.send_response(202 if receiver.mode == "ok" else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    @property
    def spans(self) -> list[dict]:
        with self._lock:
            return [span for post in self.posts for span in post]

    def trace(self, response: requests.Response, timeout: float = 10) -> list[dict]:
        """The spans of the trace `response` belongs to, once its server span has
        arrived (and a moment more, for spans that ended just before it)."""
        _, trace_id, span_id, _ = response.headers["traceresponse"].split("-")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(s["id"] == span_id for s in self.spans):
                time.sleep(0.3)
                return [s for s in self.spans if s["traceId"] == trace_id]
            time.sleep(0.05)
        raise AssertionError(f"trace {trace_id} did not arrive; got {self.spans}")

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def zipkin_receiver() -> Iterator[ZipkinReceiver]:
    receiver = ZipkinReceiver()
    yield receiver
    receiver.close()
