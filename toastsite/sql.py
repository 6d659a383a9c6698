"""SQL spans: one CLIENT span for each statement the ORM runs, following
OpenTelemetry's stable database conventions (semantic conventions 1.33).

Django calls `sql_span` around every statement, on SQLite and PostgreSQL alike
(each connection's `execute_wrappers`, the hook behind
`connection.execute_wrapper()`); tracing.setup() adds it to each connection.
"""

import functools
import re
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

_tracer = trace.get_tracer(__name__)

# The words a summary keeps: the operations, and the table after FROM, JOIN,
# INTO or UPDATE. Django quotes its table names ("toasts_toast").
_SUMMARY_WORDS = re.compile(
    r'\b(?:(SELECT|INSERT|DELETE)\b|UPDATE\s+"?(\w+)|(?:FROM|JOIN|INTO)\s+"?(\w+))',
    re.IGNORECASE,
)


def sql_span(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
    """Runs the statement inside its span, if the request is recorded.

    Only under a span that is recorded: under an unsampled one, parent-based
    sampling would drop it anyway, and skipping it early makes unsampled
    requests cheaper (docs/benchmarks.md); the summary is worked out only then.
    Queries outside a request are not traced either. The statement keeps its
    placeholders, never the values.
    """
    if not trace.get_current_span().is_recording():
        return execute(sql, params, many, context)
    summary, operation, collection = statement_summary(sql)
    db = context["connection"]
    settings = db.settings_dict
    system = db.vendor  # "sqlite", "postgresql": Django's names are the conventions'
    attributes = {
        "db.system.name": system,
        "db.namespace": str(settings["NAME"]),
        "db.query.text": sql,
        "db.query.summary": summary,
        # Zipkin's Dependencies page draws the database as a service of its own.
        "peer.service": system,
    }
    if operation:
        attributes["db.operation.name"] = operation
    if collection:
        attributes["db.collection.name"] = collection
    if settings.get("HOST"):
        attributes["server.address"] = settings["HOST"]
    if settings.get("PORT"):
        attributes["server.port"] = int(settings["PORT"])
    with _tracer.start_as_current_span(
        summary or system, kind=trace.SpanKind.CLIENT, attributes=attributes
    ):
        return execute(sql, params, many, context)


# Django sends the same few statement shapes over and over, and a summary
# costs more than the rest of the span's attributes together: each distinct
# text is summarized once. Bounded, since texts vary (IN lists of any length);
# a long text (a bulk insert) is rarely seen twice, and is not kept.
SUMMARIES_KEPT = 512
LONGEST_KEPT = 4096


def statement_summary(sql: str) -> tuple[str, str | None, str | None]:
    """`db.query.summary`, `db.operation.name` and `db.collection.name` (None
    when the statement has no operation, or more than one table) of a statement."""
    if len(sql) > LONGEST_KEPT:
        return _summary(sql)
    return _kept_summary(sql)


def _summary(sql: str) -> tuple[str, str | None, str | None]:
    operations, tables = summarize(sql)
    return (
        " ".join(operations + tables),
        operations[0] if operations else None,
        tables[0] if len(set(tables)) == 1 else None,
    )


_kept_summary = functools.lru_cache(maxsize=SUMMARIES_KEPT)(_summary)


def summarize(sql: str) -> tuple[list[str], list[str]]:
    """A statement's operations and the tables they touch, in order: what the
    conventions' `db.query.summary` and the span name are made of.

    >>> summarize('SELECT "t"."id" FROM "toasts_toast" INNER JOIN "toasts_rating" ON ...')
    (['SELECT'], ['toasts_toast', 'toasts_rating'])
    >>> summarize('SAVEPOINT "s1_x1"')
    (['SAVEPOINT'], [])
    """
    operations: list[str] = []
    tables: list[str] = []
    for operation, updated, table in _SUMMARY_WORDS.findall(sql):
        if updated:
            operation, table = "UPDATE", updated
        if operation and not tables:  # a subquery in FROM (...) comes before any table
            operations.append(operation.upper())
        if table and table not in tables:
            tables.append(table)
    if not operations and sql.strip():  # BEGIN, SAVEPOINT, SET ...: the first word
        operations.append(sql.split(None, 1)[0].upper())
    return operations, tables
