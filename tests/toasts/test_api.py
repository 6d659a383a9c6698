import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from apps.toasts.models import Rating, Toast
from tests.factories import rating_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def hawaii() -> Toast:
    return Toast.objects.get(name="Hawaii")


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_user("chef", password="x", is_staff=True))
    return client


def toast_url(toast: Toast) -> str:
    return reverse("api:toast-detail", args=[toast.pk])


def ratings_url(toast: Toast) -> str:
    return reverse("api:toast-ratings", args=[toast.pk])


def test_list_is_paginated_with_ingredients_and_rating_summary(client, hawaii):
    rating_make(toast=hawaii, stars=4)
    rating_make(toast=hawaii, stars=5)
    body = client.get(reverse("api:toast-list")).json()
    assert body["count"] == 7
    assert body["next"] is None
    first = body["results"][0]
    assert first["name"] == "Hawaii"
    assert first["weekday_name"] == "Monday"
    assert "Pineapple" in first["ingredients"]
    assert first["rating"] == {"count": 2, "average": 4.5}
    assert body["results"][1]["rating"] == {"count": 0, "average": None}


def test_list_pages_by_page_size(client):
    body = client.get(reverse("api:toast-list"), {"page_size": 3}).json()
    assert len(body["results"]) == 3
    assert body["next"]


def test_page_size_is_capped_at_100(client):
    Toast.objects.bulk_create(Toast(name=f"Toast {n}", weekday=n % 7) for n in range(100))
    body = client.get(reverse("api:toast-list"), {"page_size": 1000}).json()
    assert body["count"] == 107
    assert len(body["results"]) == 100


def test_list_filters_by_weekday(client):
    body = client.get(reverse("api:toast-list"), {"weekday": 4}).json()
    assert [t["name"] for t in body["results"]] == ["Caprese"]


def test_list_runs_the_same_number_of_queries_whatever_the_number_of_toasts(
    client, django_assert_num_queries
):
    # count, toasts joined with their rating summary, their ingredients
    with django_assert_num_queries(3):
        client.get(reverse("api:toast-list"))
    for n in range(20):
        toast = Toast.objects.create(name=f"Extra {n}", weekday=n % 7)
        toast.ingredients.add(*Toast.objects.get(name="Ham").ingredients.all())
        rating_make(toast=toast, stars=3)
    with django_assert_num_queries(3):
        body = client.get(reverse("api:toast-list"), {"page_size": 100}).json()
    assert body["count"] == 27


def test_detail(client, hawaii):
    body = client.get(toast_url(hawaii)).json()
    assert body["id"] == hawaii.pk
    assert body["name"] == "Hawaii"


@pytest.mark.parametrize(
    ("day", "name"), [("2026-11-23", "Hawaii"), ("2026-11-27", "Caprese"), ("2026-11-29", "Honey")]
)
def test_today_takes_an_optional_date(client, day, name):
    response = client.get(reverse("api:toast-today"), {"date": day})
    assert response.status_code == 200
    assert response.json()["name"] == name


def test_today_defaults_to_the_servers_date(client, settings):
    from django.utils import timezone

    expected = Toast.objects.get(weekday=timezone.localdate().weekday()).name
    assert client.get(reverse("api:toast-today")).json()["name"] == expected


def test_today_is_a_json_404_when_no_toast_is_served_that_day(client, hawaii):
    hawaii.delete()
    response = client.get(reverse("api:toast-today"), {"date": "2026-11-23"})
    assert response.status_code == 404
    assert response.json() == {"detail": "No toast is served on Monday 2026-11-23."}


