"""Time against the plain-Python oracle of `numbers_support`: calendar buckets across DST in
Paris and New York, fixed buckets and origins, the [start, end) window, fill, compare and the
relative `last` windows (with the service clock fixed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.numbers_support import (
    CUT,
    NEW_YORK,
    OCTOBER,
    PARIS,
    Env,
    assert_rows,
    check,
    expected,
    instant,
    keyed,
    leaf,
    local,
    open_env,
    ordered_labels,
    row_key,
    run,
    same,
    select,
    window,
    window_buckets,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


# ------------------------------------------------------------------------------------------------
# Time buckets
# ------------------------------------------------------------------------------------------------


def test_day_buckets_in_paris_across_the_spring_change(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 3, 26), local(2026, 4, 2)),
        "timezone": "Europe/Paris",
        "group_by": [{"time": "1 day"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }
    result = check(env, body)
    assert ordered_labels(result["rows"]) == [
        "2026-03-26T00:00:00+01:00",
        "2026-03-27T00:00:00+01:00",
        "2026-03-28T00:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
        "2026-03-31T00:00:00+02:00",
        "2026-04-01T00:00:00+02:00",
    ]
    # the 23-hour local day is exactly [03-28 23:00Z, 03-29 22:00Z)
    by_label = {r["time"]: r for r in result["rows"]}
    day = window(instant("2026-03-28T23:00:00Z"), instant("2026-03-29T22:00:00Z"))
    assert by_label["2026-03-29T00:00:00+01:00"]["count"] == len(select(env.events, day))


def test_day_buckets_in_paris_across_the_autumn_change(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 22), local(2026, 10, 29)),
        "timezone": "Europe/Paris",
        "group_by": ["workspace_id", {"time": "1 day"}],
        "measures": [{"op": "count"}, {"op": "avg", "field": "duration_ms"}],
    }
    result = check(env, body)
    labels = sorted({r["time"] for r in result["rows"]}, key=instant)
    assert labels == [
        "2026-10-22T00:00:00+02:00",
        "2026-10-23T00:00:00+02:00",
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
        "2026-10-27T00:00:00+01:00",
        "2026-10-28T00:00:00+01:00",
    ]
    # the 25-hour local day is exactly [10-24 22:00Z, 10-25 23:00Z)
    day = window(instant("2026-10-24T22:00:00Z"), instant("2026-10-25T23:00:00Z"))
    total = sum(r["count"] for r in result["rows"] if r["time"] == "2026-10-25T00:00:00+02:00")
    assert total == len(select(env.events, day))


@pytest.mark.parametrize(
    ("start", "end", "labels", "long_day"),
    [
        (
            local(2026, 3, 6, tz=NEW_YORK),
            local(2026, 3, 11, tz=NEW_YORK),
            ["03-06T00:00:00-05:00", "03-07T00:00:00-05:00", "03-08T00:00:00-05:00"]
            + ["03-09T00:00:00-04:00", "03-10T00:00:00-04:00"],
            ("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"),
        ),
        (
            local(2026, 10, 30, tz=NEW_YORK),
            local(2026, 11, 4, tz=NEW_YORK),
            ["10-30T00:00:00-04:00", "10-31T00:00:00-04:00", "11-01T00:00:00-04:00"]
            + ["11-02T00:00:00-05:00", "11-03T00:00:00-05:00"],
            ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
        ),
    ],
    ids=["spring", "autumn"],
)
def test_day_buckets_in_new_york_across_dst(
    env: Env, start: datetime, end: datetime, labels: list[str], long_day: tuple[str, str]
) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(start, end),
        "timezone": "America/New_York",
        "group_by": [{"time": "1 day"}],
        "measures": [{"op": "count"}, {"op": "max", "field": "ts"}],
        "fill": "zero",
    }
    result = check(env, body)
    assert ordered_labels(result["rows"]) == [f"2026-{label}" for label in labels]
    third = sorted(result["rows"], key=lambda r: instant(r["time"]))[2]
    span = window(instant(long_day[0]), instant(long_day[1]))
    assert third["count"] == len(select(env.events, span))


def test_hour_buckets_label_the_repeated_hour_twice(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": {"start": "2026-10-24T22:00:00Z", "end": "2026-10-25T04:00:00Z"},
        "timezone": "Europe/Paris",
        "group_by": [{"time": "1 hour"}],
        "measures": [{"op": "count"}],
        "fill": "zero",
    }
    result = run(env, body)
    assert ordered_labels(result["rows"]) == [
        "2026-10-25T00:00:00+02:00",
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T04:00:00+01:00",
    ]
    want = expected(env.events, body)
    for row in result["rows"]:
        assert row["count"] == want.get((instant(row["time"]),), {"count": 0})["count"]
    in_order = sorted(result["rows"], key=lambda r: instant(r["time"]))
    assert all(r["count"] > 0 for r in in_order[2:4])  # edge rows sit in both 02:00 hours


def test_hour_buckets_per_event_type(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": {"start": "2026-10-20T00:00:00Z", "end": "2026-10-22T00:00:00Z"},
        "timezone": "Europe/Paris",
        "group_by": ["event_type", {"time": "1 hour"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }
    check(env, body)


def test_week_buckets_start_on_local_monday(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 1, 9, 30), local(2026, 11, 9)),
        "timezone": "Europe/Paris",
        "group_by": [{"time": "1 week"}],
        "measures": [{"op": "count"}, {"op": "count_distinct", "field": "session_id"}],
    }
    result = check(env, body)
    assert ordered_labels(result["rows"]) == [
        "2026-09-28T00:00:00+02:00",  # the first bucket starts before the window
        "2026-10-05T00:00:00+02:00",
        "2026-10-12T00:00:00+02:00",
        "2026-10-19T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
        "2026-11-02T00:00:00+01:00",
    ]


def test_month_buckets_in_paris(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 9, 1), local(2026, 12, 1)),
        "timezone": "Europe/Paris",
        "group_by": ["workspace_id", {"time": "1 month"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "quantity"}],
    }
    result = check(env, body)
    assert sorted({r["time"] for r in result["rows"]}, key=instant) == [
        "2026-09-01T00:00:00+02:00",
        "2026-10-01T00:00:00+02:00",
        "2026-11-01T00:00:00+01:00",
    ]


@pytest.mark.parametrize(
    ("interval", "origin", "time"),
    [
        ("6 hours", None, CUT),
        ("6 hours", "2026-10-24T23:00:00+02:00", OCTOBER),
        (
            "90 minutes",
            "2026-10-25T00:15:00+02:00",
            window(local(2026, 10, 23), local(2026, 10, 27)),
        ),
        ("15 minutes", None, window(local(2026, 10, 25), local(2026, 10, 26))),
        ("2 days", None, CUT),
        ("2 days", "2026-10-20T00:00:00+02:00", CUT),
        ("2 weeks", None, CUT),
        ("3 weeks", "2026-10-26T00:00:00+01:00", CUT),
        ("3 months", None, window(local(2026, 1, 1), local(2027, 1, 1))),
        ("2 months", "2026-10-01T00:00:00+02:00", window(local(2026, 1, 1), local(2027, 1, 1))),
    ],
)
def test_multi_unit_buckets(env: Env, interval: str, origin: str | None, time: dict) -> None:
    group: dict[str, str] = {"time": interval}
    if origin is not None:
        group["origin"] = origin
    body = {
        "dataset": "agent_events",
        "time": time,
        "timezone": "Europe/Paris",
        "group_by": ["workspace_id", group],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }
    check(env, body)


def test_utc_day_buckets_differ_from_paris_ones(env: Env) -> None:
    """Without a timezone days are UTC days: the edge rows land in other buckets than in Paris."""
    body = {
        "dataset": "agent_events",
        "time": {"start": "2026-10-20T00:00:00Z", "end": "2026-10-30T00:00:00Z"},
        "group_by": [{"time": "1 day"}],
        "measures": [{"op": "count"}],
    }
    utc = check(env, body)
    paris = check(env, {**body, "timezone": "Europe/Paris"})
    assert {r["time"] for r in utc["rows"]} != {r["time"] for r in paris["rows"]}


def test_window_is_start_inclusive_end_exclusive(env: Env) -> None:
    day = window(instant("2026-03-28T23:00:00Z"), instant("2026-03-29T22:00:00Z"))
    edge_start = [r for r in env.events if r["ts"] == instant(day["start"])]
    edge_end = [r for r in env.events if r["ts"] == instant(day["end"])]
    assert edge_start and edge_end
    body = {"dataset": "agent_events", "time": day, "measures": [{"op": "count"}]}
    (row,) = run(env, body)["rows"]
    inside = [r for r in env.events if instant(day["start"]) <= r["ts"] < instant(day["end"])]
    assert row["count"] == len(inside)


# ------------------------------------------------------------------------------------------------
# Fill and compare
# ------------------------------------------------------------------------------------------------


SPARSE = {"and": [leaf("event_type", "eq", "Refund"), leaf("workspace_id", "eq", "ws_c")]}


@pytest.mark.parametrize("fill", ["zero", "null"])
def test_fill_gives_every_bucket_for_every_group(env: Env, fill: str) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 19), local(2026, 10, 27)),
        "timezone": "Europe/Paris",
        "filter": SPARSE,
        "group_by": ["brand_id", {"time": "1 day"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
        "fill": fill,
    }
    want = expected(env.events, body)
    group_keys = {key[:-1] for key in want}
    buckets = window_buckets(body["time"], "1 day", PARIS)
    assert len(buckets) == 8
    assert len(want) < len(group_keys) * len(buckets), "some buckets must be empty"
    empty = 0 if fill == "zero" else None
    full = {
        (*key, bucket): want.get((*key, bucket), {"count": empty, "sum_amount": empty})
        for key in group_keys
        for bucket in buckets
    }
    result = run(env, body)
    assert len(result["rows"]) == len(full)
    assert_rows(result["rows"], full, body["group_by"])


def test_fill_then_order_limit_and_offset_page_the_filled_rows(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 19), local(2026, 10, 27)),
        "timezone": "Europe/Paris",
        "filter": SPARSE,
        "group_by": ["brand_id", {"time": "1 day"}],
        "measures": [{"op": "count"}],
        "fill": "zero",
        "order_by": [{"field": "time", "dir": "desc"}, {"field": "brand_id", "dir": "asc"}],
        "limit": 5,
        "offset": 3,
    }
    want = expected(env.events, body)
    brands = sorted({key[0] for key in want})
    buckets = window_buckets(body["time"], "1 day", PARIS)
    full = [(b, t) for t in reversed(buckets) for b in brands]
    page = full[3:8]
    rows = run(env, body)["rows"]
    assert [row_key(r, body["group_by"]) for r in rows] == page
    assert [r["count"] for r in rows] == [want.get(k, {"count": 0})["count"] for k in page]


def test_fill_without_groups_and_without_rows(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 22), local(2026, 10, 29)),
        "timezone": "Europe/Paris",
        "filter": leaf("event_type", "eq", "no-such-type"),
        "group_by": [{"time": "1 day"}],
        "measures": [{"op": "count"}],
        "fill": "zero",
    }
    result = run(env, body)
    assert ordered_labels(result["rows"]) == [local(2026, 10, d).isoformat() for d in range(22, 29)]
    assert [r["count"] for r in result["rows"]] == [0] * 7


def _delta(current: Any, previous: Any) -> tuple[Any, Any]:
    if current is None or previous is None:
        return None, None
    pct = None if previous == 0 else (current - previous) / previous * 100
    return current - previous, pct


def assert_compared(
    rows: list[dict[str, Any]],
    previous_of: Callable[[dict[str, Any], str], Any],
    labels: list[str],
) -> None:
    assert rows
    for row in rows:
        for label in labels:
            before = previous_of(row, label)
            delta, pct = _delta(row[label], before)
            got = (row[f"{label}_previous"], row[f"{label}_delta"], row[f"{label}_delta_pct"])
            assert same(got[0], before), (row, label)
            assert same(got[1], delta), (row, label)
            assert same(got[2], pct), (row, label)


def test_compare_previous_period_by_bucket_position_across_dst(env: Env) -> None:
    """Current week Oct 26 - Nov 2 (Paris) against Oct 19 - Oct 26, which has a 25-hour day."""
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 26), local(2026, 11, 2)),
        "timezone": "Europe/Paris",
        "group_by": ["workspace_id", {"time": "1 day"}],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount", "as": "revenue"}],
        "fill": "zero",
        "compare": "previous_period",
    }
    prev_window = window(local(2026, 10, 19), local(2026, 10, 26))
    prev = expected(env.events, {**body, "time": prev_window})
    current_buckets = window_buckets(body["time"], "1 day", PARIS)
    prev_buckets = window_buckets(prev_window, "1 day", PARIS)
    assert len(current_buckets) == len(prev_buckets) == 7

    def previous_of(row: dict[str, Any], label: str) -> Any:
        position = current_buckets.index(instant(row["time"]))
        return prev.get((row["workspace_id"], prev_buckets[position]), {label: 0})[label]

    result = run(env, body)
    current = expected(env.events, body)
    assert len(result["rows"]) == len({k[0] for k in current}) * 7
    for row in result["rows"]:
        key = row_key(row, body["group_by"])
        assert same(row["count"], current.get(key, {"count": 0})["count"])
    assert_compared(result["rows"], previous_of, ["count", "revenue"])


def test_compare_previous_period_without_time_buckets(env: Env) -> None:
    """br_c2 has rows only in the current window: its previous values and deltas are null."""
    current_window = window(local(2026, 10, 19), local(2026, 10, 26))
    body = {
        "dataset": "agent_events",
        "time": current_window,
        "timezone": "Europe/Paris",
        "filter": {
            "or": [
                leaf("ts", "gte", current_window["start"]),
                leaf("brand_id", "neq", "br_c2"),
            ]
        },
        "group_by": ["brand_id"],
        "measures": [{"op": "count"}, {"op": "avg", "field": "duration_ms"}],
        "compare": "previous_period",
    }
    prev = expected(env.events, {**body, "time": window(local(2026, 10, 12), local(2026, 10, 19))})
    assert ("br_c2",) not in prev
    result = check(env, body)
    assert_compared(
        result["rows"],
        lambda row, label: prev.get((row["brand_id"],), {label: None})[label],
        ["count", "avg_duration_ms"],
    )
    c2 = keyed(result["rows"], ["brand_id"])[("br_c2",)]
    assert c2["count_previous"] is None and c2["count_delta_pct"] is None


def test_compare_with_an_explicit_range(env: Env) -> None:
    """October days against a March week that holds the spring change, matched by position."""
    compare = window(local(2026, 3, 24), local(2026, 3, 31))
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 22), local(2026, 10, 29)),
        "timezone": "Europe/Paris",
        "group_by": [{"time": "1 day"}],
        "measures": [{"op": "count"}, {"op": "max", "field": "amount"}],
        "compare": compare,
    }
    prev = expected(env.events, {**body, "time": compare})
    current_buckets = window_buckets(body["time"], "1 day", PARIS)
    prev_buckets = window_buckets(compare, "1 day", PARIS)

    def previous_of(row: dict[str, Any], label: str) -> Any:
        position = current_buckets.index(instant(row["time"]))
        return prev.get((prev_buckets[position],), {label: None})[label]

    result = check(env, body)
    assert_compared(result["rows"], previous_of, ["count", "max_amount"])


def test_compare_partial_period_like_for_like(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Now is Oct 28 10:15 Paris in a window of Oct 26-29: the previous period is Oct 23 00:00
    to Oct 25 10:15 local, the same wall-clock span, although Oct 25 has 25 hours."""
    now = datetime(2026, 10, 28, 9, 15, tzinfo=UTC)
    monkeypatch.setattr(env.service, "clock", lambda: now)
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 10, 26), local(2026, 10, 29)),
        "timezone": "Europe/Paris",
        "filter": leaf("ts", "lt", now.isoformat()),  # nothing after "now" is stored
        "group_by": ["workspace_id"],
        "measures": [{"op": "count"}],
        "compare": "previous_period",
    }
    prev = expected(
        env.events, {**body, "time": window(local(2026, 10, 23), local(2026, 10, 25, 10, 15))}
    )
    result = check(env, body)
    assert_compared(
        result["rows"],
        lambda row, label: prev.get((row["workspace_id"],), {label: None})[label],
        ["count"],
    )


