"""Failed logins, counted per address, so that passwords cannot be guessed.

After ADMIN_LOGIN_FAILURES failed logins from one address, each within
ADMIN_LOGIN_LOCKOUT seconds of the one before, that address's logins are
refused, even with the right password, until ADMIN_LOGIN_LOCKOUT seconds after
its last failure. The check is an authentication backend, so it covers every
password check: the admin's login form and the API's Basic authentication.
Failures are logged with the username and the address, never the password.

The count lives in Django's cache (a database table where there is a database,
so every process shares it), under the visitor's address as
apps.visitors.proxies finds it.
"""

import logging

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from apps.visitors.proxies import client_address

logger = logging.getLogger(__name__)

LOCKED = "Too many failed logins from your address. Please try again later."


def _key(address: str) -> str:
    return f"failed-logins:{address}"


def locked(request: HttpRequest) -> bool:
    """Whether logins from this request's address are refused for now."""
    return cache.get(_key(client_address(request)), 0) >= settings.ADMIN_LOGIN_FAILURES


class LimitedModelBackend(ModelBackend):
    """Django's backend (users and passwords in the database), which checks no
    password from an address that failed too often."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None and locked(request):
            # Stops authenticate(), which then sends user_login_failed.
            raise PermissionDenied
        return super().authenticate(request, username, password, **kwargs)


def count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """Receives user_login_failed: counts the failure against its address, and logs it."""
    if request is None:  # not a request's login (manage.py, a shell): nobody to count
        return
    address = client_address(request)
    # Django has replaced the password in `credentials` already; log only the name.
    username = str(credentials.get("username", ""))[:150]
    failures = cache.get(_key(address), 0)
    if failures >= settings.ADMIN_LOGIN_FAILURES:
        # Refused without a password check: not counted, so the lock ends in time.
        logger.warning("Refused login for %r from %s: too many failures", username, address)
        return
    failures += 1
    cache.set(_key(address), failures, timeout=settings.ADMIN_LOGIN_LOCKOUT)
    logger.warning(
        "Failed login for %r from %s (%d of %d)",
        username,
        address,
        failures,
        settings.ADMIN_LOGIN_FAILURES,
    )


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login form, which says when an address is locked out."""

    def get_invalid_login_error(self) -> ValidationError:
        if self.request is not None and locked(self.request):
            return ValidationError(LOCKED, code="locked")
        return super().get_invalid_login_error()
