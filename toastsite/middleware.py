from django.http import HttpRequest
from django.middleware.common import CommonMiddleware


class SafeAppendSlashMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, whose APPEND_SLASH redirects only reads.

    A redirect cannot carry a POST, PUT, PATCH or DELETE body along: Django
    answers those with a 500 under DEBUG (a RuntimeError meant for the
    developer) and a body-losing 301 otherwise. Here they get the 404 their
    URL deserves, under either setting.
    """

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        return request.method in ("GET", "HEAD") and super().should_redirect_with_slash(request)
