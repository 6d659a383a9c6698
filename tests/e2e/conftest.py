"""The real Zipkin server, for the end-to-end tests.

These tests skip on a laptop without Java or Chromium, saying why. In CI
(CI=true) a missing part is a failure: there they must run.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port

ARTIFACTS = ROOT / "test-artifacts"


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the end-to-end tests")
    pytest.skip(reason)


ZIPKIN_SCRIPT = ROOT / "scripts" / "zipkin.sh"


@pytest.fixture(scope="session")
def zipkin_server(tmp_path_factory) -> Iterator[str]:
    """The official Zipkin server on a free port of 127.0.0.1, in-memory storage."""
    if shutil.which("java") is None:
        skip_or_fail("Java 17+ is not installed, so the Zipkin server cannot run")
    fetched = subprocess.run([ZIPKIN_SCRIPT, "fetch"], capture_output=True, text=True)
    if fetched.returncode != 0:
        skip_or_fail(f"could not fetch the Zipkin server: {fetched.stderr.strip()}")

    port = free_port()
    log = tmp_path_factory.mktemp("zipkin") / "zipkin.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [ZIPKIN_SCRIPT, "run", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path, timeout=90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Zipkin exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=1).json().get("status") == "UP":
                return
        except (requests.ConnectionError, ValueError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"Zipkin was not UP within {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def zipkin_site(site_server, zipkin_server):
    """The site as a real server process, sending its spans to the real Zipkin."""
    return site_server(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=f"{zipkin_server}/api/v2/spans",
        ZIPKIN_UI_URL=f"{zipkin_server}/zipkin",
    )


def fetch_trace(zipkin: str, trace_id: str, until=lambda spans: True, timeout=15) -> list[dict]:
    """Polls Zipkin's API until the trace's root span is there and `until(spans)`
    holds, then waits a moment for the last batches from every service."""
    deadline = time.monotonic() + timeout
    spans: list[dict] = []
    while time.monotonic() < deadline:
        response = requests.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5)
        if response.status_code == 200:
            spans = response.json()
            if any("parentId" not in s for s in spans) and until(spans):
                time.sleep(0.5)  # servers send a batch every 100 ms here
                return requests.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5).json()
        time.sleep(0.25)
    raise AssertionError(f"trace {trace_id} incomplete in Zipkin after {timeout}s: {spans}")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):
        skip_or_fail(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()
