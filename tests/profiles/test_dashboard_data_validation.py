"""The request rules of /api/v1/dashboard-data: every 400, the segment warning, 401 and 403 in the
API's error shape, and how the tenant is chosen. A request that passes is held to its answer:
the `data` the plain-Python oracles compute over the generated rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import bearer
from tests.profiles import dashboard_data_decisions as decisions
from tests.profiles import dashboard_data_oracle as oracle
from tests.profiles.dashboard_data_support import (
    OTHER,
    PATH,
    TENANT,
    Env,
    Rows,
    generate,
    open_env,
    other_tenant,
)

ACCEPTS: dict[str, set[str]] = {
    "summary": set(),
    "acceptance_rate": {"segmentId"},
    "offer_performance": {"segmentId"},
    "channel_effectiveness": {"segmentId"},
    "budget_burn": set(),
    "funnel": set(),
    "attribution_summary": set(),
    "daily_trend": {"segmentId"},
    "model_metrics_trend": {"modelId"},
    "latency_trend": set(),
    "offer_performance_grouped": {"groupBy", "segmentId"},
    "revenue_trend": {"segmentId"},
    "policy_impact": set(),
    "score_distribution": {"groupBy", "filterId"},
    "degraded_scoring": set(),
    "selection_frequency": {"channelId", "categoryId", "decisionFlowId", "segmentId"},
    "anomaly_candidates": {"baselineDays"},
    "why_not_ranked": {"offerId", "segmentId"},
    "decision_traces_summary": set(),
}
OPTIONAL = ["modelId", "groupBy", "filterId", "segmentId", "channelId", "categoryId"]
OPTIONAL += ["decisionFlowId", "offerId", "baselineDays"]
VALUES = {"groupBy": "channel", "baselineDays": "7"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory, generate(200))


def bad_request(response: Any, *words: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}
    assert body["error"]["code"] == "BAD_REQUEST" and body["error"]["status"] == 400
    for word in words:
        assert word in body["error"]["message"], body


def minimal(kind: str) -> dict[str, str]:
    return {"type": kind, **({"offerId": "off_01"} if kind == "why_not_ranked" else {})}


def oracle_data(rows: Rows, params: dict[str, str]) -> Any:
    """The `data` the spec gives for `params` (no segmentId), computed by the test oracles."""
    kind, days = params["type"], int(params.get("days", 7))
    by_kind = {
        "summary": lambda: oracle.summary(rows),
        "acceptance_rate": lambda: oracle.acceptance_rate(rows, days),
        "offer_performance": lambda: oracle.offer_performance(rows, days),
        "channel_effectiveness": lambda: oracle.channel_effectiveness(rows, days),
        "budget_burn": lambda: oracle.budget_burn(rows),
        "funnel": lambda: oracle.funnel(rows),
        "attribution_summary": lambda: oracle.attribution_summary(rows, days),
        "daily_trend": lambda: oracle.daily_trend(rows, days),
        "model_metrics_trend": lambda: oracle.model_metrics_trend(
            rows, days, params.get("modelId")
        ),
        "latency_trend": lambda: oracle.latency_trend(rows, days),
        "offer_performance_grouped": lambda: oracle.offer_performance_grouped(
            rows, days, params.get("groupBy", "channel")
        ),
        "revenue_trend": lambda: oracle.revenue_trend(rows, days),
        "policy_impact": lambda: oracle.policy_impact(rows),
        "score_distribution": lambda: decisions.score_distribution(
            rows, days, params.get("groupBy"), params.get("filterId")
        ),
        "degraded_scoring": lambda: decisions.degraded_scoring(rows, days),
        "selection_frequency": lambda: decisions.selection_frequency(rows, params, days),
        "anomaly_candidates": lambda: decisions.anomaly_candidates(
            rows, days, int(params["baselineDays"]) if "baselineDays" in params else None
        ),
        "why_not_ranked": lambda: decisions.why_not_ranked(rows, params["offerId"], days),
        "decision_traces_summary": lambda: decisions.decision_traces_summary(rows, days),
    }
    return by_kind[kind]()


def same(actual: Any, expected: Any, path: str = "data") -> None:
    """Equal structure and values; floats equal up to summation order."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (path, actual, expected)
        for key in expected:
            same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (path, actual, expected)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), (path, actual, expected)
    else:
        assert actual == expected, (path, actual, expected)


