"""What the cache tests against the real Redis share: its address, a count query, and rows of
the demo's `agent_events` dataset stamped in the last minutes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

REDIS_URL = os.environ.get("TALLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOW = datetime.now(UTC)

COUNT_QUERY = {
    "dataset": "agent_events",
    "time": {"last": "1d"},
    "group_by": ["event_type"],
    "measures": [{"op": "count"}],
}


def event_rows(workspace: str, n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "workspace_id": workspace,
            "brand_id": "br_1",
            "event_id": f"{workspace}-{offset + i}",
            "event_type": "purchase" if i % 2 else "view",
            "ts": (NOW - timedelta(minutes=i + 1)).isoformat(),
            "amount": 1.0 + i,
        }
        for i in range(n)
    ]
