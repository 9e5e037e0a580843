"""End to end against a real server process: `tally serve` on a free port, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.server_support import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("server") / "data"
    with running_server(data_dir) as base:
        yield base, data_dir


def test_health_and_readiness(server) -> None:
    base, _ = server
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["status"] == "ready" and ready["checks"]["engine"] == "ok"


def test_query_without_token_is_401_in_the_native_shape(server) -> None:
    base, _ = server
    response = httpx.post(f"{base}/v1/query", json={"dataset": "agent_events"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    bad = httpx.post(
        f"{base}/v1/query", json={"dataset": "agent_events"}, headers=bearer("tly_nope_nope")
    )
    assert bad.status_code == 401


def test_ingest_then_query_over_http(server) -> None:
    base, data_dir = server
    store = KeyStore(data_dir / "keys.sqlite")
    _, editor = store.create("editor", {"workspace_id": ("ws_http",)})
    store.close()
    now = datetime.now(UTC)
    rows = [
        {
            "workspace_id": "ws_http",
            "brand_id": "br_1",
            "event_id": f"h{i}",
            "event_type": "purchase" if i % 3 == 0 else "view",
            "ts": (now - timedelta(minutes=5 * i)).isoformat(),
            "amount": float(i),
        }
        for i in range(30)
    ]
    stored = httpx.post(f"{base}/v1/datasets/agent_events/rows", json=rows, headers=bearer(editor))
    assert stored.status_code == 200, stored.text
    assert stored.json()["accepted"] == 30
    body = {
        "dataset": "agent_events",
        "time": {"last": "1d"},
        "group_by": ["event_type"],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }
    answer = httpx.post(f"{base}/v1/query", json=body, headers=bearer(editor))
    assert answer.status_code == 200, answer.text
    got = {r["event_type"]: (r["count"], r["sum_amount"]) for r in answer.json()["rows"]}
    expected: dict[str, tuple[int, float]] = {}
    for row in rows:
        count, total = expected.get(row["event_type"], (0, 0.0))
        expected[row["event_type"]] = (count + 1, total + row["amount"])
    assert got == expected
    meta = answer.json()["meta"]
    assert meta["scope"] == {"workspace_id": "ws_http"}
    assert datetime.fromisoformat(meta["watermark"]) == datetime.fromisoformat(rows[0]["ts"])
    assert answer.headers["x-trace-id"]
    metrics = httpx.get(f"{base}/metrics").text
    assert 'tally_requests_total{method="POST",route="/v1/query",status="200"}' in metrics
    assert 'tally_rows_ingested_total{dataset="agent_events"} 30.0' in metrics


def test_revoked_key_is_refused_on_the_next_request(server) -> None:
    base, data_dir = server
    store = KeyStore(data_dir / "keys.sqlite")
    key_id, token = store.create("viewer", {"workspace_id": ("ws_http",)})
    body = {"dataset": "agent_events", "measures": [{"op": "count"}]}
    assert httpx.post(f"{base}/v1/query", json=body, headers=bearer(token)).status_code == 200
    assert store.revoke(key_id)
    store.close()
    assert httpx.post(f"{base}/v1/query", json=body, headers=bearer(token)).status_code == 401
