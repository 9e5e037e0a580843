"""Profile 001 numbers: every aggregation per groupBy and per bucket against the Python oracle,
the bucket grammar, ordering, and agreement with the native API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.profiles.agent_metrics_support import (
    Env,
    assert_points,
    body,
    expected,
    identity,
    instant,
    open_env,
    select,
)

EVERY_TYPE = ("count", "countDistinct", "sum", "avg", "min", "max", "p50", "p75", "p90", "p95")
EVERY_TYPE += ("p99",)
NUMERIC = ("latencyMs", "inputTokens", "outputTokens", "costUsd", "httpStatusCode")
HOUR, DAY, WEEK = 3600, 86_400, 604_800


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from open_env(tmp_path_factory)


def timeseries(interval: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return body("timeseries", interval=interval, startTs=start, endTs=end, **extra)


def every_aggregation() -> list[dict[str, str]]:
    out = [{"type": t, "column": c} for t in EVERY_TYPE for c in NUMERIC]
    text = ("agentName", "conversationID", "userEmail", "virtualAccount", "metadata.model")
    out += [{"type": t, "column": c} for t in ("count", "countDistinct") for c in text]
    out += [{"type": "count", "column": "isFailure"}, {"type": "count", "column": "team"}]
    return out


def check(env: Env, request: dict[str, Any], bucket: tuple[int, bool] | None = None) -> list:
    points = env.points(request)
    assert_points(points, expected(select(env.rows, request), request, bucket), request)
    return points


@pytest.mark.parametrize(
    "group_by",
    [
        [],
        ["agentName"],
        ["team"],
        ["userEmail"],
        ["virtualaccount"],
        ["metadata.model"],
        ["isFailure", "httpStatusCode"],
        ["agentFramework", "agentServerType", "team"],
        ["conversationID"],
    ],
)
def test_distribution_every_aggregation_per_group(env: Env, group_by: list[str]) -> None:
    aggregations = every_aggregation()
    for chunk in range(0, len(aggregations), 30):
        request = body(groupBy=group_by, aggregations=aggregations[chunk : chunk + 30])
        assert check(env, request)


def test_null_agent_names_form_their_own_group(env: Env) -> None:
    points = check(
        env, body(groupBy=["agentName"], aggregations=[{"type": "p99", "column": "latencyMs"}])
    )
    nulls = [p for p in points if p["agentName"] is None]
    assert len(nulls) == 1 and nulls[0]["total"] > 0
    assert points[-1]["agentName"] is not None or len(points) == 1


def test_team_fans_out_with_a_scalar_team_and_a_null_team_for_no_team(env: Env) -> None:
    points = check(env, body(groupBy=["team"], aggregations=[{"type": "sum", "column": "costUsd"}]))
    teams = {p["team"] for p in points}
    assert {"support", "platform", "sales", "finance", "ops", "data", None} == teams
    # A row of a subject in two teams counts in both: the team totals exceed the row count.
    assert sum(p["total"] for p in points) > len(select(env.rows, body()))


def test_user_email_groups_only_user_rows(env: Env) -> None:
    points = check(env, body(groupBy=["userEmail"]))
    assert all(not p["createdBySubjectSlug"].startswith("va-") for p in points)
    accounts = check(env, body(groupBy=["virtualAccount"]))
    assert all(p["createdBySubjectSlug"].startswith("va-") for p in accounts)
    assert sum(p["total"] for p in points + accounts) == len(select(env.rows, body()))


def test_distribution_is_ordered_by_total_then_group_values(env: Env) -> None:
    points = env.points(body(groupBy=["agentName", "isFailure"]))
    keys = [
        (-p["total"], p["agentName"] is None, p["agentName"] or "", p["isFailure"]) for p in points
    ]
    assert keys == sorted(keys)


DAY_21 = {"startTs": "2026-04-21T00:00:00Z", "endTs": "2026-04-22T00:00:00Z"}


@pytest.mark.parametrize(
    ("interval", "bucket", "window"),
    [
        ("1 hour", (HOUR, False), {}),
        ("6 hours", (6 * HOUR, False), {}),
        ("90 minutes", (90 * 60, False), {}),
        ("1 day", (DAY, False), {}),
        ("3 days", (3 * DAY, False), {}),
        ("1 week", (WEEK, True), {}),
        ("2 weeks", (2 * WEEK, True), {}),
        ("45 second", (45, False), DAY_21),
        ("7 minute", (7 * 60, False), DAY_21),
    ],
)
def test_timeseries_buckets_per_group(
    env: Env, interval: str, bucket: tuple[int, bool], window: dict[str, str]
) -> None:
    aggregations = [{"type": t, "column": "latencyMs"} for t in EVERY_TYPE]
    aggregations.append({"type": "countDistinct", "column": "userEmail"})
    for group_by in ([], ["agentName"], ["team"]):
        request = body(
            "timeseries", interval=interval, groupBy=group_by, aggregations=aggregations, **window
        )
        points = check(env, request, bucket)
        order = [
            (p["startTimestamp"], *[(p[k] is None, p[k] or "") for k in identity(request)[1:]])
            for p in points
        ]
        assert order == sorted(order)


def test_weeks_start_on_monday_and_end_at_the_next_start(env: Env) -> None:
    points = check(env, body("timeseries", interval="1 week"), (WEEK, True))
    starts = [instant(p["startTimestamp"]) for p in points]
    assert [s.weekday() for s in starts] == [0, 0]
    assert points[0]["endTimestamp"] == points[1]["startTimestamp"] == "2026-04-20T00:00:00.000Z"
    # The row at Sunday 23:59:59.999 is in the first week, the one at Monday 00:00 in the second.
    edge = timeseries("1 week", "2026-04-19T23:59:59Z", "2026-04-20T00:00:01Z")
    edge_points = check(env, edge, (WEEK, True))
    assert [p["startTimestamp"] for p in edge_points] == [
        "2026-04-13T00:00:00.000Z",
        "2026-04-20T00:00:00.000Z",
    ]


def test_buckets_are_epoch_aligned_even_when_the_window_is_not(env: Env) -> None:
    request = timeseries("1 hour", "2026-04-21T09:30:00Z", "2026-04-21T12:15:00Z")
    points = check(env, request, (HOUR, False))
    assert points[0]["startTimestamp"] == "2026-04-21T09:00:00.000Z"
    assert all(p["startTimestamp"].endswith(":00:00.000Z") for p in points)


def test_buckets_are_sparse(env: Env) -> None:
    request = timeseries(
        "1 minute", "2026-04-21T09:00:00Z", "2026-04-21T11:00:00Z", groupBy=["agentName"]
    )
    points = check(env, request, (60, False))
    assert 0 < len(points) < 120
    assert all(p["total"] > 0 for p in points)


def test_interval_in_seconds_is_fixed_epoch_aligned_buckets(env: Env) -> None:
    request = body("timeseries", intervalInSeconds=5400, groupBy=["agentName"])
    points = check(env, request, (5400, False))
    for p in points:
        assert instant(p["startTimestamp"]).timestamp() % 5400 == 0
    # 14 days in seconds is a fixed 1,209,600 s from the epoch, not a Monday-aligned fortnight.
    fortnight = body("timeseries", intervalInSeconds=14 * DAY)
    check(env, fortnight, (14 * DAY, False))
    monday_fortnight = check(env, body("timeseries", interval="2 weeks"), (2 * WEEK, True))
    assert env.points(fortnight) != monday_fortnight


def test_interval_in_seconds_matches_the_same_interval_in_words(env: Env) -> None:
    by_seconds = env.points(body("timeseries", intervalInSeconds=HOUR, groupBy=["team"]))
    by_words = env.points(body("timeseries", interval="60 minutes", groupBy=["team"]))
    assert by_seconds == by_words


def test_filters_and_groups_together(env: Env) -> None:
    filters = [
        {"fieldName": "agentName", "operator": "IN", "value": ["support-bot", "Support-Helper"]},
        {"fieldName": "httpStatusCode", "operator": "GREATER_THAN_EQUAL", "value": 200},
        {"fieldName": "httpStatusCode", "operator": "LESS_THAN_EQUAL", "value": 500},
        {"metadataKey": "region", "operator": "NOT_EQUAL", "value": "eu-west-1"},
        {"fieldName": "team", "operator": "ARRAY_HAS_NONE", "value": ["finance"]},
    ]
    aggregations = [{"type": "p95", "column": "latencyMs"}, {"type": "avg", "column": "costUsd"}]
    check(env, body(filters=filters, groupBy=["agentName", "team"], aggregations=aggregations))
    check(
        env,
        body(
            "timeseries",
            interval="1 day",
            filters=filters,
            groupBy=["userEmail"],
            aggregations=aggregations,
        ),
        (DAY, False),
    )


def test_timestamps_without_offset_are_utc_and_windows_are_half_open(env: Env) -> None:
    naive = body(startTs="2026-04-21T10:00:00", endTs="2026-04-26T23:59:59.999")
    points = env.points(naive)
    wanted = len(
        select(env.rows, body(startTs="2026-04-21T10:00:00Z", endTs="2026-04-26T23:59:59.999Z"))
    )
    assert points == [{"total": wanted}]


def _native(env: Env, request: dict[str, Any]) -> list[dict[str, Any]]:
    response = env.client.post("/v1/query", json=request, headers=env.admin)
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def test_distribution_equals_the_native_api(env: Env) -> None:
    request = body(
        groupBy=["agentName", "team"],
        aggregations=[
            {"type": "p99", "column": "latencyMs"},
            {"type": "countDistinct", "column": "conversationID"},
            {"type": "sum", "column": "inputTokens"},
        ],
        filters=[{"fieldName": "isFailure", "operator": "EQUAL", "value": False}],
    )
    native = {
        "dataset": "agent_metrics",
        "time": {"start": request["startTs"], "end": request["endTs"]},
        "filter": {"field": "is_failure", "op": "eq", "value": False},
        "measures": [
            {"op": "count", "as": "total"},
            {"op": "p99", "field": "latency_ms"},
            {"op": "count_distinct", "field": "conversation_id"},
            {"op": "sum", "field": "input_tokens"},
        ],
        "group_by": ["agent_name", "team"],
    }
    rows = _native(env, native)
    points = env.points(request)
    assert [
        {
            "agentName": r["agent_name"],
            "team": r["team"],
            "total": r["total"],
            "p99LatencyMs": r["p99_latency_ms"],
            "countDistinctConversationID": r["count_distinct_conversation_id"],
            "sumInputTokens": r["sum_input_tokens"],
        }
        for r in rows
    ] == points


def test_timeseries_equals_the_native_api(env: Env) -> None:
    request = body(
        "timeseries",
        interval="6 hours",
        groupBy=["metadata.model"],
        aggregations=[{"type": "avg", "column": "costUsd"}],
        filters=[{"fieldName": "userEmail", "operator": "STRING_ENDS_WITH", "value": "@acme.io"}],
    )
    native = {
        "dataset": "agent_metrics",
        "time": {"start": request["startTs"], "end": request["endTs"]},
        "filter": {
            "and": [
                {"field": "created_by_subject_type", "op": "eq", "value": "user"},
                {"field": "created_by_subject_slug", "op": "ends_with", "value": "@acme.io"},
            ]
        },
        "measures": [{"op": "count", "as": "total"}, {"op": "avg", "field": "cost_usd"}],
        "group_by": ["metadata.model", {"time": "6 hour"}],
        "limit": 10_000,
    }
    rows = _native(env, native)
    points = env.points(request)
    assert len(points) == len(rows) > 100
    for row, point in zip(rows, points, strict=True):
        start = datetime.fromisoformat(row["time"]).astimezone(UTC)
        assert instant(point["startTimestamp"]) == start
        assert point["metadata.model"] == row["metadata.model"]
        assert (point["total"], point["avgCostUsd"]) == (row["total"], row["avg_cost_usd"])
