"""A person's path: open the site in Chromium, follow the footer link into
the Zipkin UI, and see the page's spans there."""

import pytest

from tests.support.servers import ARTIFACTS
from tests.support.zipkin import fetch_trace

pytestmark = pytest.mark.e2e


def test_the_footer_link_opens_the_pages_trace_in_the_zipkin_ui(
    page, runserver_site, to_zipkin, zipkin_server
):
    site = runserver_site(**to_zipkin)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{site.url}/")
    assert page.locator(".today h1").inner_text()
    page.screenshot(path=ARTIFACTS / "home.png", full_page=True)

    link = page.locator("footer a.trace")
    trace_id = link.inner_text()
    assert link.get_attribute("href") == f"{zipkin_server}/zipkin/traces/{trace_id}"
    fetch_trace(zipkin_server, trace_id, until=lambda spans: len(spans) >= 8)

    link.click()
    page.wait_for_url(f"**/zipkin/traces/{trace_id}")
    for name in ("get home", "get /api/toasts/today/", "choose toast of the day"):
        page.get_by_text(name, exact=False).first.wait_for(timeout=15_000)
    assert "toastsite" in page.content()
    page.screenshot(path=ARTIFACTS / "zipkin-trace.png", full_page=True)
