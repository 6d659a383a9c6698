import pytest
from django.db import IntegrityError

from apps.toasts.models import Rating, Toast, Weekday

pytestmark = pytest.mark.django_db

THE_WEEK = ["Hawaii", "Peperoni", "Cheese", "Ham", "Caprese", "Avocado", "Honey"]


def test_migrations_seed_the_talks_week_one_toast_a_day():
    toasts = list(Toast.objects.order_by("weekday"))
    assert [t.name for t in toasts] == THE_WEEK
    assert [t.weekday for t in toasts] == list(range(7))
    assert all(t.ingredients.exists() and t.description for t in toasts)


def test_weekdays_are_numbered_like_python_date_weekday():
    assert Weekday.MONDAY == 0
    assert Weekday.SUNDAY == 6
    assert Toast.objects.get(name="Honey").get_weekday_display() == "Sunday"


def test_toast_names_are_unique():
    with pytest.raises(IntegrityError):
        Toast.objects.create(name="Hawaii", weekday=Weekday.FRIDAY)


@pytest.mark.parametrize("stars", [0, 6])
def test_the_database_refuses_stars_outside_1_to_5(stars):
    with pytest.raises(IntegrityError):
        Rating.objects.create(toast=Toast.objects.first(), stars=stars)