def test_compare_previous_year(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A March 2027 week (no data, filled with zeros) against the same local days of 2026."""
    monkeypatch.setattr(env.service, "clock", lambda: datetime(2027, 6, 1, tzinfo=UTC))
    body = {
        "dataset": "agent_events",
        "time": window(local(2027, 3, 25), local(2027, 4, 1)),
        "timezone": "Europe/Paris",
        "group_by": [{"time": "1 day"}],
        "measures": [{"op": "count"}],
        "fill": "zero",
        "compare": "previous_year",
    }
    last_year = window(local(2026, 3, 25), local(2026, 4, 1))
    prev = expected(env.events, {**body, "time": last_year})
    current_buckets = window_buckets(body["time"], "1 day", PARIS)
    prev_buckets = window_buckets(last_year, "1 day", PARIS)

    def previous_of(row: dict[str, Any], label: str) -> Any:
        position = current_buckets.index(instant(row["time"]))
        return prev.get((prev_buckets[position],), {label: 0})[label]

    result = run(env, body)
    assert len(result["rows"]) == 7 and all(r["count"] == 0 for r in result["rows"])
    assert_compared(result["rows"], previous_of, ["count"])
    assert {r["count_delta_pct"] for r in result["rows"]} == {-100.0}


# ------------------------------------------------------------------------------------------------
# Relative windows (the only tests that depend on "now", which they fix)
# ------------------------------------------------------------------------------------------------


def test_last_counts_back_from_now(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2026, 11, 9, 13, 37, tzinfo=UTC)
    monkeypatch.setattr(env.service, "clock", lambda: now)
    body = {
        "dataset": "agent_events",
        "time": {"last": "7d"},
        "group_by": ["workspace_id"],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }
    absolute = {**body, "time": window(now - timedelta(days=7), now)}
    assert_rows(run(env, body)["rows"], expected(env.events, absolute), ["workspace_id"])


def test_last_with_day_buckets_ends_at_the_next_local_midnight(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 11, 9, 13, 37, tzinfo=UTC)
    monkeypatch.setattr(env.service, "clock", lambda: now)
    body = {
        "dataset": "agent_events",
        "time": {"last": "3d"},
        "timezone": "Europe/Paris",
        "group_by": [{"time": "1 day"}],
        "measures": [{"op": "count"}],
        "fill": "zero",
    }
    absolute = {**body, "time": window(local(2026, 11, 7), local(2026, 11, 10))}
    result = run(env, body)
    assert ordered_labels(result["rows"]) == [
        "2026-11-07T00:00:00+01:00",
        "2026-11-08T00:00:00+01:00",
        "2026-11-09T00:00:00+01:00",
    ]
    assert_rows(result["rows"], expected(env.events, absolute), body["group_by"])


def test_multi_month_buckets_before_1970_start_on_the_right_month(tmp_path) -> None:
    """Floor, not truncation, on negative month indexes: 1969-11 is in the bucket of 1969-10."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    import duckdb
    from sqlglot import exp

    from tally.query.timebuckets import Interval, bucket_start
    from tally.sql.duckdb import DuckDBDialect

    dialect = DuckDBDialect()
    moments = [datetime(1969, 11, 15, tzinfo=UTC), datetime(1968, 2, 3, tzinfo=UTC)]
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    for count in (2, 3, 5):
        interval = Interval(count, "month")
        for moment in moments:
            value = exp.Cast(
                this=exp.Literal.string(moment.isoformat()), to=exp.DataType.build("TIMESTAMPTZ")
            )
            sql = "SELECT " + dialect.render(dialect.bucket_ms(value, interval, "UTC", None))
            got = connection.execute(sql).fetchone()[0]
            expected = bucket_start(moment, interval, ZoneInfo("UTC"))
            assert got == int(expected.timestamp() * 1000), (count, moment)
