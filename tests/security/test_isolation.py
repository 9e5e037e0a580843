"""Tenant isolation: a principal of tenant A gets exactly the answers it would get if tenant B's
rows did not exist, through every profile and the native API, for many generated queries.

Two real services are built: one holding A's and B's rows, one holding only A's. B's rows are
copies of A's rows (same event types, brands, groups, scorers) with values that change every
aggregate (amounts ×1000 + 7, fresh sessions and ids, shifted ratings), so any leak — a missing
tenant predicate, a shared cache entry, a widened scope — shows up as a difference. The oracle
is the A-only service: what is tested is that B cannot influence A, whatever A asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tally.api.app import create_app
from tally.config import Settings
from tally.demo.generate import generate
from tally.wiring import build_service
from tests.helpers import bearer

NOW = datetime.now(UTC)
TENANTS = {
    "agent_events": ("workspace_id", "ws_acme", "ws_bbb"),
    "agent_metrics": ("tenant_id", "tn_acme", "tn_bbb"),
    "invoices": ("workspace_id", "ws_acme", "ws_bbb"),
    "feedback": ("project_id", "proj_alpha", "proj_bbb"),
}
KEYS = {"agent_events": "event_id", "agent_metrics": "id", "invoices": "id", "feedback": "id"}
SCOPE = {"workspace_id": ("ws_acme",), "project_id": ("proj_alpha",), "tenant_id": ("tn_acme",)}
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _replace(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, array)


def _prefixed(table: pa.Table, name: str, prefix: str) -> pa.Table:
    column = table.column(name)
    return _replace(
        table,
        name,
        pc.if_else(pc.is_null(column), column, pc.binary_join_element_wise(prefix, column, "")),
    )


def _moved(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """x * 1000 + 7, in the column's own type (money stays a decimal of its scale)."""
    moved = pc.add(pc.multiply(pc.cast(values, pa.float64()), 1000), 7)
    return pc.cast(moved, values.type)


def _tenant_b(dataset: str, rows: pa.Table) -> pa.Table:
    """B's copy of A's rows: same groups, values that move every aggregate."""
    schema = rows.schema
    column, _, tenant_b = TENANTS[dataset]
    rows = _replace(rows, column, pa.array([tenant_b] * rows.num_rows))
    rows = _prefixed(rows, KEYS[dataset], "b_")
    if dataset == "agent_events":
        rows = _prefixed(rows, "session_id", "b_")
        for numeric in ("amount", "value", "duration_ms", "price"):
            rows = _replace(rows, numeric, _moved(rows.column(numeric)))
    elif dataset == "agent_metrics":
        rows = _prefixed(rows, "conversation_id", "b_")
        for numeric in ("latency_ms", "cost_usd"):
            rows = _replace(rows, numeric, _moved(rows.column(numeric)))
    elif dataset == "invoices":
        rows = _replace(rows, "grand_total__amount", _moved(rows.column("grand_total__amount")))
    else:
        rows = _replace(
            rows,
            "scorer_tags",
            pa.array([["b_tag"]] * rows.num_rows, schema.field("scorer_tags").type),
        )
    return pa.Table.from_arrays([rows.column(name) for name in schema.names], schema=schema)


def _tenant_a(dataset: str, total: int) -> pa.Table:
    column, tenant_a, _ = TENANTS[dataset]
    rows = generate(dataset, total, NOW)
    return rows.filter(pc.equal(rows.column(column), tenant_a))


