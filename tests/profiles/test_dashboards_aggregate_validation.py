"""Every validation rule of dashboards/aggregate: a 400 in the profile's envelope, per field.

A request that passes is held to its answer too: the rows the spec says, computed in plain
Python over the ingested rows (`dashboards_aggregate_data.expected`), in the 200 envelope.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tally.config import Settings
from tests.profiles.dashboards_aggregate_data import ENDPOINT, NOW, ask, expected, make_rows

MAX_BODY = 4096
OK = {"group_by": "event_type", "time_window_days": 7}
ROWS = make_rows(120, seed=11)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(
        data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets", max_body_bytes=MAX_BODY
    )


def _invalid(response, *fields: str) -> dict[str, Any]:
    """Assert the exact 400 envelope and that each field has a `field: reason` detail."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "invalid_request"
    assert isinstance(error["message"], str) and error["message"]
    assert all(isinstance(d, str) and ": " in d for d in error["details"])
    named = {d.split(": ", 1)[0] for d in error["details"]}
    assert set(fields) <= named, error["details"]
    return error


def _reason(error: dict[str, Any], field: str) -> str:
    return next(d.split(": ", 1)[1] for d in error["details"] if d.startswith(f"{field}: "))


@pytest.fixture
def seeded(service, client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    """ROWS stored (in batches under the body limit of this module), the clock pinned to NOW."""
    service.clock = lambda: NOW
    batch: list[dict[str, Any]] = []
    for row in [{**r, "ts": r["ts"].isoformat()} for r in ROWS]:
        if batch and len(json.dumps([*batch, row])) > MAX_BODY - 200:
            _store(client, admin_headers, batch)
            batch = []
        batch.append(row)
    _store(client, admin_headers, batch)
    return admin_headers


def _store(client: TestClient, headers: dict[str, str], batch: list[dict[str, Any]]) -> None:
    response = client.post("/v1/datasets/agent_events/rows", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(batch)


def _answered(response, body: dict[str, Any], cache_hit: bool = False) -> list[dict[str, Any]]:
    """Assert the 200 envelope and that the rows are what the spec computes over ROWS."""
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"rows", "generated_at", "cache_hit"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", answer["generated_at"])
    assert answer["cache_hit"] is cache_hit
    wanted = expected(ROWS, body)
    rows = answer["rows"]
    assert [(r["key"], r["secondary"]) for r in rows] == [
        (w["key"], w["secondary"]) for w in wanted
    ], body
    for got, want in zip(rows, wanted, strict=True):
        assert set(got) == {"key", "value", "secondary"}
        if want["value"] is None:
            assert got["value"] is None, body
        else:
            assert got["value"] == pytest.approx(want["value"], rel=1e-12), body
    return rows


def test_a_valid_request_passes(client: TestClient, seeded) -> None:
    rows = _answered(ask(client, seeded, OK), OK)
    assert len(rows) >= 3, "the answer has something in it"


@pytest.mark.parametrize("workspace", ["acme", "ws_", "WS_A", "ws_A1", "ws-a", "ws_a.b"])
def test_workspace_id_must_match_its_pattern(client, admin_headers, workspace) -> None:
    error = _invalid(ask(client, admin_headers, OK, workspace=workspace), "workspaceId")
    assert "^ws_[a-z0-9]+$" in _reason(error, "workspaceId")


def test_header_and_query_brands_must_agree(client, admin_headers) -> None:
    headers = {**admin_headers, "X-Active-Brand": "br_1"}
    error = _invalid(ask(client, headers, OK, brand_id="br_2"), "query.brand_id")
    assert "same brand" in error["message"]


def test_brand_in_the_body_is_refused_with_a_pointer_to_the_header(client, admin_headers) -> None:
    error = _invalid(ask(client, admin_headers, {**OK, "brand_id": "br_1"}), "brand_id")
    reason = _reason(error, "brand_id")
    assert "X-Active-Brand" in reason and "?brand_id=" in reason and "not a body field" in reason


def test_unknown_body_fields_are_refused(client, admin_headers) -> None:
    error = _invalid(ask(client, admin_headers, {**OK, "filters": {}}), "filters")
    assert _reason(error, "filters") == "unknown field"


@pytest.mark.parametrize("header", ["X-Active-Brand", "X-Active-Catalog"])
def test_tenant_headers_must_be_plain_identifiers(client, admin_headers, header) -> None:
    headers = {**admin_headers, header: "br 1;drop"}
    _invalid(ask(client, headers, OK), header)


def test_at_most_50_event_types(client, seeded) -> None:
    fifty = ["purchase", "refund", *(f"type_{i}" for i in range(48))]
    rows = _answered(
        ask(client, seeded, {**OK, "event_types": fifty}), {**OK, "event_types": fifty}
    )
    assert rows and {r["key"] for r in rows} <= {"purchase", "refund"}
    error = _invalid(ask(client, seeded, {**OK, "event_types": [*fifty, "one_more"]}))
    assert error["details"][0].startswith("event_types: ")
    assert "50" in error["details"][0]


@pytest.mark.parametrize("bad", ["Purchase", "p", "1purchase", "add-to-cart", "a" * 64, ""])
def test_event_type_names_follow_their_pattern(client, admin_headers, bad) -> None:
    body = {**OK, "event_types": ["purchase", bad]}
    error = _invalid(ask(client, admin_headers, body), "event_types[1]")
    assert "^[a-z][a-z0-9_]{1,62}$" in _reason(error, "event_types[1]")


def test_event_type_names_at_the_length_limits_pass(client, seeded) -> None:
    body = {**OK, "event_types": ["ab", "a" * 63]}
    assert _answered(ask(client, seeded, body), body) == []


@pytest.mark.parametrize("bad", ["purchase", 3, {"in": ["purchase"]}, [1]])
def test_event_types_is_a_list_of_strings(client, admin_headers, bad) -> None:
    error = _invalid(ask(client, admin_headers, {**OK, "event_types": bad}))
    assert all(d.startswith("event_types") for d in error["details"])


@pytest.mark.parametrize(
    "bad",
    ["week", "session_id", "metadata", "metadata.", "metadata.Channel", "metadata.a-b",
     "metadata.1a", "metadata." + "a" * 64, "meta.channel", "EVENT_TYPE", ""],
)  # fmt: skip
def test_group_by_is_a_known_grouping(client, admin_headers, bad) -> None:
    error = _invalid(ask(client, admin_headers, {**OK, "group_by": bad}), "group_by")
    assert "metadata.<key>" in _reason(error, "group_by")


@pytest.mark.parametrize(
    "good",
    ["none", "event_type", "session", "day", "hour", "product_id", "metadata.channel",
     "metadata._x", "metadata." + "a" * 63],
)  # fmt: skip
def test_every_documented_grouping_is_accepted(client, seeded, good) -> None:
    body = {**OK, "group_by": good, "time_window_days": 30}
    _answered(ask(client, seeded, body), body)


@pytest.mark.parametrize("bad", ["median", "COUNT", "max", 1])
def test_aggregation_is_one_of_four(client, admin_headers, bad) -> None:
    _invalid(ask(client, admin_headers, {**OK, "aggregation": bad}), "aggregation")


@pytest.mark.parametrize("bad", ["revenue", "metadata.channel", "event_type", "ts", "Value"])
def test_value_field_is_one_of_the_listed_fields(client, admin_headers, bad) -> None:
    body = {**OK, "aggregation": "count_distinct", "value_field": bad}
    _invalid(ask(client, admin_headers, body), "value_field")


@pytest.mark.parametrize("aggregation", ["sum", "avg"])
def test_sum_and_avg_need_a_value_field(client, admin_headers, aggregation) -> None:
    error = _invalid(ask(client, admin_headers, {**OK, "aggregation": aggregation}), "value_field")
    assert _reason(error, "value_field") == f"required when aggregation is {aggregation}"


@pytest.mark.parametrize("aggregation", ["sum", "avg"])
@pytest.mark.parametrize("field", ["session_id", "product_id", "agent_id", "customer_id"])
def test_sum_and_avg_refuse_identifier_fields(client, admin_headers, aggregation, field) -> None:
    body = {**OK, "aggregation": aggregation, "value_field": field}
    error = _invalid(ask(client, admin_headers, body), "value_field")
    assert "numeric" in _reason(error, "value_field")


def test_value_field_is_ignored_for_count(client, seeded) -> None:
    body = {**OK, "aggregation": "count", "value_field": "customer_id"}
    rows = _answered(ask(client, seeded, body), body)
    # the ignored field is not part of the normalised body, so the plain count is a cache hit
    plain = {**OK, "aggregation": "count"}
    assert _answered(ask(client, seeded, plain), plain, cache_hit=True) == rows


def test_time_window_days_is_required(client, admin_headers) -> None:
    error = _invalid(ask(client, admin_headers, {"group_by": "none"}), "time_window_days")
    assert _reason(error, "time_window_days") == "required field is missing"


@pytest.mark.parametrize("bad", [0, -1, 366, 7.5, "7", True, None])
def test_time_window_days_is_an_integer_from_1_to_365(client, admin_headers, bad) -> None:
    _invalid(ask(client, admin_headers, {**OK, "time_window_days": bad}), "time_window_days")


@pytest.mark.parametrize("good", [1, 365])
def test_time_window_days_bounds_are_inclusive(client, seeded, good) -> None:
    body = {**OK, "time_window_days": good}
    _answered(ask(client, seeded, body), body)


@pytest.mark.parametrize("bad", [0, 1001, -5, 10.0, "100"])
def test_limit_is_an_integer_from_1_to_1000(client, admin_headers, bad) -> None:
    _invalid(ask(client, admin_headers, {**OK, "limit": bad}), "limit")


@pytest.mark.parametrize("good", [1, 1000])
def test_limit_bounds_are_inclusive(client, seeded, good) -> None:
    body = {**OK, "limit": good, "time_window_days": 30}
    rows = _answered(ask(client, seeded, body), body)
    assert len(rows) == min(good, len(expected(ROWS, {**body, "limit": 1000})))


@pytest.mark.parametrize("content", [b"{", b"", b"[1, 2]", b'"x"'])
def test_the_body_is_one_json_object(client, admin_headers, content) -> None:
    response = client.post(
        ENDPOINT.format("ws_a"),
        content=content,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    _invalid(response, "body")


def test_every_problem_is_reported_at_once(client, admin_headers) -> None:
    body = {"group_by": "week", "time_window_days": 0, "limit": 0, "brand_id": "x", "extra": 1}
    headers = {**admin_headers, "X-Active-Brand": "br_1"}
    response = ask(client, headers, body, workspace="Bad", brand_id="br_2")
    fields = ("workspaceId", "query.brand_id", "group_by", "time_window_days", "limit")
    error = _invalid(response, *fields, "brand_id", "extra")
    assert error["message"] == "7 problems in the request"


def test_other_statuses_keep_the_envelope_without_details(client, admin_headers) -> None:
    body = {**OK, "event_types": ["purchase"] * 500}
    response = ask(client, admin_headers, body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert set(response.json()) == {"error"} and set(error) == {"code", "message"}
    assert error["code"] == "too_large"
    assert str(MAX_BODY) in error["message"]
