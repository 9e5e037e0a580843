"""The log lines an operator reads: one per request with who asked and what was answered, and a
slow-query line that names the query by hash, never by its values."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tally.logs import JsonFormatter, TextFormatter
from tests.helpers import live_app

ROWS = [
    {"workspace_id": "ws_log", "brand_id": "br_1", "event_id": f"e{i}", "event_type": "view",
     "ts": "2026-01-01T00:00:00Z", "amount": 1.5}
    for i in range(7)
]  # fmt: skip
SECRET_VALUE = "jane.doe@example.com"


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == logger]


def test_a_request_logs_one_json_line_with_who_and_what(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with live_app(tmp_path) as live:
        stored = live.client.post("/v1/datasets/agent_events/rows", json=ROWS, headers=live.admin)
        assert stored.status_code == 200, stored.text
        _, viewer = live.keys.create("viewer", {"workspace_id": ("ws_log",)}, name="reader")
        query = {"dataset": "agent_events", "group_by": ["event_type"]}
        with caplog.at_level(logging.INFO, logger="tally.access"):
            answer = live.client.post(
                "/v1/query", json=query, headers={"Authorization": f"Bearer {viewer}"}
            )
    assert answer.status_code == 200
    (line,) = _lines(caplog, "tally.access")
    assert line["trace_id"] == answer.headers["X-Trace-Id"]
    assert line["route"] == "/v1/query" and line["method"] == "POST"
    assert line["status"] == 200 and line["latency_ms"] > 0
    assert line["principal"] and line["tenants"] == "workspace_id=ws_log"
    assert (line["dataset"], line["cache"], line["rows"]) == ("agent_events", "miss", 1)
    assert line["time"] and line["level"] == "info"


def test_a_failed_request_is_logged_with_its_status_and_no_principal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with live_app(tmp_path) as live, caplog.at_level(logging.INFO, logger="tally.access"):
        refused = live.client.post("/v1/query", json={})
    (line,) = _lines(caplog, "tally.access")
    assert (line["status"], line["principal"]) == (refused.status_code, None) == (401, None)
    text = TextFormatter().format(caplog.records[-1])
    assert "status=401" in text and f"trace_id={refused.headers['X-Trace-Id']}" in text


def test_a_slow_query_is_logged_by_hash_and_timing_without_its_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    query = {
        "dataset": "agent_events",
        "filter": {"field": "session_id", "op": "eq", "value": SECRET_VALUE},
        "measures": [{"op": "count"}],
    }
    with live_app(tmp_path, slow_query_ms=0) as live:
        with caplog.at_level(logging.INFO):
            answer = live.client.post("/v1/query", json=query, headers=live.admin)
            again = live.client.post("/v1/query", json=query, headers=live.admin)
        assert answer.status_code == again.status_code == 200
    (slow,) = _lines(caplog, "tally.slow_query")
    assert slow["message"] == "slow query" and slow["level"] == "warning"
    assert len(slow["query_hash"]) == 16 and slow["dataset"] == "agent_events"
    assert slow["total_ms"] >= slow["execute_ms"] >= 0 and slow["rows"] == 1
    assert slow["trace_id"] == answer.headers["X-Trace-Id"]
    every_line = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert SECRET_VALUE not in every_line and "session_id" not in json.dumps(slow)
    hits = [line for line in _lines(caplog, "tally.access") if line["cache"] == "hit"]
    assert len(hits) == 1, "the second, cached answer is no slow query and says hit"


def test_a_fast_query_under_the_threshold_logs_no_slow_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with live_app(tmp_path, slow_query_ms=60_000) as live, caplog.at_level(logging.INFO):
        live.client.post("/v1/query", json={"dataset": "agent_events"}, headers=live.admin)
    assert not _lines(caplog, "tally.slow_query")
