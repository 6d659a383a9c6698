"""Who the visitor is: X-Forwarded-For is believed only from trusted proxies,
and only as far as they wrote it."""

import pytest
from django.test import RequestFactory

from apps.visitors.proxies import client_address

FRONTEND, BALANCER = "10.0.0.5", "10.0.0.2"


def address(remote: str, forwarded: str | None = None) -> str:
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(RequestFactory().post("/", REMOTE_ADDR=remote, **headers))


@pytest.mark.parametrize(
    ("remote", "forwarded", "visitor"),
    [
        pytest.param("203.0.113.9", None, "203.0.113.9", id="no proxy"),
        pytest.param("203.0.113.9", "198.51.100.1", "203.0.113.9", id="from anyone else: ignored"),
        pytest.param("127.0.0.1", "198.51.100.1", "198.51.100.1", id="the monolith's pages"),
        pytest.param(
            FRONTEND, "6.6.6.6, 198.51.100.1", "198.51.100.1", id="the visitor's own entry: left"
        ),
        pytest.param(
            FRONTEND,
            f"6.6.6.6, 198.51.100.1, {BALANCER}",
            "198.51.100.1",
            id="balancer, then frontend",
        ),
        pytest.param("127.0.0.1", "127.0.0.1", "127.0.0.1", id="all trusted: a visitor here"),
        pytest.param("127.0.0.1", "nonsense, 198.51.100.1", "198.51.100.1", id="nonsense, left"),
        pytest.param(
            "127.0.0.1", "198.51.100.1, nonsense", "127.0.0.1", id="nonsense from a proxy: stop"
        ),
        pytest.param("::ffff:203.0.113.9", None, "203.0.113.9", id="IPv4 as IPv6"),
        pytest.param("::1", "2001:db8::7", "2001:db8::7", id="IPv6"),
    ],
)
def test_the_visitor_is_the_first_address_no_trusted_proxy_wrote(
    settings, remote, forwarded, visitor
):
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1", "10.0.0.0/24"]
    assert address(remote, forwarded) == visitor


def test_no_trusted_proxies_means_the_header_is_never_believed(settings):
    settings.TRUSTED_PROXIES = []
    assert address("127.0.0.1", "198.51.100.1") == "127.0.0.1"


def test_a_host_name_is_trusted_as_what_it_resolves_to(settings):
    settings.TRUSTED_PROXIES = ["no-such-host.invalid", "localhost"]
    assert address("127.0.0.1", "198.51.100.1") == "198.51.100.1"
    settings.TRUSTED_PROXIES = ["no-such-host.invalid"]
    assert address("127.0.0.1", "198.51.100.1") == "127.0.0.1"