@dataclass
class World:
    both: TestClient
    only_a: TestClient
    headers_both: dict[str, str]
    headers_a: dict[str, str]

    def ask(self, method: str, url: str, **kwargs: Any) -> tuple[Any, Any]:
        first = self.both.request(
            method, url, headers={**self.headers_both, **kwargs.pop("headers", {})}, **kwargs
        )
        second = self.only_a.request(
            method, url, headers={**self.headers_a, **kwargs.get("extra", {})}, **kwargs
        )
        return first, second


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    sizes = (
        ("agent_events", 3000),
        ("agent_metrics", 2000),
        ("invoices", 1500),
        ("feedback", 1500),
    )
    tables = {name: _tenant_a(name, size) for name, size in sizes}
    clients, headers, services = [], [], []
    for with_b in (True, False):
        root = tmp_path_factory.mktemp("isolation")
        config = Settings.from_env(data_dir=root / "data", datasets_dir=root / "datasets")
        service = build_service(config)
        for name, rows in tables.items():
            batch = pa.concat_tables([rows, _tenant_b(name, rows)]) if with_b else rows
            outcome = service.ingestion.load_table(name, batch, partial=False)
            assert not outcome.rejected and outcome.accepted == batch.num_rows
        app = create_app(config, service)
        _, token = app.state.keys.create("admin", SCOPE, name="tenant-a")
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        headers.append(bearer(token))
        services.append(service)
    yield World(clients[0], clients[1], headers[0], headers[1])
    for client in clients:
        client.__exit__(None, None, None)


def _close(left: Any, right: Any) -> bool:
    """Equal, floats within 1e-9 relative: sums may add up in another order on other data."""
    if isinstance(left, float) or isinstance(right, float):
        return (
            isinstance(left, (int, float))
            and isinstance(right, (int, float))
            and (left == pytest.approx(right, rel=1e-9, abs=1e-9))
        )
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_close(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_close, left, right))
    return left == right


def _same(first, second, strip: tuple[str, ...] = ()) -> None:
    assert first.status_code == second.status_code, (first.text, second.text)
    left, right = first.json(), second.json()
    for key in strip:
        left.pop(key, None)
        right.pop(key, None)
    assert _close(left, right), (left, right)


# --- native API -------------------------------------------------------------------------------

