"""How often one visitor may write: DRF's scoped throttling, by visitor.

A view (or an action) names its scope, e.g. `throttle_scope = "ratings"`, and
settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] its rate ("30/min", from
RATINGS_PER_MINUTE). DRF keeps each visitor's recent requests in Django's cache,
a database table where there is a database, so all processes share the count.
"""

from django.http import HttpRequest
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from apps.visitors.proxies import client_address


class VisitorRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle for writes, counting each visitor by their address as
    apps.visitors.proxies finds it. Reads are never counted."""

    def allow_request(self, request: HttpRequest, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_rate(self) -> str:
        # DRF reads the rates once, when it is imported; read them now, so that
        # changed settings (a test's) apply.
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()

    def get_ident(self, request: HttpRequest) -> str:
        return client_address(request)