def answered(response: Any, rows: Rows, params: dict[str, str]) -> None:
    """A 200 whose body is exactly `{"data": <the oracle's answer>}`."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data"}, body
    same(body["data"], oracle_data(rows, params))


@pytest.mark.parametrize("kind", list(ACCEPTS))
def test_every_type_answers_with_its_defaults(env: Env, kind: str) -> None:
    answered(env.get(**minimal(kind)), env.rows, minimal(kind))


def test_summary_is_the_default_type(env: Env) -> None:
    assert env.data() == env.data(type="summary")


def test_unknown_type(env: Env) -> None:
    bad_request(env.get(type="revenue"), "unknown type", "revenue")


@pytest.mark.parametrize("kind", list(ACCEPTS))
def test_parameters_a_type_does_not_read_are_ignored(env: Env, kind: str) -> None:
    for name in OPTIONAL:
        params = minimal(kind) | {name: VALUES.get(name, "x1")}
        response = env.get(**params)
        if name not in ACCEPTS[kind]:
            answered(response, env.rows, minimal(kind))
        elif name == "filterId":  # accepted, but only with a groupBy
            bad_request(response, "filterId", "groupBy")
        elif name == "segmentId":  # x1 is no segment
            assert response.status_code == 200, (name, response.text)
            assert response.json() == {
                "data": [],
                "warning": "segment x1 not found or not materialized",
            }
        else:
            answered(response, env.rows, params)


@pytest.mark.parametrize(
    ("kind", "group"),
    [
        ("offer_performance_grouped", "offer"),
        ("offer_performance_grouped", "Channel"),
        ("score_distribution", "segment"),
        ("score_distribution", "model"),
    ],
)
def test_a_grouping_the_type_does_not_know(env: Env, kind: str, group: str) -> None:
    bad_request(env.get(type=kind, groupBy=group), "groupBy")


def test_why_not_ranked_needs_an_offer(env: Env) -> None:
    bad_request(env.get(type="why_not_ranked"), "offerId", "required")


def test_filter_id_needs_a_grouping(env: Env) -> None:
    bad_request(env.get(type="score_distribution", filterId="ch_web"), "filterId", "groupBy")


@pytest.mark.parametrize("days", ["0", "366", "-3", "seven", "7.5", ""])
def test_days_outside_1_to_365(env: Env, days: str) -> None:
    bad_request(env.get(type="daily_trend", days=days), "days")


@pytest.mark.parametrize("days", ["0", "366", "x"])
def test_baseline_days_outside_1_to_365(env: Env, days: str) -> None:
    bad_request(env.get(type="anomaly_candidates", baselineDays=days), "baselineDays")


@pytest.mark.parametrize("days", [1, 365])
def test_days_at_the_edges(env: Env, days: int) -> None:
    assert len(env.data(type="daily_trend", days=days)) == days
    params = {"type": "anomaly_candidates", "days": str(days), "baselineDays": str(days)}
    answered(env.get(**params), env.rows, params)


def query_string(env: Env, query: str) -> Any:
    return env.client.get(f"{PATH}?{query}", headers={**env.admin, "X-Tenant-Id": TENANT})


def test_unknown_parameters_are_ignored(env: Env) -> None:
    """A cache-buster (`_=...`) or any parameter no type reads changes nothing."""
    busted = query_string(env, "type=daily_trend&days=14&_=1714521600000&_=1&window=x")
    answered(busted, env.rows, {"type": "daily_trend", "days": "14"})


def test_one_parameter_set_serves_every_widget(env: Env) -> None:
    shared = "days=14&groupBy=channel&baselineDays=7&offerId=off_01&modelId=m_x&filterId=ch_web"
    for kind in ACCEPTS:
        params = {"type": kind, "days": "14"} | {
            name: value
            for name, value in (pair.split("=") for pair in shared.split("&"))
            if name in ACCEPTS[kind] or name == "offerId" and kind == "why_not_ranked"
        }
        answered(query_string(env, f"type={kind}&{shared}"), env.rows, params)


def test_a_malformed_parameter_the_type_does_not_read_is_ignored(env: Env) -> None:
    answered(env.get(type="summary", days="seven"), env.rows, {"type": "summary"})
    answered(env.get(type="daily_trend", baselineDays="x"), env.rows, {"type": "daily_trend"})
    twice = query_string(env, "type=funnel&days=3&days=4&segmentId=a&segmentId=b")
    answered(twice, env.rows, {"type": "funnel"})


def test_repeated_parameters_the_type_reads(env: Env) -> None:
    bad_request(query_string(env, "type=summary&type=funnel"), "type", "more than once")
    bad_request(query_string(env, "type=daily_trend&days=3&days=4"), "days", "more than once")


SEGMENT_TYPES = [kind for kind, accepted in ACCEPTS.items() if "segmentId" in accepted]


@pytest.mark.parametrize("segment", ["seg_draft", "seg_missing"])
@pytest.mark.parametrize("kind", SEGMENT_TYPES)
def test_segment_warning(env: Env, kind: str, segment: str) -> None:
    response = env.get(**minimal(kind), segmentId=segment)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": [],
        "warning": f"segment {segment} not found or not materialized",
    }


def test_an_inactive_materialized_segment_still_filters(env: Env) -> None:
    assert env.get(type="daily_trend", segmentId="seg_old").json().keys() == {"data"}


def test_a_segment_of_another_tenant_is_not_found(env: Env) -> None:
    env.ingest(OTHER, {"segments": [{"id": "seg_x", "name": "X", "status": "active",
                                     "materialized_at": "2026-03-01T00:00:00Z"}]})  # fmt: skip
    assert "warning" in env.get(type="acceptance_rate", segmentId="seg_x").json()
    other = env.get({"X-Tenant-Id": OTHER}, type="acceptance_rate", segmentId="seg_x")
    assert set(other.json()) == {"data"}


def test_a_segment_too_large_to_filter_by_is_refused(env: Env) -> None:
    """Membership travels as IN lists of at most 10,000 values in all."""
    huge = [{"segment_id": "seg_huge", "customer_id": f"c{i:05d}"} for i in range(10_001)]
    segment = {"id": "seg_huge", "name": "Huge", "status": "active"}
    env.ingest(TENANT, {"segments": [segment | {"materialized_at": "2026-03-01T00:00:00Z"}]})
    env.ingest(TENANT, {"segment_members": huge})
    response = env.get(type="daily_trend", segmentId="seg_huge")
    bad_request(response, "seg_huge", "10001", "at most 10000")


def error_of(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code and body["status"] == status and body["message"]


def test_unauthorized(env: Env) -> None:
    error_of(env.client.get(PATH, params={"type": "summary"}), 401, "UNAUTHORIZED")
    forged = env.client.get(PATH, headers=bearer("tly_nope"), params={"type": "summary"})
    error_of(forged, 401, "UNAUTHORIZED")


def test_a_tenant_outside_the_principal_is_forbidden(env: Env) -> None:
    _, token = env.keys.create("viewer", {"tenant_id": (TENANT,)}, name="main-viewer")
    headers = bearer(token) | {"X-Tenant-Id": OTHER}
    for kind in ("summary", "daily_trend", "anomaly_candidates"):
        error_of(env.client.get(PATH, params={"type": kind}, headers=headers), 403, "FORBIDDEN")
    segment = {"type": "acceptance_rate", "segmentId": "seg_vip"}
    error_of(env.client.get(PATH, params=segment, headers=headers), 403, "FORBIDDEN")


def test_a_token_of_another_tenant_kind_is_forbidden(env: Env) -> None:
    _, token = env.keys.create("admin", {"workspace_id": ("ws_a",)}, name="ws-admin")
    response = env.client.get(PATH, params={"type": "summary"}, headers=bearer(token))
    error_of(response, 403, "FORBIDDEN")
    with_header = bearer(token) | {"X-Tenant-Id": TENANT}
    error_of(env.client.get(PATH, params={"type": "funnel"}, headers=with_header), 403, "FORBIDDEN")


def test_a_one_tenant_viewer_may_omit_the_header(env: Env) -> None:
    _, token = env.keys.create("viewer", {"tenant_id": (TENANT,)}, name="viewer")
    response = env.client.get(PATH, params={"type": "funnel"}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {"data": env.data(type="funnel")}
    assert response.json() != {"data": env.data({"X-Tenant-Id": OTHER}, type="funnel")}


def test_a_token_of_several_tenants_must_name_one(env: Env) -> None:
    response = env.client.get(PATH, params={"type": "summary"}, headers=env.admin)
    bad_request(response, "X-Tenant-Id")
    _, token = env.keys.create("viewer", {"tenant_id": (TENANT, OTHER)}, name="two")
    bad_request(env.client.get(PATH, headers=bearer(token)), "X-Tenant-Id")
    named = env.client.get(PATH, headers=bearer(token) | {"X-Tenant-Id": OTHER})
    answered(named, other_tenant(), {"type": "summary"})
    assert oracle.summary(other_tenant()) != oracle.summary(env.rows)


def test_a_malformed_tenant_header(env: Env) -> None:
    bad_request(env.get({"X-Tenant-Id": "tn main;"}, type="summary"), "X-Tenant-Id")
