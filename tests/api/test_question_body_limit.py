"""A question's body (a query, a profile request) is parsed whole on the event loop, so it has
its own small limit; an ingestion body of the same size, which streams off the loop, is taken."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.helpers import live_app

LIMIT = 4096


def test_a_question_over_its_limit_is_a_413_while_rows_of_that_size_are_stored(
    tmp_path: Path,
) -> None:
    with live_app(tmp_path, max_question_body_bytes=LIMIT) as live:
        headers = {**live.admin, "Content-Type": "application/json"}
        padded = {
            "dataset": "agent_events",
            "measures": [{"op": "count"}],
            "filter": {"field": "event_type", "op": "in", "value": ["x" * 50] * 200},
        }
        body = orjson.dumps(padded)
        assert len(body) > LIMIT
        answer = live.client.post("/v1/query", content=body, headers=headers)
        assert answer.status_code == 413, answer.text
        assert str(LIMIT) in answer.text
        rows = [
            {"workspace_id": "ws", "brand_id": "b", "event_id": f"e{i}", "event_type": "view",
             "ts": "2026-01-01T00:00:00Z"}
            for i in range(100)
        ]  # fmt: skip
        batch = orjson.dumps(rows)
        assert len(batch) > LIMIT
        stored = live.client.post("/v1/datasets/agent_events/rows", content=batch, headers=headers)
        assert stored.status_code == 200, stored.text
        assert stored.json()["accepted"] == len(rows)
        small = live.client.post(
            "/v1/query", json={"dataset": "agent_events", "measures": [{"op": "count"}]},
            headers=live.admin,
        )  # fmt: skip
        assert small.json()["rows"] == [{"count": len(rows)}]
