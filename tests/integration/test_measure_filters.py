"""A measure's own filter holds for every measure, the p50...p99 shorthands included (they were
once rewritten as `percentile` without it, and answered over all rows)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from tests.helpers import live_app

ROWS = [
    {
        "workspace_id": "ws_a",
        "brand_id": "br_a",
        "event_id": f"e{i}",
        "event_type": "purchase" if i < 5 else "page_view",
        "ts": f"2026-01-01T00:0{i}:00Z",
        "amount": float(i),
    }
    for i in range(10)
]


@pytest.mark.parametrize("op,q", [("p50", 0.5), ("p90", 0.9), ("percentile", 0.75)])
def test_a_filtered_percentile_reads_only_its_rows(tmp_path: Path, op: str, q: float) -> None:
    with live_app(tmp_path) as live:
        stored = live.client.post("/v1/datasets/agent_events/rows", json=ROWS, headers=live.admin)
        assert stored.json()["accepted"] == len(ROWS)
        measure = {
            "op": op,
            "field": "amount",
            "as": "value",
            "filter": {"field": "event_type", "op": "eq", "value": "purchase"},
            **({"q": q} if op == "percentile" else {}),
        }
        answer = live.client.post(
            "/v1/query",
            json={"dataset": "agent_events", "measures": [measure]},
            headers=live.admin,
        )
        assert answer.status_code == 200, answer.text
        purchases = [r["amount"] for r in ROWS if r["event_type"] == "purchase"]
        # Linear interpolation between closest ranks, as the engines compute it.
        expected = statistics.quantiles(purchases, n=100, method="inclusive")[round(q * 100) - 1]
        assert answer.json()["rows"][0]["value"] == pytest.approx(expected)
