"""Shaping an engine's answer (`tally.shaping`): naming rows, filling buckets, joining a compare.

Inputs come through the public path: a request body is validated and normalized with a fixed
`now`, then compiled by the real `Compiler` for a tenant scope, so these tests do not depend on
the fields of `Compiled`; engine answers are `Frame`s built by hand, as `test_frame.py` does.
Every expected row is written out here (bucket starts as local dates in the query's timezone).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from tally.catalog import Catalog
from tally.engines.frame import Frame
from tally.query.limits import Limits
from tally.query.model import CompareRange, Query
from tally.query.normalize import normalize
from tally.query.scope import Scope
from tally.query.validate import validate
from tally.shaping import fill_buckets, join_previous, name_rows
from tally.sql.compiler import Compiled, Compiler
from tally.sql.duckdb import DuckDBDialect

NOW = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)
LIMITS = Limits()
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def compile_body(catalog: Catalog, count_rows: bool = False, **body: Any) -> tuple[Query, Compiled]:
    """Validate, normalize at NOW and compile a query on agent_events, as the service does."""
    query = Query.model_validate({"dataset": "agent_events", **body})
    dataset = catalog.get(query.dataset)
    assert dataset is not None
    validate(query, dataset, LIMITS)
    normalized = normalize(query, NOW, LIMITS)
    compiler = Compiler(DuckDBDialect(), dataset, Scope(columns={"workspace_id": ("ws_a",)}))
    return normalized, compiler.compile(normalized, count_rows=count_rows)


def aliases(compiled: Compiled, *names: str) -> list[str]:
    """The engine's column names for these output names (as the statement's aliases)."""
    return [compiled.alias_of(name) for name in names]


def ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def at(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz)


def labels(rows: list[dict[str, Any]]) -> list[str]:
    return [row["time"].isoformat() for row in rows]


# --- name_rows -----------------------------------------------------------------------------------


def test_rows_are_named_by_group_time_and_measure(catalog: Catalog) -> None:
    _, compiled = compile_body(
        catalog,
        time={"start": "2026-11-22T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
        timezone="Europe/Paris",
        group_by=["event_type", {"time": "1 hour"}],
        measures=[{"op": "count"}, {"op": "sum", "field": "amount", "as": "revenue"}],
    )
    ten, eleven = datetime(2026, 11, 22, 10, tzinfo=UTC), datetime(2026, 11, 22, 11, tzinfo=UTC)
    frame = Frame(
        aliases(compiled, "event_type", "time", "count", "revenue"),
        tuples=[
            ("purchase", ms(ten), 3, Decimal("12.50")),
            ("view", ms(ten), 1, None),
            (None, ms(eleven), 2, Decimal("1.25")),
        ],
    )
    rows, totals = name_rows(compiled, frame, PARIS)
    assert rows == [
        {
            "event_type": "purchase",
            "time": at(PARIS, 2026, 11, 22, 11),
            "count": 3,
            "revenue": 12.5,
        },
        {"event_type": "view", "time": at(PARIS, 2026, 11, 22, 11), "count": 1, "revenue": None},
        {"event_type": None, "time": at(PARIS, 2026, 11, 22, 12), "count": 2, "revenue": 1.25},
    ]
    assert labels(rows) == ["2026-11-22T11:00:00+01:00"] * 2 + ["2026-11-22T12:00:00+01:00"]
    assert [type(r["revenue"]) for r in rows] == [float, type(None), float]
    assert [type(r["count"]) for r in rows] == [int, int, int]
    assert totals == {"total_rows": None, "total_groups": None}


def test_bucket_starts_carry_the_timezone_offset_of_their_instant(catalog: Catalog) -> None:
    _, compiled = compile_body(
        catalog,
        time={"start": "2026-11-01T04:00:00Z", "end": "2026-11-01T08:00:00Z"},
        timezone="America/New_York",
        group_by=[{"time": "1 hour"}],
    )
    hours = [datetime(2026, 11, 1, h, tzinfo=UTC) for h in (5, 6)]
    frame = Frame(aliases(compiled, "time", "count"), tuples=[(ms(h), 1) for h in hours])
    rows, _ = name_rows(compiled, frame, NEW_YORK)
    assert labels(rows) == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]


def test_the_row_count_before_the_limit_is_a_total_not_a_column(catalog: Catalog) -> None:
    _, compiled = compile_body(catalog, count_rows=True, group_by=["event_type"])
    assert compiled.total_rows_alias is not None
    names = [*aliases(compiled, "event_type", "count"), compiled.total_rows_alias]
    frame = Frame(names, tuples=[("purchase", 5, 7), ("view", 4, 7)])
    rows, totals = name_rows(compiled, frame, UTC_ZONE)
    assert rows == [{"event_type": "purchase", "count": 5}, {"event_type": "view", "count": 4}]
    assert totals == {"total_rows": 7, "total_groups": None}
    empty_rows, empty_totals = name_rows(compiled, Frame(names, []), UTC_ZONE)
    assert empty_rows == [] and empty_totals == {"total_rows": None, "total_groups": None}


def test_the_other_row_is_labelled_in_every_group(catalog: Catalog) -> None:
    _, compiled = compile_body(
        catalog, group_by=["event_type", "agent_id"], top={"n": 2}, measures=[{"op": "count"}]
    )
    assert compiled.other_alias is not None and compiled.total_groups_alias is not None
    frame = Frame(
        [
            *aliases(compiled, "event_type", "agent_id"),
            compiled.other_alias,
            *aliases(compiled, "count"),
            compiled.total_groups_alias,
        ],
        tuples=[
            ("purchase", "ag_1", False, 10, 5),
            (None, None, False, 7, 5),  # a real group whose keys are null
            (None, None, True, 4, 5),  # the folded rest
        ],
    )
    rows, totals = name_rows(compiled, frame, UTC_ZONE)
    assert rows == [
        {"event_type": "purchase", "agent_id": "ag_1", "__other__": False, "count": 10},
        {"event_type": None, "agent_id": None, "__other__": False, "count": 7},
        {"event_type": "__other__", "agent_id": "__other__", "__other__": True, "count": 4},
    ]
    assert totals == {"total_rows": None, "total_groups": 5}


def test_other_flags_become_booleans(catalog: Catalog) -> None:
    """Engines give the flag as 0/1 or as a boolean; either way it is a bool."""
    _, compiled = compile_body(catalog, group_by=["event_type"], top={"n": 1})
    assert compiled.other_alias is not None and compiled.total_groups_alias is not None
    names = [compiled.alias_of("event_type"), compiled.other_alias, compiled.alias_of("count")]
    frame = Frame(
        [*names, compiled.total_groups_alias], tuples=[("view", 0, 3, 2), (None, 1, 2, 2)]
    )
    rows, _ = name_rows(compiled, frame, UTC_ZONE)
    assert [(r["event_type"], r["__other__"]) for r in rows] == [
        ("view", False),
        ("__other__", True),
    ]
    assert all(type(r["__other__"]) is bool for r in rows)


def test_an_arrow_answer_names_the_same_rows(catalog: Catalog) -> None:
    _, compiled = compile_body(
        catalog,
        time={"start": "2026-11-22T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
        timezone="Asia/Kathmandu",
        group_by=["event_type", {"time": "1 day"}],
        measures=[{"op": "sum", "field": "quantity"}, {"op": "avg", "field": "amount"}],
    )
    day = datetime(2026, 11, 21, 18, 15, tzinfo=UTC)  # 22 November 00:00 +05:45
    count = 70  # enough rows for the shared-value path of the Arrow reader
    names = aliases(compiled, "event_type", "time", "sum_quantity", "avg_amount")
    values = [
        pa.array([f"type_{i % 3}" for i in range(count)]),
        pa.array([ms(day)] * count, pa.int64()),
        pa.array([Decimal(i) for i in range(count)], pa.decimal128(38, 0)),
        pa.array([Decimal(i) / 4 for i in range(count)], pa.decimal128(38, 2)),
    ]
    table = pa.table(dict(zip(names, values, strict=True)))
    rows, _ = name_rows(compiled, Frame(table.column_names, table=table), KATHMANDU)
    assert len(rows) == count
    assert rows[5] == {
        "event_type": "type_2",
        "time": at(KATHMANDU, 2026, 11, 22),
        "sum_quantity": 5,
        "avg_amount": 1.25,
    }
    assert rows[5]["time"].isoformat() == "2026-11-22T00:00:00+05:45"
    assert {type(r["sum_quantity"]) for r in rows} == {int}
    assert {type(r["avg_amount"]) for r in rows} == {float}


# --- fill_buckets --------------------------------------------------------------------------------

PARIS_DAYS = {
    "time": {"start": "2026-10-24T00:00:00+02:00", "end": "2026-10-27T00:00:00+01:00"},
    "timezone": "Europe/Paris",
    "group_by": ["event_type", {"time": "1 day"}],
}
OCT_24, OCT_25, OCT_26 = at(PARIS, 2026, 10, 24), at(PARIS, 2026, 10, 25), at(PARIS, 2026, 10, 26)


def test_fill_zero_gives_every_local_day_to_every_group(catalog: Catalog) -> None:
    query, compiled = compile_body(catalog, fill="zero", **PARIS_DAYS)
    rows = [
        {"event_type": "purchase", "time": OCT_25, "count": 3},
        {"event_type": "view", "time": OCT_24, "count": 1},
    ]
    filled = fill_buckets(query, rows, compiled)
    assert filled == [
        {"event_type": "purchase", "time": OCT_24, "count": 0},
        {"event_type": "view", "time": OCT_24, "count": 1},
        {"event_type": "purchase", "time": OCT_25, "count": 3},
        {"event_type": "view", "time": OCT_25, "count": 0},
        {"event_type": "purchase", "time": OCT_26, "count": 0},
        {"event_type": "view", "time": OCT_26, "count": 0},
    ]
    # the 25th lasts 25 hours: the 26th starts at midnight CET
    assert labels(filled)[::2] == [
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]


def test_fill_null_fills_every_measure_with_null(catalog: Catalog) -> None:
    measures = [{"op": "count"}, {"op": "avg", "field": "amount", "as": "avg"}]
    query, compiled = compile_body(catalog, fill="null", measures=measures, **PARIS_DAYS)
    rows = [{"event_type": "view", "time": OCT_25, "count": 2, "avg": 4.5}]
    assert fill_buckets(query, rows, compiled) == [
        {"event_type": "view", "time": OCT_24, "count": None, "avg": None},
        {"event_type": "view", "time": OCT_25, "count": 2, "avg": 4.5},
        {"event_type": "view", "time": OCT_26, "count": None, "avg": None},
    ]


def test_without_groups_an_empty_answer_is_every_bucket(catalog: Catalog) -> None:
    query, compiled = compile_body(
        catalog,
        time={"start": "2026-11-01T04:00:00Z", "end": "2026-11-01T08:00:00Z"},
        timezone="America/New_York",
        group_by=[{"time": "1 hour"}],
        fill="zero",
    )
    filled = fill_buckets(query, [], compiled)
    assert [r["count"] for r in filled] == [0, 0, 0, 0]
    assert labels(filled) == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


def test_with_groups_an_empty_answer_stays_empty(catalog: Catalog) -> None:
    query, compiled = compile_body(catalog, fill="zero", **PARIS_DAYS)
    assert fill_buckets(query, [], compiled) == []


def test_a_window_starting_mid_bucket_fills_from_that_bucket(catalog: Catalog) -> None:
    query, compiled = compile_body(
        catalog,
        time={"start": "2026-11-21T22:30:00Z", "end": "2026-11-23T00:00:00Z"},
        timezone="Asia/Kolkata",
        group_by=[{"time": "1 day"}],
        fill="zero",
    )
    filled = fill_buckets(query, [], compiled)
    # 22:30Z on the 21st is 04:00 IST on the 22nd; midnight IST on the 23rd is 18:30Z on the 22nd
    assert labels(filled) == ["2026-11-22T00:00:00+05:30", "2026-11-23T00:00:00+05:30"]


def test_fill_applies_order_offset_and_limit(catalog: Catalog) -> None:
    query, compiled = compile_body(
        catalog,
        fill="zero",
        order_by=[{"field": "count", "dir": "desc"}],
        limit=3,
        offset=1,
        **PARIS_DAYS,
    )
    rows = [
        {"event_type": "purchase", "time": OCT_25, "count": 3},
        {"event_type": "view", "time": OCT_24, "count": 1},
        {"event_type": "view", "time": OCT_26, "count": 2},
    ]
    # by count desc, then time, then event_type: (p,25,3) (v,26,2) (v,24,1) (p,24,0) (v,25,0) ...
    assert fill_buckets(query, rows, compiled) == [
        {"event_type": "view", "time": OCT_26, "count": 2},
        {"event_type": "view", "time": OCT_24, "count": 1},
        {"event_type": "purchase", "time": OCT_24, "count": 0},
    ]


def test_fill_keeps_the_other_row_last_in_each_bucket(catalog: Catalog) -> None:
    query, compiled = compile_body(catalog, fill="zero", top={"n": 1}, **PARIS_DAYS)
    rows = [
        {"event_type": "view", "time": OCT_24, "__other__": False, "count": 5},
        {"event_type": "__other__", "time": OCT_25, "__other__": True, "count": 2},
    ]
    filled = fill_buckets(query, rows, compiled)
    assert [(r["time"], r["event_type"], r["__other__"], r["count"]) for r in filled] == [
        (OCT_24, "view", False, 5),
        (OCT_24, "__other__", True, 0),
        (OCT_25, "view", False, 0),
        (OCT_25, "__other__", True, 2),
        (OCT_26, "view", False, 0),
        (OCT_26, "__other__", True, 0),
    ]


def test_fill_matches_rows_whatever_offset_their_time_is_written_in(catalog: Catalog) -> None:
    query, compiled = compile_body(catalog, fill="zero", **PARIS_DAYS)
    rows = [{"event_type": "view", "time": OCT_25.astimezone(UTC), "count": 4}]
    filled = fill_buckets(query, rows, compiled)
    assert [r["count"] for r in filled] == [0, 4, 0]


# --- join_previous -------------------------------------------------------------------------------

NOV = {"start": "2026-11-08T00:00:00Z", "end": "2026-11-11T00:00:00Z"}


def day(tz: ZoneInfo, month: int, dom: int) -> datetime:
    return at(tz, 2026, month, dom)


def test_previous_period_is_matched_by_bucket_position_and_group(catalog: Catalog) -> None:
    query, compiled = compile_body(
        catalog, time=NOV, group_by=["event_type", {"time": "1 day"}], compare="previous_period"
    )
    assert query.compare == CompareRange(
        start=datetime(2026, 11, 5, tzinfo=UTC), end=datetime(2026, 11, 8, tzinfo=UTC)
    )
    u = UTC_ZONE
    rows = [
        {"event_type": "purchase", "time": day(u, 11, 8), "count": 10},
        {"event_type": "purchase", "time": day(u, 11, 9), "count": 5},
        {"event_type": "view", "time": day(u, 11, 8), "count": 4},
        {"event_type": "view", "time": day(u, 11, 10), "count": 2},
    ]
    previous = [
        {"event_type": "purchase", "time": day(u, 11, 5), "count": 8},
        {"event_type": "view", "time": day(u, 11, 5), "count": 0},
        {"event_type": "view", "time": day(u, 11, 6), "count": 9},  # no current row: dropped
        {"event_type": "purchase", "time": day(u, 11, 7), "count": 3},  # no current row
    ]
    join_previous(query, rows, previous, compiled)
    got = [
        (
            r["event_type"],
            r["time"].day,
            r["count_previous"],
            r["count_delta"],
            r["count_delta_pct"],
        )
        for r in rows
    ]
    assert got == [
        ("purchase", 8, 8, 2, 25.0),
        ("purchase", 9, None, None, None),
        ("view", 8, 0, 4, None),  # no percentage of zero
        ("view", 10, None, None, None),
    ]


def test_with_fill_zero_a_missing_previous_value_is_zero(catalog: Catalog) -> None:
    measures = [{"op": "count"}, {"op": "sum", "field": "amount", "as": "revenue"}]
    query, compiled = compile_body(
        catalog,
        time=NOV,
        group_by=[{"time": "1 day"}],
        compare="previous_period",
        fill="zero",
        measures=measures,
    )
    rows = [
        {"time": day(UTC_ZONE, 11, 8), "count": 6, "revenue": 12.5},
        {"time": day(UTC_ZONE, 11, 9), "count": 0, "revenue": None},
    ]
    previous = [{"time": day(UTC_ZONE, 11, 5), "count": 4, "revenue": 10.0}]
    join_previous(query, rows, previous, compiled)
    assert rows[0] == {
        "time": day(UTC_ZONE, 11, 8),
        "count": 6, "count_previous": 4, "count_delta": 2, "count_delta_pct": 50.0,
        "revenue": 12.5, "revenue_previous": 10.0, "revenue_delta": 2.5, "revenue_delta_pct": 25.0,
    }  # fmt: skip
    assert rows[1] == {
        "time": day(UTC_ZONE, 11, 9),
        "count": 0, "count_previous": 0, "count_delta": 0, "count_delta_pct": None,
        "revenue": None, "revenue_previous": 0, "revenue_delta": None, "revenue_delta_pct": None,
    }  # fmt: skip


def test_previous_local_days_across_dst_are_matched_by_position(catalog: Catalog) -> None:
    """26-29 Oct (CET) against 23-26 Oct, whose local days include the 25-hour 25th (CEST->CET)."""
    query, compiled = compile_body(
        catalog,
        time={"start": "2026-10-26T00:00:00+01:00", "end": "2026-10-29T00:00:00+01:00"},
        timezone="Europe/Paris",
        group_by=[{"time": "1 day"}],
        compare="previous_period",
    )
    rows = [{"time": day(PARIS, 10, d), "count": c} for d, c in ((26, 3), (27, 6), (28, 9))]
    previous = [{"time": day(PARIS, 10, d), "count": c} for d, c in ((23, 1), (24, 2), (25, 3))]
    assert isinstance(query.compare, CompareRange)
    assert (query.compare.start, query.compare.end) == (day(PARIS, 10, 23), day(PARIS, 10, 26))
    join_previous(query, rows, previous, compiled)
    assert [r["count_previous"] for r in rows] == [1, 2, 3]
    assert [r["count_delta_pct"] for r in rows] == [200.0, 200.0, 200.0]


def test_a_partial_window_is_matched_day_for_day(catalog: Catalog) -> None:
    query, compiled = compile_body(
        catalog,
        time={"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
        group_by=[{"time": "1 day"}],
        compare="previous_period",
    )
    rows = [{"time": day(UTC_ZONE, 11, 16 + i), "count": 10 + i} for i in range(7)]
    previous = [{"time": day(UTC_ZONE, 11, 9 + i), "count": 10} for i in range(7)]
    join_previous(query, rows, previous, compiled)
    assert [r["count_delta"] for r in rows] == list(range(7))


def test_previous_year_matches_the_same_month(catalog: Catalog) -> None:
    query, compiled = compile_body(
        catalog,
        time={"start": "2026-01-01T00:00:00-05:00", "end": "2026-04-01T00:00:00-04:00"},
        timezone="America/New_York",
        group_by=[{"time": "1 month"}],
        compare="previous_year",
    )
    rows = [{"time": at(NEW_YORK, 2026, m, 1), "count": 20} for m in (1, 2, 3)]
    previous = [{"time": at(NEW_YORK, 2025, m, 1), "count": 10 * m} for m in (1, 2, 3)]
    join_previous(query, rows, previous, compiled)
    assert [r["count_previous"] for r in rows] == [10, 20, 30]
    assert [r["count_delta"] for r in rows] == [10, 0, -10]


def test_without_a_time_bucket_rows_are_matched_by_group(catalog: Catalog) -> None:
    query, compiled = compile_body(
        catalog, time=NOV, group_by=["event_type"], compare="previous_period"
    )
    rows = [{"event_type": "purchase", "count": 10}, {"event_type": None, "count": 3}]
    previous = [{"event_type": None, "count": 4}, {"event_type": "purchase", "count": 4}]
    join_previous(query, rows, previous, compiled)
    assert [(r["count_previous"], r["count_delta"], r["count_delta_pct"]) for r in rows] == [
        (4, 6, 150.0),
        (4, -1, -25.0),
    ]


def test_fill_zero_zeroes_counts_and_sums_and_leaves_the_rest_without_a_value(
    catalog: Catalog,
) -> None:
    measures = [
        {"op": "count"},
        {"op": "count_distinct", "field": "session_id"},
        {"op": "sum", "field": "amount"},
        {"op": "avg", "field": "amount"},
        {"op": "min", "field": "amount"},
        {"op": "max", "field": "amount"},
        {"op": "p95", "field": "duration_ms"},
    ]
    query, compiled = compile_body(
        catalog, time=NOV, group_by=[{"time": "1 day"}], fill="zero", measures=measures
    )
    filled = fill_buckets(query, [], compiled)
    assert len(filled) == 3
    for row in filled:
        assert {k: v for k, v in row.items() if k != "time"} == {
            "count": 0, "count_distinct_session_id": 0, "sum_amount": 0,
            "avg_amount": None, "min_amount": None, "max_amount": None, "p95_duration_ms": None,
        }  # fmt: skip


def test_with_fill_zero_a_missing_previous_average_has_no_value(catalog: Catalog) -> None:
    measures = [{"op": "sum", "field": "amount"}, {"op": "avg", "field": "amount"}]
    query, compiled = compile_body(
        catalog,
        time=NOV,
        group_by=[{"time": "1 day"}],
        compare="previous_period",
        fill="zero",
        measures=measures,
    )
    rows = [{"time": day(UTC_ZONE, 11, 8), "sum_amount": 5.0, "avg_amount": 2.5}]
    join_previous(query, rows, [], compiled)
    assert rows[0]["sum_amount_previous"] == 0 and rows[0]["sum_amount_delta"] == 5.0
    assert rows[0]["avg_amount_previous"] is None
    assert rows[0]["avg_amount_delta"] is None and rows[0]["avg_amount_delta_pct"] is None
