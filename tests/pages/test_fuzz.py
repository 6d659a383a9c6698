"""Random paths, query strings and rating posts against the pages (hypothesis):
never a 500, and nothing written unless the rating was accepted."""

import uuid
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apps.toasts.models import Rating

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
known = st.sampled_from(["", "toasts/", "api/toasts/", "api/toasts/today/", "admin/", "static/"])
paths = st.one_of(
    known,
    st.integers(min_value=-1, max_value=2**80).map(lambda n: f"toasts/{n}/"),
    st.tuples(known, text).map("".join),
).map(lambda path: "/" + quote(path))
queries = st.dictionaries(text, text | st.integers().map(str), max_size=4)


@pytest.fixture
def served_site(site_server):
    """The site under WSGI and under ASGI, tracing but exporting nothing."""
    return site_server(OTEL_TRACES_EXPORTER="none")


@FUZZ
@given(path=paths, query=queries)
@example(path="/%F0%9F%8D%9E", query={})  # outside Latin-1: once a 500 under runserver
def test_any_path_and_query_string_gets_an_answer_not_a_500(served_site, visitor, path, query):
    # A real server: what reaches Django from a socket is not what the test
    # client makes up (runserver's URLs once failed in tracing, not in Django).
    response = visitor.get(served_site.url + path, params=query, allow_redirects=False)
    assert response.status_code < 500, (path, query, response.status_code)


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["stars", "comment", "key", "other"]),
        st.one_of(text, st.integers().map(str), st.text(max_size=400), st.uuids().map(str)),
    )
)
def test_any_rating_post_is_saved_only_if_accepted(client, ratings_per_minute, toast, form):
    ratings_per_minute(10**6)  # this is about input, not the limit
    before = Rating.objects.count()
    # Hypothesis repeats values: a key already saved is accepted and saves nothing.
    repeat = saved_with_key(form.get("key"))
    response = client.post(f"/toasts/{toast.pk}/", form)
    assert response.status_code in {302, 400}, (form, response.status_code)
    saved = Rating.objects.count() - before
    assert saved == (1 if response.status_code == 302 and not repeat else 0), form


def saved_with_key(key: str | None) -> bool:
    try:
        return Rating.objects.filter(idempotency_key=uuid.UUID(key)).exists()
    except (TypeError, ValueError):
        return False