def test_anyone_may_rate_a_toast(client, hawaii):
    response = client.post(
        ratings_url(hawaii), {"stars": 5, "comment": "Aloha!"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json()["stars"] == 5
    assert hawaii.ratings.get().comment == "Aloha!"


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("api:toast-list", {"weekday": "9"}, "weekday"),
        ("api:toast-list", {"weekday": "monday"}, "weekday"),
        ("api:toast-today", {"date": "2026-13-01"}, "date"),
        ("api:toast-today", {"date": "tomorrow"}, "date"),
    ],
)
def test_bad_query_parameters_are_a_json_400(client, url, params, field):
    response = client.get(reverse(url), params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "payload",
    [{"stars": 0}, {"stars": 6}, {"stars": "five"}, {}, {"stars": 3, "comment": "x" * 281}],
)
def test_invalid_ratings_are_a_json_400_and_nothing_is_saved(client, hawaii, payload):
    response = client.post(ratings_url(hawaii), payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()
    assert not Rating.objects.exists()


def test_malformed_json_is_a_json_400(client, hawaii):
    response = client.post(ratings_url(hawaii), "{stars: 5", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize("url", ["api:toast-detail", "api:toast-ratings"])
def test_unknown_toast_is_a_json_404(client, url):
    method = client.get if url == "api:toast-detail" else client.post
    response = method(reverse(url, args=[999]), {"stars": 3}, content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Toast matches the given query."}


def test_only_staff_may_create_update_and_delete(client, hawaii):
    payload = {"name": "Nutella", "weekday": 6, "ingredients": ["Toast bread"]}
    assert client.post(reverse("api:toast-list"), payload).status_code == 403
    assert client.patch(toast_url(hawaii), {"name": "X"}, "application/json").status_code == 403
    assert client.delete(toast_url(hawaii)).status_code == 403
    client.force_login(User.objects.create_user("guest", password="x"))
    assert client.delete(toast_url(hawaii)).status_code == 403
    assert Toast.objects.filter(name="Hawaii").exists()


def test_staff_can_create_update_and_delete(staff_client, hawaii):
    payload = {"name": "Nutella", "weekday": 6, "ingredients": ["Toast bread", "Butter"]}
    response = staff_client.post(reverse("api:toast-list"), payload, "application/json")
    assert response.status_code == 201
    assert response.json()["rating"] == {"count": 0, "average": None}
    created = Toast.objects.get(name="Nutella")
    assert sorted(created.ingredients.values_list("name", flat=True)) == ["Butter", "Toast bread"]

    response = staff_client.patch(toast_url(hawaii), {"weekday": 4}, "application/json")
    assert response.status_code == 200
    assert response.json()["weekday_name"] == "Friday"

    assert staff_client.delete(toast_url(hawaii)).status_code == 204
    assert not Toast.objects.filter(name="Hawaii").exists()


def test_staff_writes_are_validated(staff_client):
    payload = {"name": "Hawaii", "weekday": 7, "ingredients": ["Unobtainium"]}
    response = staff_client.post(reverse("api:toast-list"), payload, "application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"name", "weekday", "ingredients"}


def test_every_path_in_the_schema_is_listed_once_and_answers(client, hawaii):
    paths = client.get(reverse("api:schema"), {"format": "json"}).json()["paths"]
    assert not [path for path in paths if "{format}" in path]  # no twin for today.json
    for path, operations in paths.items():
        url = path.replace("{id}", str(hawaii.pk))
        for method in operations:
            response = client.generic(method.upper(), url, "{}", "application/json")
            assert response.status_code not in {404, 405}, (method, url)
            assert response.status_code < 500, (method, url, response.status_code)


@pytest.mark.parametrize("debug", [False, True], ids=["debug off", "debug on"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_to_a_url_without_its_slash_is_a_404_not_a_500(client, settings, debug, method):
    settings.DEBUG = debug  # Django's APPEND_SLASH raises a RuntimeError under DEBUG
    response = client.generic(method, "/api/toasts/1", "{}", "application/json")
    assert response.status_code == 404
    assert client.get("/api/toasts").status_code == 301  # reads are still redirected


def test_openapi_schema_describes_the_endpoints(client):
    response = client.get(reverse("api:schema"), {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/toasts/", "/api/toasts/{id}/", "/api/toasts/today/"} <= set(paths)
    assert "post" in paths["/api/toasts/{id}/ratings/"]


def test_interactive_docs_and_browsable_api_are_served(client):
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    browsable = client.get(reverse("api:toast-list"), HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200
    assert b"Toast List" in browsable.content


def test_a_rating_sent_again_with_its_idempotency_key_is_saved_once(client, hawaii):
    key = "6f1c8a52-3c1e-4f55-9a43-2b8e0d7d9a10"
    first = client.post(
        ratings_url(hawaii), {"stars": 5}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    again = client.post(
        ratings_url(hawaii), {"stars": 5}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert hawaii.ratings.count() == 1
    assert str(hawaii.ratings.get().idempotency_key) == key


def test_ratings_without_a_key_are_each_saved(client, hawaii):
    for _ in range(2):
        client.post(ratings_url(hawaii), {"stars": 3}, content_type="application/json")
    assert hawaii.ratings.count() == 2


@pytest.mark.parametrize("key", ["not-a-uuid", ""])
def test_a_malformed_idempotency_key_is_a_json_400(client, hawaii, key):
    response = client.post(
        ratings_url(hawaii), {"stars": 5}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not Rating.objects.exists()


def test_an_idempotency_key_is_bound_to_its_toast(client, hawaii, toast):
    key = "0b9e3a4c-8d2f-4e0a-9b7c-1a2b3c4d5e6f"
    client.post(
        ratings_url(hawaii), {"stars": 5}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    response = client.post(
        ratings_url(toast), {"stars": 1}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert response.json() == {"Idempotency-Key": ["Already used for a rating of another toast."]}
    assert not toast.ratings.exists()


def test_a_request_body_over_64_kib_is_a_400_and_nothing_is_saved(client, hawaii):
    # A valid rating, padded with a field the API ignores: only the size is wrong.
    body = {"stars": 5, "padding": "x" * 64 * 1024}
    response = client.post(ratings_url(hawaii), body, content_type="application/json")
    assert response.status_code == 400
    assert not Rating.objects.exists()


def test_format_suffixes_work_on_the_extra_actions_too(client, hawaii):
    today = client.get("/api/toasts/today.json", {"date": "2026-11-23"})
    assert (today.status_code, today.json()["name"]) == (200, "Hawaii")
    rated = client.post(
        f"/api/toasts/{hawaii.pk}/ratings.json", {"stars": 2}, content_type="application/json"
    )
    assert rated.status_code == 201
