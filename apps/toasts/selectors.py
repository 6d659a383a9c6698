"""Reads of the toast data, shared by the API views; writes are in services.py."""

from datetime import date

from django.db.models import Count, Max, QuerySet
from opentelemetry import trace

from apps.scenarios import config as scenarios
from apps.toasts.models import Rating, RatingSummary, Toast

tracer = trace.get_tracer(__name__)


def toast_list() -> QuerySet[Toast]:
    """Toasts with their ingredients and rating summary, in a fixed number of queries."""
    toasts = Toast.objects.order_by("weekday", "name")
    if scenarios.current.n_plus_one:
        # The N+1 scenario: without the join and the prefetch, each toast's
        # summary and ingredients cost a query of their own.
        return toasts
    return toasts.select_related("summary").prefetch_related("ingredients")


def rating_summary_drifted() -> list[int]:
    """The toasts whose rating summary does not match their ratings: a rating
    it has not counted yet (its job was never published, or lost), or one
    deleted since. Two queries, whatever the number of toasts: the ratings
    grouped by toast (along the index of their toast), and the summaries."""
    ratings = {
        row["toast_id"]: (row["count"], row["newest"])
        for row in Rating.objects.order_by()
        .values("toast_id")
        .annotate(count=Count("id"), newest=Max("id"))
    }
    summaries = {
        toast_id: (count, newest)
        for toast_id, count, newest in RatingSummary.objects.values_list(
            "toast_id", "count", "newest_rating_id"
        )
    }
    return sorted(
        toast_id
        for toast_id in ratings.keys() | summaries.keys()
        if ratings.get(toast_id, (0, None)) != summaries.get(toast_id, (0, None))
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
