"""Who is asking: the visitor's address, as the limits count visitors.

REMOTE_ADDR is the one address nobody can forge over TCP, but behind a proxy
it is the proxy's. Each proxy appends the address it was contacted from to
X-Forwarded-For, so the header's last entries are the ones our proxies wrote,
and anything before them is whatever the visitor sent, which anyone can make
up. So the header is read from the right, starting at REMOTE_ADDR: each address
is believed about the one before it only while it is a trusted proxy
(settings.TRUSTED_PROXIES); the first address that is not one is the visitor's.

DRF's own way, NUM_PROXIES, takes the Nth address from the right whoever sent
the header: a visitor who talks to the API directly would choose their own.

TRUSTED_PROXIES' default, this machine, covers the monolith, whose pages call
its API from here, and `make split`; compose names the frontend's host, looked
up when a request needs it; behind a load balancer, add the balancer's addresses.
"""

import ipaddress
import socket

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(request: HttpRequest) -> str:
    """The visitor's address, believing X-Forwarded-For only from trusted proxies."""
    remote = request.META.get("REMOTE_ADDR", "")
    address = _parse(remote)
    if address is None:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",")] if forwarded else []
    while hops and is_trusted_proxy(address):
        previous = _parse(hops.pop())
        if previous is None:
            break  # a proxy we trust passed on something that is no address: stop at it
        address = previous
    return str(address)


def is_trusted_proxy(address: IPAddress) -> bool:
    for proxy in settings.TRUSTED_PROXIES:
        try:
            if address in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:  # a host name: whatever it resolves to now
            if address in _resolve(proxy):
                return True
    return False


def _resolve(host: str) -> set[IPAddress]:
    # Looked up each time: in compose the frontend may start, or move, after the API.
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return set()
    return {addr for info in infos if (addr := _parse(info[4][0])) is not None}


def _parse(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 visitor of a dual-stack server arrives as ::ffff:a.b.c.d.
    return getattr(address, "ipv4_mapped", None) or address
