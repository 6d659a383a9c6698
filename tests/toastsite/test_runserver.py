"""toastsite's runserver: Django's, without the 40 ms stall on kept-alive connections."""

import socket

from django.core.management import get_commands, load_command_class


def test_runserver_sends_responses_without_nagle_delay():
    # The runserver that manage.py runs: toastsite's, not staticfiles' or Django's.
    command = load_command_class(get_commands()["runserver"], "runserver")
    server = command.server_cls(("127.0.0.1", 0), None)
    with server, socket.create_connection(server.server_address):
        connection, _ = server.get_request()
        with connection:
            assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
