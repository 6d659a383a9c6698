"""How many ratings one visitor may send: at most RATINGS_PER_MINUTE per
client address and minute, counted in Django's cache.

The default cache lives in each server process's memory, so with several
processes each counts on its own; behind a proxy, REMOTE_ADDR is the proxy's
address. A shared cache (CACHES) and the proxy's client header fix both.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def allow_rating(request: HttpRequest) -> bool:
    minute = int(time.time() // 60)
    key = f"ratings:{request.META.get('REMOTE_ADDR', '')}:{minute}"
    cache.add(key, 0, timeout=120)  # outlives its minute, so incr() finds it
    return cache.incr(key) <= settings.RATINGS_PER_MINUTE
