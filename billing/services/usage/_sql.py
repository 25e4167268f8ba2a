"""The collector's few fixed reads as written-out statements, read as the ORM reads them.

The hourly task runs the same handful of small statements every time (the price table, the
recorded digests, the teams' slugs). Built through the ORM, each cost 0.2-0.9 ms of Python
(query building and compiling, cold caches between the task's other work) against ~0.1 ms for
the statement itself: a tenth of a ~12 ms task. Here a statement names its tables and columns
from the models' meta, quoted by the backend, and each value goes through the converters the
ORM would apply to that model field (the backend's and the field's own): a value reads exactly as
through a queryset, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model


def table(model: type[Model]) -> str:
    """The model's table name, quoted for this database."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], name: str) -> str:
    """The column of the model's field ``name`` (``"pk"`` for the primary key), quoted."""
    return connection.ops.quote_name(field(model, name).column)


def field(model: type[Model], name: str) -> Field:
    """The model's field ``name`` (``"pk"``: its primary key)."""
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def select(sql: str, params: Sequence, fields: Sequence[Field | None]) -> list[tuple]:
    """The rows of ``sql``: the value of column ``i`` converted as the ORM reads ``fields[i]``
    (None: as the database gives it, e.g. a count). One field per column."""
    converters = []
    for i, model_field in enumerate(fields):
        if model_field is None:
            continue
        col = model_field.get_col(model_field.model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((i, col, found))
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        if len(cursor.description) != len(fields):
            raise ValueError(f"{len(cursor.description)} columns read, {len(fields)} fields given")
        rows = cursor.fetchall()
    if not converters:
        return [tuple(row) for row in rows]
    out = []
    for row in rows:
        values = list(row)
        for i, col, found in converters:
            value = values[i]
            for convert in found:
                value = convert(value, col, connection)
            values[i] = value
        out.append(tuple(values))
    return out
