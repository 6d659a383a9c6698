"""Writes of the toast data; reads are in selectors.py."""

import uuid
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Max

from apps.toasts import queue, selectors
from apps.toasts.exceptions import ApplicationError
from apps.toasts.models import Rating, RatingSummary, Toast


class RatingSaved(NamedTuple):
    rating: Rating
    created: bool  # False: saved before, with the same idempotency key
    summary_update: str  # how the toast's summary learns of it: queue.PUBLISHED


def rating_create(
    *, toast: Toast, stars: int, comment: str = "", idempotency_key: uuid.UUID | None = None
) -> RatingSaved:
    """Saves a rating of `toast`, once per idempotency key, and asks for the
    toast's summary to be recomputed once the rating is committed.

    A key already saved returns the rating saved with it, so a client may send
    the same rating again safely (its summary is asked for again: harmless, and
    it heals a first try whose job was never published); a key already used for
    another toast is an ApplicationError.
    """
    outcome = {"summary_update": queue.PENDING}

    def publish() -> None:
        outcome["summary_update"] = queue.rating_summary_refresh_later(toast_id=toast.pk)

    if idempotency_key and (saved := _saved_with(idempotency_key, toast)):
        transaction.on_commit(publish)
        return RatingSaved(saved, False, outcome["summary_update"])
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                toast=toast, stars=stars, comment=comment, idempotency_key=idempotency_key
            )
            # After the commit, never inside the transaction: a worker must not
            # look for a rating that is not there yet, and a rating rolled back
            # must never publish.
            transaction.on_commit(publish)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # The same key twice at the same moment: the other request saved it.
        transaction.on_commit(publish)
        return RatingSaved(_saved_with(idempotency_key, toast), False, outcome["summary_update"])
    return RatingSaved(rating, True, outcome["summary_update"])


def _saved_with(key: uuid.UUID, toast: Toast) -> Rating | None:
    rating = Rating.objects.filter(idempotency_key=key).first()
    if rating is not None and rating.toast_id != toast.pk:
        raise ApplicationError(
            "Already used for a rating of another toast.", field="Idempotency-Key"
        )
    return rating


def rating_summary_refresh(*, toast_id: object) -> RatingSummary:
    """Recomputes the summary of toast `toast_id` from its ratings (the job).

    Idempotent: it counts, it never adds one, so running it twice, late, or
    after a redelivery gives the same row. A toast that does not exist (deleted
    since, or garbage sent as its id) is an ApplicationError.
    """
    if not isinstance(toast_id, int) or isinstance(toast_id, bool):
        raise ApplicationError(f"A toast id is a whole number, not {toast_id!r}.")
    with transaction.atomic():
        # Locked (on PostgreSQL), so that two jobs of one toast write in turn.
        toast = Toast.objects.select_for_update().filter(pk=toast_id).first()
        if toast is None:
            raise ApplicationError(f"There is no toast {toast_id}: deleted, or never was.")
        ratings = Rating.objects.filter(toast=toast)
        totals = ratings.aggregate(count=Count("id"), average=Avg("stars"), newest=Max("id"))
        newest = ratings.order_by("-created_at", "-id")[: RatingSummary.RECENT]
        summary, _ = RatingSummary.objects.update_or_create(
            toast=toast,
            defaults={
                "count": totals["count"],
                "average": totals["average"],
                "newest_rating_id": totals["newest"],
                "recent": [_recent(rating) for rating in newest],
            },
        )
    return summary


def rating_summary_repair() -> list[int]:
    """Recomputes every summary that does not match its toast's ratings (the
    periodic job); returns the ids of the toasts it repaired."""
    drifted = selectors.rating_summary_drifted()
    for toast_id in drifted:
        rating_summary_refresh(toast_id=toast_id)
    return drifted


def _recent(rating: Rating) -> dict:
    return {
        "stars": rating.stars,
        "comment": rating.comment,
        "created_at": rating.created_at.isoformat(),
    }
