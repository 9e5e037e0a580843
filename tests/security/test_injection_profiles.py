"""Hostile strings through every profile endpoint: in headers, path segments, body fields, filter
values and field names. Each is either refused with a 4xx in the profile's shape or matched as a
literal value; never a 500, never SQL or a stack trace in the answer, and the data is intact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.helpers import bearer
from tests.security.support import TS, ingest, open_client
from tests.security.test_injection import HOSTILE

PRINTABLE = [h for h in HOSTILE if h.isascii() and h.isprintable() and h.strip() and len(h) < 500]
CASES = [pytest.param(h, id=f"h{i}") for i, h in enumerate(HOSTILE)]
HEADER_CASES = [pytest.param(h, id=f"h{i}") for i, h in enumerate(HOSTILE) if h in PRINTABLE]


def metrics_row(i: int, agent: str) -> dict[str, Any]:
    return {
        "tenant_id": "tn_a",
        "id": f"m{i}",
        "ts": TS,
        "agent_name": agent,
        "is_failure": False,
        "latency_ms": 10.0,
        "created_by_subject_slug": "alice",
        "created_by_subject_type": "user",
        "team": ["support"],
    }


def invoice_row(i: int, customer: str) -> dict[str, Any]:
    return {
        "workspace_id": "ws_a",
        "id": f"inv{i}",
        "number": f"N-{i}",
        "status": "paid",
        "issue_date": "2026-11-01",
        "customer": {"name": customer},
        "grand_total": {"amount": 10.0, "currency": "EUR"},
    }


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with open_client(tmp_path_factory.mktemp("injection-profiles") / "data") as client:
        _, token = client.app.state.keys.create("admin", {}, all_tenants=True)
        headers = bearer(token)
        ingest(client, headers, [metrics_row(i, h) for i, h in enumerate(HOSTILE)], "agent_metrics")
        ingest(client, headers, [invoice_row(i, h) for i, h in enumerate(HOSTILE)], "invoices")
        yield client, headers
        for dataset in ("agent_metrics", "invoices"):
            body = {"dataset": dataset, "measures": [{"op": "count"}]}
            answer = client.post("/v1/query", json=body, headers=headers).json()
            assert answer["rows"][0]["count"] == len(HOSTILE), f"{dataset} is intact"


def safe(response: Response) -> Response:
    """Never a 500, a stack trace or Tally's SQL (hostile input itself may be echoed back)."""
    assert response.status_code != 500, response.text
    assert "Traceback" not in response.text
    assert "WITH src AS" not in response.text and '"t"."' not in response.text
    return response


def refused_or_ok(response: Response) -> None:
    assert response.status_code in (200, 400, 403, 404, 422), response.text


@pytest.mark.parametrize("hostile", CASES)
def test_widget_aggregation(api, hostile: str) -> None:
    client, headers = api
    bodies = [
        {"group_by": f"metadata.{hostile}", "time_window_days": 7},
        {"event_types": [hostile], "time_window_days": 7},
        {"group_by": hostile, "time_window_days": 7},
        {"aggregation": "sum", "value_field": hostile, "time_window_days": 7},
    ]
    for body in bodies:
        response = safe(
            client.post("/api/workspace/ws_a/dashboards/aggregate", json=body, headers=headers)
        )
        refused_or_ok(response)
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "invalid_request"
    if hostile not in PRINTABLE:
        return
    path = safe(
        client.post(
            f"/api/workspace/{hostile.replace('/', '%2F')}/dashboards/aggregate",
            json={"time_window_days": 7},
            headers=headers,
        )
    )
    refused_or_ok(path)


