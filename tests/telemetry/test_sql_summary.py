"""The SQL spans' summaries are kept per statement text (for speed, see
docs/benchmarks.md): a kept summary is the one worked out afresh, for the
statements the site runs and for any other, and the cache stays bounded."""

import pytest
from django.db import connection
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from toastsite.telemetry import sql


def afresh(statement: str) -> dict:
    """The span attributes that summarize() gives, without any cache."""
    return attributes_of(sql.summarize(statement))


def attributes_of(summary: sql.Summary) -> dict:
    attributes = {"db.query.summary": summary.text}
    if summary.operation:
        attributes["db.operation.name"] = summary.operation
    if summary.collection:
        attributes["db.collection.name"] = summary.collection
    return attributes


def summarized(statement: str) -> dict:
    return attributes_of(sql.statement_summary(statement))


KEYS = ("db.query.summary", "db.operation.name", "db.collection.name")


@pytest.mark.django_db
def test_the_spans_of_the_sites_statements_say_what_an_uncached_summary_says(client, spans, toast):
    sql._kept_summary.cache_clear()
    rounds = []
    for _ in range(2):  # once to fill the cache, once from it
        before = len(spans())
        client.get(reverse("api:toast-today"))
        client.get(reverse("api:toast-list"), {"page_size": 100})
        client.get(reverse("api:toast-detail", args=[toast.pk]))
        client.post(
            reverse("api:toast-ratings", args=[toast.pk]),
            {"stars": 5},
            content_type="application/json",
        )
        queries = [s for s in spans()[before:] if "db.query.text" in s.attributes]
        assert {s.name.split()[0] for s in queries} >= {"SELECT", "INSERT"}
        for span in queries:
            statement = span.attributes["db.query.text"]
            expected = afresh(statement)
            assert {k: span.attributes[k] for k in KEYS if k in span.attributes} == expected
            assert span.name == (expected["db.query.summary"] or connection.vendor)
        rounds.append(
            {s.attributes["db.query.text"]: (s.name, dict(s.attributes)) for s in queries}
        )
    again = rounds[0].keys() & rounds[1].keys()
    assert len(again) >= 4
    assert all(rounds[0][statement] == rounds[1][statement] for statement in again)
    assert sql._kept_summary.cache_info().hits >= len(again)


def test_statements_alike_but_for_their_tail_keep_summaries_of_their_own():
    columns = ", ".join(f'"toasts_toast"."c{i}"' for i in range(40))
    one = f'SELECT {columns} FROM "toasts_toast" WHERE "toasts_toast"."id" = %s'
    other = f'SELECT {columns} FROM "toasts_rating" INNER JOIN "toasts_toast" ON (x)'
    for statement in (one, other, one, other):
        assert summarized(statement) == afresh(statement)


def test_the_cache_is_bounded_and_long_statements_are_not_kept():
    sql._kept_summary.cache_clear()
    for n in range(sql.SUMMARIES_KEPT + 50):
        statement = f'SELECT "a" FROM "t{n}" WHERE "id" IN ({", ".join(["%s"] * (n % 7 + 1))})'
        assert summarized(statement) == afresh(statement)
    assert sql._kept_summary.cache_info().currsize == sql.SUMMARIES_KEPT
    sql._kept_summary.cache_clear()
    bulk = 'INSERT INTO "toasts_rating" ("stars") VALUES ' + ", ".join(["(%s)"] * 2000)
    assert len(bulk) > sql.LONGEST_KEPT
    assert (
        summarized(bulk)
        == afresh(bulk)
        == {
            "db.query.summary": "INSERT toasts_rating",
            "db.operation.name": "INSERT",
            "db.collection.name": "toasts_rating",
        }
    )
    assert sql._kept_summary.cache_info().currsize == 0


words = st.sampled_from(
    [
        "SELECT",
        "select",
        "INSERT INTO",
        "UPDATE",
        "DELETE FROM",
        "FROM",
        "JOIN",
        "INNER JOIN",
        "WHERE",
        "(",
        ")",
        "%s",
        ",",
        "=",
        "BEGIN",
        "SAVEPOINT",
        "COUNT(*)",
        "subquery",
        " ",
    ]
)
names = st.sampled_from(['"toasts_toast"', '"toasts_rating"', "toasts_ingredient", '"t"."id"'])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(words, names), max_size=25))
def test_any_statement_is_summarized_as_without_the_cache(parts):
    statement = " ".join(parts)
    for _ in range(2):  # afresh, then kept
        assert summarized(statement) == afresh(statement)
