"""SQL spans: one CLIENT span for each statement the ORM runs, following
OpenTelemetry's stable database conventions (semantic conventions 1.33).

Django calls `sql_span` around every statement, on SQLite and PostgreSQL alike
(each connection's `execute_wrappers`, the hook behind
`connection.execute_wrapper()`); setup.py adds it to each connection.
"""

import functools
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from opentelemetry import trace

_tracer = trace.get_tracer(__name__)

# A statement's words, as a summary reads them: names (quoted or not, maybe
# qualified, "schema"."table"), and the parentheses and commas between them.
_TOKENS = re.compile(r'(?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))*|[(),]')
_OPERATIONS = {"SELECT", "INSERT", "UPDATE", "DELETE"}
_TARGET_NEXT = {"FROM", "JOIN", "INTO", "UPDATE"}  # the name after these is a table


class Summary(NamedTuple):
    text: str  # db.query.summary, and the span's name
    operation: str | None  # db.operation.name: the first operation
    tables: tuple[str, ...]  # the tables it names, in order

    @property
    def collection(self) -> str | None:
        """db.collection.name: the table, where the statement names only one."""
        return self.tables[0] if len(set(self.tables)) == 1 else None


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
    summary = statement_summary(sql)
    db = context["connection"]
    settings = db.settings_dict
    system = db.vendor  # "sqlite", "postgresql": Django's names are the conventions'
    attributes = {
        "db.system.name": system,
        "db.namespace": str(settings["NAME"]),
        "db.query.text": sql,
        "db.query.summary": summary.text,
        # Zipkin's Dependencies page draws the database as a service of its own.
        "peer.service": system,
    }
    if summary.operation:
        attributes["db.operation.name"] = summary.operation
    if summary.collection:
        attributes["db.collection.name"] = summary.collection
    if settings.get("HOST"):
        attributes["server.address"] = settings["HOST"]
    if settings.get("PORT"):
        attributes["server.port"] = int(settings["PORT"])
    name = attributes["db.query.summary"] or system
    with _tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes):
        return execute(sql, params, many, context)


# Django sends the same few statement shapes over and over, and a summary
# costs more than the rest of the span's attributes together: each distinct
# text is summarized once. Bounded, since texts vary (IN lists of any length);
# a long text (a bulk insert) is rarely seen twice, and is not kept.
SUMMARIES_KEPT = 512
LONGEST_KEPT = 4096


def statement_summary(sql: str) -> "Summary":
    """summarize(sql), worked out once per distinct statement text."""
    return summarize(sql) if len(sql) > LONGEST_KEPT else _kept_summary(sql)


def summarize(sql: str) -> Summary:
    """A statement's summary, as the conventions generate one: each operation and
    each table it names, in the order they come (a subquery in FROM (...) is a
    table with no name). Django quotes every table name; the summary leaves the
    quotes out, so that names read as they do in the admin.

    >>> summarize('SELECT "t"."id" FROM "toasts_toast" INNER JOIN "toasts_rating" ON ...').text
    'SELECT toasts_toast toasts_rating'
    >>> summarize('SAVEPOINT "s1_x1"').text
    'SAVEPOINT'
    """
    parts: list[str] = []
    operations: list[str] = []
    tables: list[str] = []
    table_next = in_table_list = False
    for token in _TOKENS.findall(sql):
        word = token.upper()
        if token in "(),":
            # "FROM (" opens a table with no name; a comma in FROM a, b names another.
            table_next = token == "," and in_table_list
            in_table_list = in_table_list and token == ","
        elif table_next:
            name = token.replace('"', "")
            parts.append(name)
            tables.append(name)
            table_next = False
        elif word in _OPERATIONS:
            parts.append(word)
            operations.append(word)
            table_next = word == "UPDATE"
        elif word in _TARGET_NEXT:
            table_next = True
            in_table_list = word in {"FROM", "JOIN"}
        elif in_table_list and word in {"WHERE", "ON", "GROUP", "ORDER", "LIMIT", "SET"}:
            in_table_list = False
    if not parts and sql.strip():  # BEGIN, SAVEPOINT, SET ...: the first word
        parts.append(sql.split(None, 1)[0].upper())
        operations.append(parts[0])
    return Summary(" ".join(parts), operations[0] if operations else None, tuple(tables))


_kept_summary = functools.lru_cache(maxsize=SUMMARIES_KEPT)(summarize)
