"""The match decides from a query's algebra alone: fields read, edges in time, measures."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tally.catalog.model import Dataset
from tally.query.fields import JSON_KEY_OPS
from tally.query.model import Query
from tally.query.scope import Scope
from tally.rollups.layout import RollupTable, rollup_tables
from tally.rollups.match import DECIDED_BY_TEXT, answers
from tests.unit.rollup_datasets import events

DATASET = events(
    {"kind": "string", "owner": "string", "note": "string", "amount": "int"},
    [
        {
            "name": "quarter",
            "dimensions": ["kind", "owner"],
            "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
        },
        {"name": "hourly", "grain": "1 hour", "dimensions": ["kind"]},
    ],
    row_access={"subject_column": "owner"},
)
QUARTER, HOURLY = rollup_tables(DATASET)
EVERYONE = Scope.everything()


def query(**fields: Any) -> Query:
    body: dict[str, Any] = {
        "dataset": "ev",
        "time": {"start": "2025-03-01T00:00:00Z", "end": "2025-03-08T00:00:00Z"},
        **fields,
    }
    return Query.model_validate(body)


def fits(q: Query, layout: RollupTable = QUARTER, scope: Scope = EVERYONE) -> bool:
    return answers(q, scope, layout)


def test_filters_of_any_shape_on_dimensions_fit() -> None:
    nested = {
        "or": [
            {"not": {"field": "kind", "op": "regex", "value": "^v"}},
            {
                "and": [
                    {"field": "owner", "op": "is_null"},
                    {"field": "tenant", "op": "eq", "value": "a"},
                ]
            },
        ]
    }
    assert fits(query(filter=nested, group_by=["owner"]))
    assert not fits(query(filter={"not": {"field": "note", "op": "eq", "value": "x"}}))
    assert not fits(query(group_by=["note"]))


def test_a_row_scope_fits_only_when_its_columns_are_dimensions() -> None:
    own = Scope(
        columns={"tenant": ("a",)},
        rows=Query.model_validate(
            {"dataset": "ev", "filter": {"field": "owner", "op": "eq", "value": "u1"}}
        ).filter,
    )
    assert fits(query(), QUARTER, own)
    assert not fits(query(), HOURLY, own)


@pytest.mark.parametrize(
    ("measure", "served"),
    [
        ({"op": "count"}, True),
        ({"op": "sum", "field": "amount"}, True),
        ({"op": "avg", "field": "amount"}, True),
        ({"op": "count", "field": "amount"}, True),
        ({"op": "max", "field": "amount"}, False),
        ({"op": "count_distinct", "field": "kind"}, False),
        ({"op": "p95", "field": "amount"}, False),
        ({"op": "count", "filter": {"field": "kind", "op": "eq", "value": "v"}}, True),
        ({"op": "count", "filter": {"field": "note", "op": "eq", "value": "v"}}, False),
    ],
)
def test_measures_fit_when_recombinable(measure: dict[str, Any], served: bool) -> None:
    assert fits(query(measures=[measure])) is served


@pytest.mark.parametrize(
    ("zone", "quarter", "hourly"),
    [
        ("Asia/Kathmandu", True, False),  # local midnight is 18:15 UTC
        ("Asia/Kolkata", True, False),  # 18:30 UTC
        ("Australia/Adelaide", True, False),  # 13:30 UTC, 14:30 before 6 April
        ("America/St_Johns", True, False),
        ("Europe/Berlin", True, True),
    ],
)
def test_day_buckets_fit_where_local_midnights_are_grain_edges(
    zone: str, quarter: bool, hourly: bool
) -> None:
    tz = ZoneInfo(zone)
    window = {
        "start": datetime(2025, 3, 1, tzinfo=tz).isoformat(),
        "end": datetime(2025, 4, 20, tzinfo=tz).isoformat(),
    }
    q = query(time=window, timezone=zone, group_by=[{"time": "1 day"}])
    assert (fits(q, QUARTER), fits(q, HOURLY)) == (quarter, hourly)


def test_an_old_offset_is_no_grain_edge() -> None:
    """In 1900 India kept Madras time, +5:21:10: its days began at 18:38:50 UTC, off every
    quarter hour, though the window's own edges are on one."""
    q = query(
        time={"start": "1900-01-01T18:30:00Z", "end": "1900-01-20T18:30:00Z"},
        timezone="Asia/Kolkata",
        group_by=[{"time": "1 day"}],
    )
    assert not fits(q)
    assert fits(q.model_copy(update={"group_by": []}))