@pytest.mark.parametrize("hostile", HEADER_CASES)
def test_header_values(api, hostile: str) -> None:
    client, headers = api
    for url, method, body, header in (
        (
            "/api/workspace/ws_a/dashboards/aggregate",
            "POST",
            {"time_window_days": 7},
            "X-Active-Brand",
        ),
        (
            "/api/workspace/ws_a/dashboards/aggregate",
            "POST",
            {"time_window_days": 7},
            "X-Active-Catalog",
        ),
        ("/api/v1/dashboard-data?type=summary", "GET", None, "X-Tenant-Id"),
        (
            "/api/svc/v1/llm-gateway/metrics/query",
            "POST",
            {
                "startTs": "2026-10-01T00:00:00Z",
                "endTs": "2026-12-01T00:00:00Z",
                "datasource": "agentMetrics",
                "type": "distribution",
            },
            "X-Tenant-Id",
        ),
    ):
        response = safe(
            client.request(method, url, json=body, headers={**headers, header: hostile})
        )
        refused_or_ok(response)


@pytest.mark.parametrize("hostile", CASES)
def test_agent_metrics_values_match_literally(api, hostile: str) -> None:
    client, headers = api
    body = {
        "startTs": "2026-10-01T00:00:00Z",
        "endTs": "2026-12-01T00:00:00Z",
        "datasource": "agentMetrics",
        "type": "distribution",
        "filters": [{"fieldName": "agentName", "operator": "IN", "value": [hostile]}],
    }
    response = safe(
        client.post("/api/svc/v1/llm-gateway/metrics/query", json=body, headers=headers)
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["dataPoints"][0]["total"] == HOSTILE.count(hostile)
    for attack in (
        {**body, "filters": [{"metadataKey": hostile, "operator": "EQUAL", "value": "x"}]},
        {**body, "groupBy": [hostile]},
        {**body, "aggregations": [{"type": "sum", "column": hostile}]},
    ):
        refused_or_ok(
            safe(client.post("/api/svc/v1/llm-gateway/metrics/query", json=attack, headers=headers))
        )


@pytest.mark.parametrize("hostile", CASES)
def test_records_statistics_values_match_literally(api, hostile: str) -> None:
    client, headers = api
    body = {
        "root": "invoices",
        "filters": [{"field": "customer.name", "operator": "eq", "value": hostile}],
        "aggregations": [{"op": "count", "field": "*", "alias": "n"}],
    }
    response = safe(client.post("/v1/records/statistics", json=body, headers=headers))
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["n"] == HOSTILE.count(hostile)
    for attack in (
        {**body, "filters": [{"field": hostile, "operator": "eq", "value": "x"}]},
        {**body, "whereClause": {hostile: {"_eq": "x"}}},
        {**body, "group_by": [hostile]},
        {**body, "aggregations": [{"op": "count", "field": "*", "alias": hostile}]},
        {**body, "root": hostile},
        {**body, "workspaceId": hostile},
    ):
        refused_or_ok(safe(client.post("/v1/records/statistics", json=attack, headers=headers)))


@pytest.mark.parametrize("hostile", CASES)
def test_feedback_and_dashboard_data(api, hostile: str) -> None:
    client, headers = api
    base = {"project_id": "proj_a", "after_ms": 1_790_000_000_000, "before_ms": 1_790_086_400_000}
    for attack in (
        {**base, "project_id": hostile},
        {**base, "scorer_ids": [hostile]},
        {**base, "monitor_ids": [hostile + "*"]},
        {**base, "feedback_types": [hostile]},
        {**base, "tags": [hostile]},
        {**base, "span_agent_names": [hostile]},
        {**base, "group_by": [hostile]},
    ):
        refused_or_ok(safe(client.post("/feedback/aggregate", json=attack, headers=headers)))
    tenant = {"X-Tenant-Id": "tn_a"}
    for params in (
        {"type": hostile},
        {"type": "why_not_ranked", "offerId": hostile},
        {"type": "score_distribution", "groupBy": hostile},
        {"type": "acceptance_rate", "segmentId": hostile},
        {"type": "summary", "days": hostile},
    ):
        response = client.get(
            "/api/v1/dashboard-data", params=params, headers={**headers, **tenant}
        )
        refused_or_ok(safe(response))
