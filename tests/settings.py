"""Settings of the in-process tests: the site's own, and what every such test needs.

Server processes that the tests start run with the site's settings, as users do.
"""

from toastsite.settings import *  # noqa: F403
from toastsite.settings import DATABASES

# Nothing is counted (ratings, failed logins) unless a test asks for a cache of
# its own (the `counting_cache` fixture): no test sees another's counts.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

# The live server's threads must not keep connections open past a test:
# PostgreSQL would refuse to drop the test database at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0

# The tests make users; a fast hash is enough for them.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
