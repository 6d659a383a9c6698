"""Writes of the toast data; reads are in selectors.py."""

import uuid

from django.db import IntegrityError, transaction

from apps.toasts.exceptions import ApplicationError
from apps.toasts.models import Rating, Toast


def rating_create(
    *, toast: Toast, stars: int, comment: str = "", idempotency_key: uuid.UUID | None = None
) -> tuple[Rating, bool]:
    """Saves a rating of `toast`, once per idempotency key.

    Returns the rating and whether it is new. A key already saved returns the
    rating saved with it, so a client may send the same rating again safely;
    a key already used for another toast is an ApplicationError.
    """
    if idempotency_key and (saved := _saved_with(idempotency_key, toast)):
        return saved, False
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                toast=toast, stars=stars, comment=comment, idempotency_key=idempotency_key
            )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # The same key twice at the same moment: the other request saved it.
        return _saved_with(idempotency_key, toast), False
    return rating, True


def _saved_with(key: uuid.UUID, toast: Toast) -> Rating | None:
    rating = Rating.objects.filter(idempotency_key=key).first()
    if rating is not None and rating.toast_id != toast.pk:
        raise ApplicationError(
            "Already used for a rating of another toast.", field="Idempotency-Key"
        )
    return rating
