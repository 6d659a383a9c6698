"""Test data of a test's own: a toast or a rating, differing only in what the test says."""

import itertools

from apps.toasts import services
from apps.toasts.models import Ingredient, Rating, Toast, Weekday

_numbers = itertools.count(1)


def toast_make(
    *,
    name: str | None = None,
    weekday: int = Weekday.MONDAY,
    description: str = "A toast made for a test.",
    ingredients: tuple[str, ...] = ("Toast bread", "Butter"),
) -> Toast:
    toast = Toast.objects.create(
        name=name or f"Test toast {next(_numbers)}", weekday=weekday, description=description
    )
    toast.ingredients.set([Ingredient.objects.get_or_create(name=n)[0] for n in ingredients])
    return toast


def rating_make(*, toast: Toast, stars: int = 4, comment: str = "") -> Rating:
    """A rating, counted in its toast's summary as the site's job counts it."""
    rating = Rating.objects.create(toast=toast, stars=stars, comment=comment)
    services.rating_summary_refresh(toast_id=toast.pk)
    return rating