@pytest.mark.parametrize(
    ("bucket", "served"),
    [
        ({"time": "15 minutes"}, True),
        ({"time": "45 minutes"}, True),
        ({"time": "7 minutes"}, False),
        ({"time": "1 hour", "origin": "2025-01-01T00:15:00Z"}, True),
        ({"time": "1 hour", "origin": "2025-01-01T00:10:00Z"}, False),
        ({"time": "1 week", "origin": "2025-01-01T00:00:00Z"}, True),
    ],
)
def test_fixed_buckets_fit_when_their_width_and_origin_are_on_grains(
    bucket: dict[str, Any], served: bool
) -> None:
    assert fits(query(group_by=[bucket])) is served


@pytest.mark.parametrize(
    ("start", "end", "served"),
    [
        ("2025-03-01T00:15:00Z", "2025-03-02T10:45:00Z", True),
        # Ragged edges: the rows up to the first whole grain are read from the table.
        ("2025-03-01T00:15:01Z", "2025-03-02T10:45:00Z", True),
        ("2025-03-01T00:15:00Z", "2025-03-02T10:45:00.000001Z", True),
        # No whole grain inside: the rows answer.
        ("2025-03-01T00:15:01Z", "2025-03-01T00:30:00Z", False),
        ("2025-03-01T00:20:00Z", "2025-03-01T00:40:00Z", False),
    ],
)
def test_windows_fit_when_they_hold_a_whole_grain(start: str, end: str, served: bool) -> None:
    assert fits(query(time={"start": start, "end": end})) is served


def test_bucket_edges_are_checked_inside_the_whole_grains_only() -> None:
    """An hourly rollup and days in Kolkata (18:30 UTC): a window of one local day has no day
    edge inside its whole hours; a window of two has one, off the hour."""
    one_day = {"start": "2025-03-01T18:30:00Z", "end": "2025-03-02T18:30:00Z"}
    two_days = {"start": "2025-03-01T18:30:00Z", "end": "2025-03-03T18:30:00Z"}
    daily = {"timezone": "Asia/Kolkata", "group_by": [{"time": "1 day"}]}
    assert fits(query(time=one_day, **daily), HOURLY)
    assert not fits(query(time=two_days, **daily), HOURLY)


def test_a_compared_window_must_fit_too() -> None:
    aligned = {"start": "2025-02-01T00:00:00Z", "end": "2025-02-08T00:00:00Z"}
    within_a_grain = {"start": "2025-02-01T00:00:05Z", "end": "2025-02-01T00:10:05Z"}
    assert fits(query(compare=aligned))
    assert not fits(query(compare=within_a_grain))


JSON_DATASET = Dataset.model_validate(
    {
        **DATASET.model_dump(by_alias=True, exclude_defaults=True),
        "columns": [*DATASET.model_dump()["columns"], {"name": "meta", "type": "json"}],
        "rollups": [{"name": "channels", "dimensions": ["kind", "meta.channel"]}],
    }
)
(CHANNELS,) = rollup_tables(JSON_DATASET)


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("eq", "web"),
        ("neq", 5),
        ("in", ["web", 5]),
        ("nin", ["web"]),
        ("gt", 3),
        ("between", [1, 9]),
        ("contains", "we"),
        ("starts_with", "w"),
        ("regex", "^w"),
        ("is_null", None),
        ("not_null", None),
    ],
)
def test_a_json_key_dimension_fits_every_test_its_text_decides(op: str, value: Any) -> None:
    leaf = {"field": "meta.channel", "op": op, **({"value": value} if value is not None else {})}
    assert fits(query(filter={"not": leaf}, group_by=["meta.channel"]), CHANNELS)
    scope = Scope(columns={"tenant": ("a",)}, rows=query(filter=leaf).filter)
    assert fits(query(group_by=["kind"]), CHANNELS, scope)


def test_every_test_a_query_may_apply_to_a_json_key_is_decided_by_its_text() -> None:
    """The list the match trusts covers what validation lets a query ask of a JSON key."""
    assert set(JSON_KEY_OPS) <= DECIDED_BY_TEXT


def test_a_json_key_is_answered_from_the_rows_beyond_its_stored_text() -> None:
    other_key = {"field": "meta.plan", "op": "eq", "value": "pro"}
    assert not fits(query(filter=other_key), CHANNELS)
    assert not fits(query(group_by=["meta.plan"]), CHANNELS)
    # A test the stored text does not decide (none a query may ask of a JSON key today).
    unknown = {"field": "meta.channel", "op": "is_empty"}
    kind = {"field": "kind", "op": "eq", "value": "v"}
    assert not fits(query(filter={"or": [unknown, kind]}), CHANNELS)
    assert not fits(query(measures=[{"op": "count", "filter": unknown}]), CHANNELS)
    # A measure of the key: the rollup keeps its text per cell, not its values per row.
    assert not fits(query(measures=[{"op": "count", "field": "meta.channel"}]), CHANNELS)
