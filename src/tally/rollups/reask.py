"""A question of a recorded shape, with values drawn from the data instead of the ones asked
(which the query log never keeps): each filtered field tested against its most common values,
over whole days of the data's span in the shape's timezone. Verify asks such questions when no
whole questions are kept: they read what the recorded ones read, with other constants.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlglot import exp

from tally.catalog import Dataset
from tally.engines.base import Engine
from tally.query.fields import resolve_field
from tally.rollups.querylog import measure_of
from tally.sql.compiler import field_value
from tally.sql.duckdb import DuckDBDialect

COMMON_VALUES = 3
TIMEOUT_S = 60.0
DIALECT = DuckDBDialect()


def _span(engine: Engine, dataset: Dataset) -> tuple[datetime, datetime] | None:
    column = exp.column(dataset.time_column or "", quoted=True)
    tree = exp.select(exp.Min(this=column), exp.Max(this=column)).from_(
        exp.to_table(dataset.name, quoted=True)
    )
    _, rows = engine.execute(DIALECT.render(tree), {}, TIMEOUT_S)
    first, last = rows[0]
    return (first, last) if first is not None else None


def common_values(engine: Engine, dataset: Dataset, field: str) -> list[Any]:
    """The field's most common non-null values (ties broken by value, so runs agree): of a
    JSON key, its text, which a query's values are compared with."""
    column = field_value(DIALECT, dataset, resolve_field(dataset, field), None)
    tree = (
        exp.select(column)
        .from_(exp.to_table(dataset.name, quoted=True))
        .where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())))
        .group_by(column.copy())
        .order_by(exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), column.copy())
        .limit(COMMON_VALUES)
    )
    _, rows = engine.execute(DIALECT.render(tree), {}, TIMEOUT_S)
    return [row[0] for row in rows]


def _whole_days(first: datetime, last: datetime, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(first.astimezone(tz).date(), time.min, tz)
    end = datetime.combine(last.astimezone(tz).date() + timedelta(days=1), time.min, tz)
    return start, end


def reask(engine: Engine, dataset: Dataset, shape: dict[str, Any]) -> dict[str, Any] | None:
    """A query body of the shape over the stored rows, or None when the dataset has none."""
    span = _span(engine, dataset)
    if span is None:
        return None
    start, end = _whole_days(*span, shape["timezone"])
    tests: list[dict[str, Any]] = []
    for field in shape["filtered"]:
        values = common_values(engine, dataset, field)
        tests.append(
            {"field": field, "op": "in", "value": values}
            if values
            else {"field": field, "op": "is_null"}
        )
    groups: list[Any] = list(shape["groups"])
    if shape["bucket"] is not None:
        groups.append({"time": shape["bucket"]})
    body: dict[str, Any] = {
        "dataset": dataset.name,
        "time": {"start": start.isoformat(), "end": end.isoformat()},
        "timezone": shape["timezone"],
        "measures": [measure_of(m) for m in shape["measures"]],
        "group_by": groups,
        "limit": 10_000,
    }
    if tests:
        body["filter"] = {"and": tests}
    return body
