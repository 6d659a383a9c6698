"""The pages, rendered by the test client, get their data over real HTTP
from the API on pytest-django's live server."""

import re
import socket
import time
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.pages.traffic import form_field
from apps.toasts.models import Rating, Toast
from tests.factories import rating_make
from tests.support.polling import eventually

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]


def test_home_shows_the_toast_of_the_day_and_the_week_with_ratings(client):
    today = Toast.objects.get(weekday=timezone.localdate().weekday())
    rating_make(toast=Toast.objects.exclude(pk=today.pk).first(), stars=4)
    response = client.get(reverse("pages:home"))
    assert response.status_code == 200
    assert response.context["today"]["name"] == today.name
    html = response.content.decode()
    assert f'<h1><a href="/toasts/{today.pk}/">{today.name}</a></h1>' in html
    assert html.count('<span class="day">') == 7
    assert "★ 4.0 (1)" in html


def test_home_says_so_when_no_toast_is_served_today(client):
    Toast.objects.filter(weekday=timezone.localdate().weekday()).delete()
    response = client.get(reverse("pages:home"))
    assert response.status_code == 200
    assert "No toast today" in response.content.decode()


def test_week_lists_the_toasts_with_ingredients(client):
    html = client.get(reverse("pages:week")).content.decode()
    assert "Caprese" in html
    assert "Basil, Mozzarella, Olive oil, Toast bread, Tomato" in html


def test_toast_page_has_a_csrf_protected_rating_form(client, toast):
    html = client.get(reverse("pages:toast", args=[toast.pk])).content.decode()
    assert toast.description in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="stars"' in html


def test_rating_form_posts_to_the_api_and_redirects_back_with_a_message(client, toast):
    url = reverse("pages:toast", args=[toast.pk])
    response = client.post(url, {"stars": 4, "comment": "Crunchy"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "Thanks! Your 4-star rating is saved." in response.content.decode()
    assert toast.ratings.get().comment == "Crunchy"


def test_rating_form_needs_a_csrf_token(toast):
    response = Client(enforce_csrf_checks=True).post(
        reverse("pages:toast", args=[toast.pk]), {"stars": 4}
    )
    assert response.status_code == 403
    assert not Rating.objects.exists()


def test_invalid_rating_shows_the_form_again_and_saves_nothing(client, toast):
    response = client.post(reverse("pages:toast", args=[toast.pk]), {"stars": 9})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Rating.objects.exists()


def test_unknown_toast_is_the_sites_404_page(client):
    response = client.get(reverse("pages:toast", args=[999]))
    assert response.status_code == 404
    assert "There is no such toast here" in response.content.decode()


@pytest.mark.parametrize("page", ["pages:home", "pages:week"])
def test_api_unreachable_gives_the_503_page_within_the_timeout(client, settings, page):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        settings.TOAST_API_URL = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    response = client.get(reverse(page))
    assert time.monotonic() - started < sum(settings.TOAST_API_TIMEOUT)
    assert response.status_code == 503
    html = response.content.decode()
    assert "The toast service is unavailable" in html
    assert "it could not be reached." in html


def test_api_not_answering_in_time_gives_the_503_page(client, settings):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings.TOAST_API_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings.TOAST_API_TIMEOUT = (0.5, 0.5)
        started = time.monotonic()
        response = client.get(reverse("pages:week"))
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 2
    assert "it did not answer in time." in response.content.decode()


def test_an_api_error_gives_the_503_page_that_says_so(scenarios):
    scenarios(failure_rate=1)  # every API call answers 500
    response = Client(raise_request_exception=False).get(reverse("pages:week"))
    assert response.status_code == 503
    assert "it answered with an error." in response.content.decode()


@pytest.mark.parametrize("page", ["pages:home", "pages:week", "pages:toast"])
def test_pages_answer_head_like_get_without_a_body(client, page, toast):
    args = [toast.pk] if page == "pages:toast" else []
    response = client.head(reverse(page, args=args))
    assert response.status_code == 200
    assert response.content == b""


def test_rating_while_the_api_is_down_says_it_was_not_saved(client, settings, toast):
    settings.TOAST_API_URL = "http://127.0.0.1:9"  # discard port: closed
    response = client.post(reverse("pages:toast", args=[toast.pk]), {"stars": 4})
    assert response.status_code == 503
    html = response.content.decode()
    assert "Your rating was not saved" in html
    assert "Send it again" in html


def test_the_rating_form_carries_a_new_idempotency_key_each_time(client, toast):
    url = reverse("pages:toast", args=[toast.pk])
    keys = {form_field(client.get(url).content.decode(), "key") for _ in range(2)}
    assert len(keys) == 2
    assert all(uuid.UUID(key) for key in keys)


def test_a_rating_form_sent_twice_is_saved_once(client, toast):
    url = reverse("pages:toast", args=[toast.pk])
    key = form_field(client.get(url).content.decode(), "key")
    for _ in range(2):
        assert client.post(url, {"stars": 4, "key": key}).status_code == 302
    assert toast.ratings.count() == 1


def test_a_rating_the_api_saved_after_the_page_gave_up_is_counted_once_when_sent_again(
    client, settings, scenarios, toast
):
    url = reverse("pages:toast", args=[toast.pk])
    key = form_field(client.get(url).content.decode(), "key")
    scenarios(latency_ms=600)  # the API saves it, but after the page's timeout
    settings.TOAST_API_TIMEOUT = (2, 0.2)
    response = client.post(url, {"stars": 4, "comment": "Again", "key": key})
    html = response.content.decode()
    assert response.status_code == 503
    assert "Your rating may not have been saved" in html
    assert f'<input type="hidden" name="key" value="{key}">' in html
    assert "Send it again" in html
    eventually(toast.ratings.exists, "the API to save the rating", timeout=5)
    assert toast.ratings.count() == 1  # saved by the API all the same

    scenarios(latency_ms=0)
    settings.TOAST_API_TIMEOUT = (2, 5)
    resent = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    assert client.post(url, resent).status_code == 302
    assert toast.ratings.get().comment == "Again"


def test_the_api_limits_ratings_per_visitor_and_the_form_says_so(client, ratings_per_minute, toast):
    ratings_per_minute(2)
    url = reverse("pages:toast", args=[toast.pk])
    statuses = [client.post(url, {"stars": 3}).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    limited = client.post(url, {"stars": 3, "comment": "Once more"})
    assert 1 <= int(limited["Retry-After"]) <= 60  # what the API said
    html = limited.content.decode()
    assert "You sent many ratings in a minute. Please wait a moment." in html
    assert "Once more" in html  # the form again, filled in
    assert toast.ratings.count() == 2
    # The page passes on who the visitor is: another one may still rate.
    other = client.post(url, {"stars": 3}, REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 302


def test_admin_requires_login(client):
    response = client.get(reverse("admin:toasts_toast_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    client.force_login(User.objects.create_superuser("admin", password="x"))
    html = client.get(reverse("admin:toasts_toast_changelist")).content.decode()
    assert "Hawaii" in html
    assert "By weekday" in html
