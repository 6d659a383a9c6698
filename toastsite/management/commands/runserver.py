"""Django's runserver, with Nagle's algorithm off on its connections, and the
visitor's port in REMOTE_PORT.

The development server writes a response's headers and its body as separate
small packets. On a kept-alive connection, Nagle's algorithm holds the body
back until the client acknowledges the headers, and the client delays that
ACK by about 40 ms. The pages reuse pooled connections to the API, so each API
call would stall those 40 ms. TCP_NODELAY sends the body at once.

gunicorn and uvicorn tell the application the visitor's port, and the server
span records it as `client.port`; runserver alone did not, so its spans had
one attribute less.
"""

import socket

from django.contrib.staticfiles.management.commands.runserver import (
    Command as StaticfilesRunserverCommand,
)
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer


class RequestHandler(WSGIRequestHandler):
    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ["REMOTE_PORT"] = str(self.client_address[1])
        return environ


class NoDelayWSGIServer(WSGIServer):
    def get_request(self) -> tuple[socket.socket, tuple]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def finish_request(self, request, client_address) -> None:
        RequestHandler(request, client_address, self)


class Command(StaticfilesRunserverCommand):
    server_cls = NoDelayWSGIServer
