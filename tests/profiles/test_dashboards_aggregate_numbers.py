"""Numbers of dashboards/aggregate against a plain-Python computation over the ingested rows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import bearer
from tests.profiles.dashboards_aggregate_data import (
    EDGES,
    END,
    EVENT_TYPES,
    FAMILIES,
    GROUPINGS,
    NOW,
    ask,
    expected,
    ingest,
    make_rows,
)

ROWS = make_rows()


@pytest.fixture
def seeded(service, client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    service.clock = lambda: NOW
    ingest(client, admin_headers, ROWS)
    return admin_headers


def _same(actual: list[dict[str, Any]], wanted: list[dict[str, Any]], label: str) -> None:
    assert [(r["key"], r["secondary"]) for r in actual] == [
        (r["key"], r["secondary"]) for r in wanted
    ], label
    for got, want in zip(actual, wanted, strict=True):
        if want["value"] is None:
            assert got["value"] is None, label
        else:
            assert got["value"] == pytest.approx(want["value"], rel=1e-12), label


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_every_aggregation_of_a_grouping(client, seeded, group_by: str) -> None:
    for family in FAMILIES:
        body = {"group_by": group_by, "time_window_days": 30, "limit": 1000, **family}
        response = ask(client, seeded, body)
        assert response.status_code == 200, (body, response.text)
        wanted = expected(ROWS, body)
        assert wanted, body
        _same(response.json()["rows"], wanted, str(body))


def test_group_by_defaults_to_none(client, seeded) -> None:
    rows = ask(client, seeded, {"time_window_days": 30}).json()["rows"]
    wanted = expected(ROWS, {"group_by": "none", "time_window_days": 30})
    assert rows == wanted and rows[0]["key"] == "all"


def test_counts_are_integers_and_the_response_has_exactly_the_spec_fields(client, seeded) -> None:
    body = {"group_by": "event_type", "time_window_days": 30}
    answer = ask(client, seeded, body).json()
    assert set(answer) == {"rows", "generated_at", "cache_hit"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", answer["generated_at"])
    assert answer["cache_hit"] is False
    for row in answer["rows"]:
        assert set(row) == {"key", "value", "secondary"}
        assert type(row["value"]) is int and type(row["secondary"]) is int
    assert {r["key"] for r in answer["rows"]} == {*EVENT_TYPES, *EDGES} - {"at_end"}


def test_window_includes_its_start_and_excludes_its_end(client, seeded) -> None:
    """One event at start, start - 1 µs, end - 1 µs and end (end = NOW rounded up a minute)."""
    body = {"group_by": "event_type", "time_window_days": 7, "event_types": list(EDGES)}
    rows = ask(client, seeded, body).json()["rows"]
    assert rows == [
        {"key": "at_start", "value": 1, "secondary": 1},
        {"key": "before_end", "value": 1, "secondary": 1},
    ]
    wider = ask(client, seeded, {**body, "time_window_days": 30}).json()["rows"]
    assert [r["key"] for r in wider] == ["at_start", "before_end", "before_start"]


def test_a_seven_day_window_by_hour(client, seeded) -> None:
    body = {"group_by": "hour", "time_window_days": 7, "limit": 1000}
    rows = ask(client, seeded, body).json()["rows"]
    _same(rows, expected(ROWS, body), "7-day window")
    assert rows[0]["key"] == (END - timedelta(days=7)).strftime("%Y-%m-%dT%H:00:00Z")
    assert rows[-1]["key"] == NOW.strftime("%Y-%m-%dT%H:00:00Z")


def test_event_types_filter_in_any_order_with_repeats(client, seeded) -> None:
    body = {"group_by": "event_type", "time_window_days": 30, "event_types": ["refund", "purchase"]}
    rows = ask(client, seeded, body).json()["rows"]
    assert {r["key"] for r in rows} == {"purchase", "refund"}
    _same(rows, expected(ROWS, body), "filter")
    repeated = {**body, "event_types": ["purchase", "refund", "purchase"]}
    assert ask(client, seeded, repeated).json()["rows"] == rows


@pytest.mark.parametrize("empty", [None, []])
def test_null_or_empty_event_types_mean_every_type(client, seeded, empty) -> None:
    body = {"group_by": "event_type", "time_window_days": 30, "event_types": empty}
    rows = ask(client, seeded, body).json()["rows"]
    assert {r["key"] for r in rows} == {*EVENT_TYPES, *EDGES} - {"at_end"}
    _same(rows, expected(ROWS, {"group_by": "event_type", "time_window_days": 30}), "all types")


def test_brand_from_header(client, seeded) -> None:
    body = {"group_by": "metadata.channel", "aggregation": "sum", "value_field": "amount"}
    body["time_window_days"] = 30
    headers = {**seeded, "X-Active-Brand": "br_2"}
    rows = ask(client, headers, body).json()["rows"]
    _same(rows, expected(ROWS, body, brands=("br_2",)), "br_2")
    assert rows != ask(client, seeded, body).json()["rows"]


def test_brand_from_query_string(client, seeded) -> None:
    body = {"group_by": "event_type", "aggregation": "avg", "value_field": "price"}
    body["time_window_days"] = 30
    rows = ask(client, seeded, body, brand_id="br_1").json()["rows"]
    _same(rows, expected(ROWS, body, brands=("br_1",)), "br_1")


def test_same_brand_in_header_and_query_is_accepted(client, seeded) -> None:
    body = {"group_by": "none", "time_window_days": 30}
    headers = {**seeded, "X-Active-Brand": "br_2"}
    rows = ask(client, headers, body, brand_id="br_2").json()["rows"]
    _same(rows, expected(ROWS, body, brands=("br_2",)), "br_2 twice")


def test_catalog_header_narrows(client, seeded) -> None:
    body = {"group_by": "product_id", "aggregation": "count_distinct", "time_window_days": 30}
    headers = {**seeded, "X-Active-Brand": "br_1", "X-Active-Catalog": "cat_2"}
    rows = ask(client, headers, body).json()["rows"]
    _same(rows, expected(ROWS, body, brands=("br_1",), catalog="cat_2"), "cat_2")


def test_without_brand_a_key_reads_only_its_own_brands(client, seeded, keys) -> None:
    _, token = keys.create("viewer", {"workspace_id": ("ws_a",), "brand_id": ("br_1",)})
    body = {"group_by": "event_type", "aggregation": "sum", "value_field": "quantity"}
    body["time_window_days"] = 30
    rows = ask(client, bearer(token), body).json()["rows"]
    _same(rows, expected(ROWS, body, brands=("br_1",)), "the key's brands")
    everything = ask(client, seeded, body).json()["rows"]
    _same(everything, expected(ROWS, body), "admin: every brand")
    assert rows != everything


def test_other_workspace(client, seeded) -> None:
    body = {"group_by": "session", "aggregation": "count_distinct", "value_field": "customer_id"}
    body["time_window_days"] = 30
    rows = ask(client, seeded, body, workspace="ws_b").json()["rows"]
    _same(rows, expected(ROWS, body, workspace="ws_b"), "ws_b")


@pytest.mark.parametrize("group_by", ["day", "hour"])
def test_time_groupings_keep_the_most_recent_buckets_ascending(client, seeded, group_by) -> None:
    body = {"group_by": group_by, "time_window_days": 30, "limit": 5}
    rows = ask(client, seeded, body).json()["rows"]
    assert len(rows) == 5
    _same(rows, expected(ROWS, body), group_by)
    keys = [r["key"] for r in rows]
    assert keys == sorted(keys)
    assert keys[-1] == NOW.strftime("%Y-%m-%d" if group_by == "day" else "%Y-%m-%dT%H:00:00Z")


def test_other_groupings_keep_the_largest_values(client, seeded) -> None:
    body = {"group_by": "session", "aggregation": "sum", "value_field": "amount", "limit": 3}
    body["time_window_days"] = 30
    rows = ask(client, seeded, body).json()["rows"]
    assert len(rows) == 3
    _same(rows, expected(ROWS, body), "top 3 sessions")
    values = [r["value"] for r in rows]
    assert values == sorted(values, reverse=True)


def test_default_limit_is_100(client, seeded) -> None:
    body = {"group_by": "hour", "time_window_days": 30}
    rows = ask(client, seeded, body).json()["rows"]
    assert len(rows) == 100
    _same(rows, expected(ROWS, body), "default limit")


def test_missing_values_are_null_keys_sorted_last_among_equals(client, seeded) -> None:
    body = {"group_by": "metadata.never_set", "aggregation": "avg", "value_field": "score"}
    body["time_window_days"] = 30
    rows = ask(client, seeded, body).json()["rows"]
    assert len(rows) == 1 and rows[0]["key"] is None
    products = ask(client, seeded, {"group_by": "product_id", "time_window_days": 30}).json()
    assert None in [r["key"] for r in products["rows"]]


def test_null_values_sort_after_every_number(client, seeded) -> None:
    body = {"group_by": "session", "aggregation": "avg", "value_field": "rating"}
    body.update(time_window_days=30, event_types=["refund"])
    rows = ask(client, seeded, body).json()["rows"]
    wanted = expected(ROWS, body)
    values = [r["value"] for r in wanted]
    assert None in values and values.index(None) > 0
    _same(rows, wanted, "null averages")


def test_a_workspace_without_events(client, seeded) -> None:
    grouped = ask(client, seeded, {"group_by": "event_type", "time_window_days": 3}, "ws_zzz")
    assert grouped.json()["rows"] == []
    total = ask(client, seeded, {"group_by": "none", "time_window_days": 3}, "ws_zzz")
    assert total.json()["rows"] == [{"key": "all", "value": 0, "secondary": 0}]
