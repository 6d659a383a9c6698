"""Reads of the toast data, shared by the API views; writes are in services.py."""

from datetime import date

from django.db.models import Avg, Count, QuerySet
from opentelemetry import trace

from apps.scenarios import config as scenarios
from apps.toasts.models import Toast

tracer = trace.get_tracer(__name__)


def toast_list() -> QuerySet[Toast]:
    """Toasts with their ingredients and rating summary, in a fixed number of queries."""
    if scenarios.current.n_plus_one:
        # The N+1 scenario: without prefetch and annotation, each toast's
        # ingredients and ratings cost a query of their own.
        return Toast.objects.order_by("weekday", "name")
    # Explicitly ordered: Django drops Meta.ordering from GROUP BY queries.
    return (
        Toast.objects.prefetch_related("ingredients")
        .annotate(rating_count=Count("ratings"), rating_average=Avg("ratings__stars"))
        .order_by("weekday", "name")
    )


def toast_choose(*, on: date) -> Toast | None:
    """The toast served on the weekday of `on`, or None if that day has none.

    Its own span shows this business step in the trace, with the week it chose
    from as an event: the twin of the talk's `Toasts = [...]` span log.
    """
    with tracer.start_as_current_span("choose toast of the day") as span:
        week = list(toast_list())
        span.add_event("Toasts", {"toasts": [f"{t.name} {t.get_weekday_display()}" for t in week]})
        span.set_attribute("toast.date", on.isoformat())
        toast = next((t for t in week if t.weekday == on.weekday()), None)
        if toast is not None:
            span.set_attribute("toast.name", toast.name)
            span.set_attribute("toast.weekday", toast.get_weekday_display())
        return toast