native_measures = st.lists(
    st.sampled_from(
        [
            {"op": "count"},
            {"op": "count_distinct", "field": "session_id"},
            {"op": "sum", "field": "amount", "as": "revenue"},
            {"op": "avg", "field": "duration_ms"},
            {"op": "max", "field": "price"},
            {"op": "p90", "field": "duration_ms"},
            {
                "op": "count",
                "as": "purchases",
                "filter": {"field": "event_type", "op": "eq", "value": "purchase"},
            },
        ]
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda m: m.get("as") or f"{m['op']}_{m.get('field')}",
)
native_groups = st.lists(
    st.sampled_from(["event_type", "brand_id", "metadata.channel", "workspace_id", "catalog_id"]),
    max_size=2,
    unique=True,
)
native_filters = st.one_of(
    st.none(),
    st.just({"field": "workspace_id", "op": "eq", "value": "ws_bbb"}),
    st.just(
        {
            "or": [
                {"field": "workspace_id", "op": "in", "value": ["ws_bbb", "ws_acme"]},
                {"field": "amount", "op": "gt", "value": 1000},
            ]
        }
    ),
    st.just({"not": {"field": "workspace_id", "op": "eq", "value": "ws_acme"}}),
    st.just({"field": "event_type", "op": "in", "value": ["purchase", "page_view", "search"]}),
)


@EXAMPLES
@given(
    measures=native_measures,
    groups=native_groups,
    where=native_filters,
    bucket=st.sampled_from([None, "1 day", "1 week"]),
    top=st.sampled_from([None, 2]),
)
def test_native_queries_see_only_tenant_a(
    world: World, measures, groups, where, bucket, top
) -> None:
    body: dict[str, Any] = {
        "dataset": "agent_events",
        "time": {"last": "90d"},
        "measures": measures,
    }
    body["group_by"] = [*groups, *([{"time": bucket}] if bucket else [])]
    if where is not None:
        body["filter"] = where
    if top and groups:
        body["top"] = {"n": top}
    first, second = world.ask("POST", "/v1/query", json=body)
    assert first.status_code == 200, first.text
    assert _close(first.json()["rows"], second.json()["rows"])


def test_tenant_b_rows_really_change_the_numbers(tmp_path_factory, world: World) -> None:
    """Without the scope, B's rows would move the answer: the suite can see a leak."""
    body = {"dataset": "agent_events", "measures": [{"op": "count"}]}
    everything = world.both.app.state.keys.create("admin", {}, all_tenants=True)[1]
    only_a = world.only_a.app.state.keys.create("admin", {}, all_tenants=True)[1]
    count_both = world.both.post("/v1/query", json=body, headers=bearer(everything)).json()
    count_a = world.only_a.post("/v1/query", json=body, headers=bearer(only_a)).json()
    assert count_both["rows"][0]["count"] == 2 * count_a["rows"][0]["count"]


def test_asking_for_tenant_b_is_refused_not_empty(world: World) -> None:
    body = {"dataset": "agent_events", "scope": {"workspace_id": "ws_bbb"}}
    response = world.both.post("/v1/query", json=body, headers=world.headers_both)
    assert response.status_code == 403


# --- profile 000 ------------------------------------------------------------------------------


@EXAMPLES
@given(
    group_by=st.sampled_from(
        [
            "none",
            "event_type",
            "session",
            "day",
            "hour",
            "product_id",
            "metadata.channel",
            "metadata.country",
        ]
    ),
    aggregation=st.sampled_from(
        [
            ("count", None),
            ("count_distinct", "customer_id"),
            ("sum", "amount"),
            ("avg", "duration_ms"),
            ("sum", "value"),
        ]
    ),
    event_types=st.one_of(
        st.none(),
        st.lists(
            st.sampled_from(["purchase", "page_view", "search", "add_to_cart"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
    ),
    days=st.integers(1, 365),
    brand=st.sampled_from([None, "br_acme_main"]),
)
def test_widget_aggregation_sees_only_tenant_a(
    world, group_by, aggregation, event_types, days, brand
) -> None:
    op, field = aggregation
    body: dict[str, Any] = {
        "group_by": group_by,
        "aggregation": op,
        "time_window_days": days,
        "event_types": event_types,
        "limit": 1000,
    }
    if field:
        body["value_field"] = field
    extra = {"X-Active-Brand": brand} if brand else {}
    url = "/api/workspace/ws_acme/dashboards/aggregate"
    first = world.both.post(url, json=body, headers={**world.headers_both, **extra})
    second = world.only_a.post(url, json=body, headers={**world.headers_a, **extra})
    assert first.status_code in (200, 403), first.text
    _same(first, second, strip=("generated_at", "cache_hit"))


def test_widget_aggregation_of_workspace_b_is_forbidden(world: World) -> None:
    body = {"group_by": "none", "time_window_days": 30}
    response = world.both.post(
        "/api/workspace/ws_bbb/dashboards/aggregate", json=body, headers=world.headers_both
    )
    assert response.status_code == 403


# --- profile 002 ------------------------------------------------------------------------------


@EXAMPLES
@given(
    aggregations=st.lists(
        st.sampled_from(
            [
                {"op": "count", "field": "*"},
                {"op": "sum", "field": "grand_total.amount"},
                {"op": "avg", "field": "grand_total.amount"},
                {"op": "max", "field": "line_count"},
                {"op": "count_distinct", "field": "customer.name"},
            ]
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda a: (a["op"], a["field"]),
    ),
    group_by=st.lists(
        st.sampled_from(["status", "grand_total.currency", "customer.country"]),
        max_size=2,
        unique=True,
    ),
    filters=st.sampled_from(
        [
            [],
            [{"field": "status", "operator": "in", "value": ["paid", "issued"]}],
            [
                {"field": "workspace_id", "operator": "eq", "value": "ws_bbb", "conjunction": "or"},
                {"field": "status", "operator": "eq", "value": "paid"},
            ],
        ]
    ),
    narrow=st.booleans(),
)
def test_records_statistics_see_only_tenant_a(
    world, aggregations, group_by, filters, narrow
) -> None:
    body: dict[str, Any] = {
        "root": "invoices",
        "aggregations": aggregations,
        "group_by": group_by,
        "filters": filters,
    }
    if narrow:
        body["workspaceId"] = "ws_acme"
    first, second = world.ask("POST", "/v1/records/statistics", json=body)
    assert first.status_code in (200, 400), first.text
    _same(first, second, strip=("meta",) if first.status_code == 200 else ())
    if first.status_code == 200:
        assert first.json()["meta"].get("currency") == second.json()["meta"].get("currency")


# --- profile 003 ------------------------------------------------------------------------------


@EXAMPLES
@given(
    bucket=st.sampled_from([None, 3600, 86400, 7 * 86400]),
    group_by=st.lists(
        st.sampled_from(["scorer_id", "span_agent_name", "span_agent_version", "span_status_code"]),
        max_size=2,
        unique=True,
    ),
    tags=st.sampled_from([None, ["hallucination"], ["b_tag", "toxicity"]]),
    rating=st.sampled_from([None, 0.5]),
    days=st.integers(1, 31),
)
def test_feedback_aggregate_sees_only_tenant_a(world, bucket, group_by, tags, rating, days) -> None:
    end = int(NOW.timestamp() * 1000) // 60_000 * 60_000
    body: dict[str, Any] = {
        "project_id": "proj_alpha",
        "after_ms": end - days * 86_400_000,
        "before_ms": end,
        "time_bucket_seconds": bucket,
        "group_by": group_by,
    }
    if tags:
        body["tags"] = tags
    if rating is not None:
        body["rating_min"] = rating
    first, second = world.ask("POST", "/feedback/aggregate", json=body)
    assert first.status_code in (200, 422), first.text
    _same(first, second)


def test_feedback_of_project_b_is_forbidden(world: World) -> None:
    body = {"project_id": "proj_bbb", "after_ms": 0, "before_ms": 1}
    assert (
        world.both.post("/feedback/aggregate", json=body, headers=world.headers_both).status_code
        == 403
    )


# --- profile 001 ------------------------------------------------------------------------------


@EXAMPLES
@given(
    kind=st.sampled_from(["distribution", "timeseries"]),
    group_by=st.lists(
        st.sampled_from(["agentName", "team", "agentFramework", "metadata.model", "userEmail"]),
        max_size=2,
        unique=True,
    ),
    aggregations=st.lists(
        st.sampled_from(
            [
                {"type": "count", "column": "agentName"},
                {"type": "countDistinct", "column": "conversationID"},
                {"type": "sum", "column": "costUsd"},
                {"type": "p99", "column": "latencyMs"},
                {"type": "avg", "column": "inputTokens"},
            ]
        ),
        max_size=3,
        unique_by=lambda a: (a["type"], a["column"]),
    ),
    filters=st.sampled_from(
        [
            [],
            [{"fieldName": "isFailure", "operator": "EQUAL", "value": False}],
            [{"fieldName": "latencyMs", "operator": "GREATER_THAN", "value": 1000}],
        ]
    ),
    tenant_header=st.booleans(),
)
def test_agent_metrics_see_only_tenant_a(
    world, kind, group_by, aggregations, filters, tenant_header
) -> None:
    end = NOW.replace(second=0, microsecond=0)
    body: dict[str, Any] = {
        "startTs": (end - timedelta(days=30)).isoformat(),
        "endTs": end.isoformat(),
        "datasource": "agentMetrics",
        "type": kind,
        "groupBy": group_by,
        "aggregations": aggregations,
        "filters": filters,
    }
    if kind == "timeseries":
        body["interval"] = "1 day"
    extra = {"X-Tenant-Id": "tn_acme"} if tenant_header else {}
    url = "/api/svc/v1/llm-gateway/metrics/query"
    first = world.both.post(url, json=body, headers={**world.headers_both, **extra})
    second = world.only_a.post(url, json=body, headers={**world.headers_a, **extra})
    assert first.status_code in (200, 400), first.text
    _same(first, second)
