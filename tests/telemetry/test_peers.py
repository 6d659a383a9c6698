"""What the zero-code peers that `make bench` measures toastsite against record,
and what toastsite records that they do not (docs/benchmarks.md, "The peers").

Each peer is the bench's own variant (scripts/bench.py): the site under
gunicorn and `opentelemetry-instrument`, sending to a local receiver.
"""

import importlib.util
import time

import pytest

from scripts.bench import VARIANTS, run_site
from tests.support.http import Visitor
from tests.support.servers import database_copy, skip_or_fail
from tests.support.zipkin import ZipkinReceiver

RESOURCE_OURS_ONLY = {"service.version", "deployment.environment", "host.name"}


def home_page_spans(server_env, variant: str) -> list[dict]:
    receiver = ZipkinReceiver()
    env = {
        **server_env,
        "DJANGO_SETTINGS_MODULE": "toastsite.settings",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    try:
        with run_site(env, VARIANTS[variant], "monolith") as url, Visitor() as visitor:
            spans = []
            for _ in range(2):  # the second: connections are open, as in the bench
                seen = len(receiver.spans)
                response = visitor.get(f"{url}/")
                assert response.status_code == 200
                assert "traceresponse" not in response.headers  # toastsite's own setup adds it
                deadline = time.monotonic() + 15
                while len(receiver.spans) < seen + 11 and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(0.5)
                spans = receiver.spans[seen:]
            return spans
    finally:
        receiver.close()


def roles(spans: list[dict]) -> dict[str, list[dict]]:
    """The home page's spans by what they are: server, client (HTTP), sql, internal."""
    found: dict[str, list[dict]] = {"server": [], "client": [], "sql": [], "internal": []}
    for span in spans:
        tags = span.get("tags", {})
        if "db.statement" in tags or "db.query.text" in tags:
            found["sql"].append(span)
        elif span.get("kind") == "SERVER":
            found["server"].append(span)
        elif span.get("kind") == "CLIENT":
            found["client"].append(span)
        else:
            found["internal"].append(span)
    return found


@pytest.fixture(scope="module")
def peers(server_env, migrated_database, tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    if importlib.util.find_spec("opentelemetry.distro") is None:
        skip_or_fail("opentelemetry-distro (requirements-dev.txt) is not installed")
    with database_copy(migrated_database, tmp_path_factory.mktemp("peers")) as database:
        env = {**server_env, "DATABASE_URL": database}
        return {
            name: roles(home_page_spans(env, name))
            for name in ("zero-code peer", "peer, same conventions")
        }


def test_both_peers_send_the_spans_toastsite_sends_without_remote_endpoints(peers):
    for spans in peers.values():
        assert [len(spans[role]) for role in ("server", "client", "internal")] == [3, 2, 1]
        assert spans["sql"]
        everything = [span for role in spans.values() for span in role]
        assert all("remoteEndpoint" not in span for span in everything)
        assert all(span["debug"] is True for span in everything)
        for span in everything:
            assert span["tags"]["telemetry.auto.version"]
            assert not RESOURCE_OURS_ONLY & set(span["tags"])


def test_the_default_peer_records_the_deprecated_names(peers):
    spans = peers["zero-code peer"]
    server = set(spans["server"][0]["tags"])
    assert {
        "http.method",
        "http.status_code",
        "http.target",
        "http.flavor",
        "net.peer.ip",
    } <= server
    assert "http.request.method" not in server
    assert {s["name"] for s in spans["client"]} == {"GET"}
    assert {"http.method", "http.url"} <= set(spans["client"][0]["tags"])
    assert {s["name"] for s in spans["sql"]} == {"SELECT"}
    assert {"db.statement", "db.system"} <= set(spans["sql"][0]["tags"])


def test_the_peer_with_the_same_conventions_lacks_only_what_toastsite_adds(peers, db_system):
    spans = peers["peer, same conventions"]
    for server in spans["server"]:
        assert {"http.request.method", "url.path", "client.address"} <= set(server["tags"])
        # The port stays in server.address, where toastsite keeps the host alone.
        assert ":" in server["tags"]["server.address"]
    for client in spans["client"]:
        assert client["name"] == "GET"
        assert {"url.full", "server.address", "network.peer.address"} <= set(client["tags"])
        assert not {"url.template", "peer.service"} & set(client["tags"])
    for query in spans["sql"]:
        assert query["name"] == "SELECT"
        assert {"db.query.text", "db.system.name"} <= set(query["tags"])
        ours_only = {"db.query.summary", "db.operation.name", "peer.service"}
        # The database's name: the peer records it for a server (PostgreSQL),
        # not for SQLite's file.
        if db_system == "sqlite":
            ours_only.add("db.namespace")
        assert not ours_only & set(query["tags"])
