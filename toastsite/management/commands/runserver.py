"""Django's runserver, with Nagle's algorithm off on its connections.

The development server writes a response's headers and its body as separate
small packets. On a kept-alive connection, Nagle's algorithm holds the body
back until the client acknowledges the headers, and the client delays that
ACK by about 40 ms. The pages reuse pooled connections to the API, so each API
call would stall those 40 ms. TCP_NODELAY sends the body at once.
"""

import socket

from django.contrib.staticfiles.management.commands.runserver import (
    Command as StaticfilesRunserverCommand,
)
from django.core.servers.basehttp import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    def get_request(self) -> tuple[socket.socket, tuple]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class Command(StaticfilesRunserverCommand):
    server_cls = NoDelayWSGIServer
