"""Who may ask (401/403), the cache (hit, generated_at, keys, TTL), and native equivalence."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tally.config import Settings
from tests.helpers import bearer
from tests.profiles.dashboards_aggregate_data import END, NOW, ask, expected, ingest, make_rows

ROWS = make_rows(300, seed=11)
TTL_S = 1.5
BODY = {"group_by": "event_type", "time_window_days": 30}
DISTINCT = "session_id"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(
        data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets", cache_ttl_s=TTL_S
    )


@pytest.fixture
def seeded(service, client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    service.clock = lambda: NOW
    ingest(client, admin_headers, ROWS)
    return admin_headers


@pytest.fixture
def scoped(keys) -> dict[str, str]:
    """A viewer of brand br_1 of workspace ws_a only."""
    _, token = keys.create("viewer", {"workspace_id": ("ws_a",), "brand_id": ("br_1",)})
    return bearer(token)


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    return body["error"]["message"]


# --- 401 / 403 ----------------------------------------------------------------------------------


def test_no_token_is_401(client, seeded) -> None:
    _error(ask(client, {}, BODY), 401, "unauthorized")


@pytest.mark.parametrize("header", ["Bearer tly_nope_nope", "Basic abc", "Bearer ", "tly_x"])
def test_bad_token_is_401(client, seeded, header) -> None:
    _error(ask(client, {"Authorization": header}, BODY), 401, "unauthorized")


def test_revoked_token_is_401(client, seeded, keys) -> None:
    key_id, token = keys.create("viewer", {"workspace_id": ("ws_a",)})
    assert ask(client, bearer(token), BODY).status_code == 200
    keys.revoke(key_id)
    _error(ask(client, bearer(token), BODY), 401, "unauthorized")


def test_401_comes_before_validation(client, seeded) -> None:
    _error(ask(client, {}, {"nonsense": 1}, workspace="BAD"), 401, "unauthorized")


def test_workspace_outside_the_key_is_403(client, seeded, scoped) -> None:
    message = _error(ask(client, scoped, BODY, workspace="ws_b"), 403, "forbidden")
    assert "ws_b" in message


def test_brand_header_outside_the_key_is_403(client, seeded, scoped) -> None:
    headers = {**scoped, "X-Active-Brand": "br_2"}
    assert "br_2" in _error(ask(client, headers, BODY), 403, "forbidden")


def test_brand_query_outside_the_key_is_403(client, seeded, scoped) -> None:
    _error(ask(client, scoped, BODY, brand_id="br_2"), 403, "forbidden")


def test_catalog_outside_the_key_is_403(client, seeded, keys) -> None:
    _, token = keys.create("viewer", {"workspace_id": ("ws_a",), "catalog_id": ("cat_1",)})
    headers = {**bearer(token), "X-Active-Catalog": "cat_2"}
    _error(ask(client, headers, BODY), 403, "forbidden")
    allowed = {**bearer(token), "X-Active-Catalog": "cat_1"}
    rows = ask(client, allowed, BODY).json()["rows"]
    assert rows == expected(ROWS, BODY, catalog="cat_1")


def test_a_key_without_a_workspace_scope_is_403(client, seeded, keys) -> None:
    _, token = keys.create("viewer", {"brand_id": ("br_1",)})
    _error(ask(client, bearer(token), BODY), 403, "forbidden")


def test_inside_the_key_answers_its_own_brand(client, seeded, scoped) -> None:
    response = ask(client, {**scoped, "X-Active-Brand": "br_1"}, BODY)
    assert response.status_code == 200
    assert response.json()["rows"] == expected(ROWS, BODY, brands=("br_1",))


# --- cache --------------------------------------------------------------------------------------


def test_second_identical_request_is_a_cache_hit_with_the_first_time(client, seeded) -> None:
    first = ask(client, seeded, BODY).json()
    time.sleep(1.05)  # generated_at has whole seconds: a recomputation would show a later one
    second = ask(client, seeded, BODY).json()
    assert first["cache_hit"] is False and second["cache_hit"] is True
    assert second["generated_at"] == first["generated_at"]
    assert second["rows"] == first["rows"] == expected(ROWS, BODY)


def test_the_ttl_is_the_services_cache_ttl(client, seeded) -> None:
    first = ask(client, seeded, BODY).json()
    assert ask(client, seeded, BODY).json()["cache_hit"] is True
    time.sleep(TTL_S + 0.1)
    again = ask(client, seeded, BODY).json()
    assert again["cache_hit"] is False
    assert again["generated_at"] > first["generated_at"]


@pytest.mark.parametrize(
    "variant",
    [
        {"X-Active-Brand": "br_1"},
        {"X-Active-Brand": "br_2"},
        {"X-Active-Catalog": "cat_1"},
    ],
)
def test_brand_and_catalog_are_part_of_the_cache_key(client, seeded, variant) -> None:
    assert ask(client, seeded, BODY).json()["cache_hit"] is False
    narrowed = ask(client, {**seeded, **variant}, BODY).json()
    assert narrowed["cache_hit"] is False
    assert ask(client, {**seeded, **variant}, BODY).json()["cache_hit"] is True


def test_the_query_brand_and_the_header_brand_share_an_entry(client, seeded) -> None:
    assert ask(client, {**seeded, "X-Active-Brand": "br_1"}, BODY).json()["cache_hit"] is False
    assert ask(client, seeded, BODY, brand_id="br_1").json()["cache_hit"] is True


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"event_types": ["refund", "purchase"]}, {"event_types": ["purchase", "refund"]}),
        ({"event_types": None}, {"event_types": []}),
        ({}, {"aggregation": "count", "limit": 100}),
        ({"aggregation": "count"}, {"aggregation": "count", "value_field": "amount"}),
        (
            {"aggregation": "count_distinct"},
            {"aggregation": "count_distinct", "value_field": DISTINCT},
        ),
    ],
)
def test_equal_questions_share_an_entry(client, seeded, first, second) -> None:
    assert ask(client, seeded, {**BODY, **first}).json()["cache_hit"] is False
    assert ask(client, seeded, {**BODY, **second}).json()["cache_hit"] is True


def test_different_bodies_are_different_entries(client, seeded) -> None:
    assert ask(client, seeded, BODY).json()["cache_hit"] is False
    assert ask(client, seeded, {**BODY, "limit": 3}).json()["cache_hit"] is False
    assert ask(client, seeded, {**BODY, "time_window_days": 29}).json()["cache_hit"] is False


def test_new_rows_invalidate_the_entry(client, seeded) -> None:
    before = ask(client, seeded, BODY).json()
    extra = make_rows(20, seed=99)[:20]
    for i, row in enumerate(extra):
        row.update(workspace_id="ws_a", event_id=f"extra_{i}")
    ingest(client, seeded, extra)
    after = ask(client, seeded, BODY).json()
    assert after["cache_hit"] is False
    assert after["rows"] == expected(ROWS + extra, BODY) != before["rows"]


# --- the same question through the native API ---------------------------------------------------


NATIVE_GROUPS: dict[str, Any] = {
    "none": None,
    "event_type": "event_type",
    "session": "session_id",
    "product_id": "product_id",
    "metadata.channel": "metadata.channel",
    "day": {"time": "1 day"},
    "hour": {"time": "1 hour"},
}
QUESTIONS = [
    ("none", "count", None),
    ("event_type", "sum", "amount"),
    ("session", "count_distinct", "product_id"),
    ("product_id", "avg", "price"),
    ("metadata.channel", "count_distinct", "customer_id"),
    ("day", "avg", "duration_ms"),
    ("hour", "sum", "quantity"),
]


def _native_body(group_by: str, aggregation: str, field: str | None) -> dict[str, Any]:
    group = NATIVE_GROUPS[group_by]
    start = END - timedelta(days=30)
    return {
        "dataset": "agent_events",
        "time": {"start": start.isoformat(), "end": END.isoformat()},
        "filter": {"field": "event_type", "op": "in", "value": ["purchase", "add_to_cart"]},
        "measures": [
            {"op": aggregation, "field": field, "as": "value"},
            {"op": "count", "as": "secondary"},
        ],
        "group_by": [] if group is None else [group],
        "scope": {"workspace_id": "ws_a", "brand_id": "br_1"},
        "limit": 1000,
    }


def _native_key(row: dict[str, Any], group_by: str) -> str | None:
    group = NATIVE_GROUPS[group_by]
    if group is None:
        return "all"
    if group_by == "day":
        return row["time"][:10]
    if group_by == "hour":
        return row["time"][:13] + ":00:00Z"
    return row[group]


@pytest.mark.parametrize(("group_by", "aggregation", "field"), QUESTIONS)
def test_the_native_api_gives_the_same_numbers(client, seeded, group_by, aggregation, field):
    body = {"group_by": group_by, "aggregation": aggregation, "time_window_days": 30}
    body.update(event_types=["purchase", "add_to_cart"], limit=1000)
    if field is not None:
        body["value_field"] = field
    headers = {**seeded, "X-Active-Brand": "br_1"}
    profile = ask(client, headers, body).json()["rows"]
    response = client.post(
        "/v1/query", json=_native_body(group_by, aggregation, field), headers=seeded
    )
    assert response.status_code == 200, response.text
    native = response.json()["rows"]
    assert len(native) == len(profile) > 0
    assert {r["key"]: (r["value"], r["secondary"]) for r in profile} == {
        _native_key(r, group_by): (r["value"], r["secondary"]) for r in native
    }
