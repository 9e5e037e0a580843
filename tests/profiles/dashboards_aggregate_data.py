"""Rows for the dashboards/aggregate tests and the plain-Python answer the endpoint must give.

Numeric values are multiples of 1/8, so every sum is exact in floating point whatever order the
engine adds them in, and an average is the one correctly rounded quotient on both sides.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

ENDPOINT = "/api/workspace/{}/dashboards/aggregate"
# The service clock is pinned to NOW; the endpoint's window ends at NOW rounded up to the minute.
NOW = datetime.now(UTC).replace(second=30, microsecond=0)
END = NOW.replace(second=0) + timedelta(minutes=1)
# Events on the edges of the 7-day window, each with its own event type.
EDGES = {"at_start": 0, "before_start": -1, "before_end": -1, "at_end": 0}
EVENT_TYPES = ("page_view", "add_to_cart", "purchase", "refund", "chat_message")
NUMERIC = ("value", "amount", "price", "quantity", "duration_ms", "score", "rating")
IDS = ("session_id", "product_id", "agent_id", "customer_id")
GROUPINGS = (
    "none", "event_type", "session", "day", "hour", "product_id",
    "metadata.channel", "metadata.country", "metadata.never_set",
)  # fmt: skip
FAMILIES: tuple[dict[str, Any], ...] = (
    {},
    {"aggregation": "count"},
    {"aggregation": "count", "value_field": "amount"},
    {"aggregation": "count_distinct"},
    *({"aggregation": "count_distinct", "value_field": f} for f in (*IDS, "rating", "quantity")),
    *({"aggregation": op, "value_field": f} for op in ("sum", "avg") for f in NUMERIC),
)
TENANTS = (
    ("ws_a", "br_1", "cat_1"),
    ("ws_a", "br_1", "cat_2"),
    ("ws_a", "br_1", None),
    ("ws_a", "br_2", "cat_3"),
    ("ws_b", "br_3", "cat_4"),
)


def _maybe(rng: random.Random, value: Any, present: float = 0.8) -> Any:
    return value if rng.random() < present else None


def _row(rng: random.Random, i: int, ts: datetime) -> dict[str, Any]:
    workspace, brand, catalog = rng.choice(TENANTS)
    metadata: dict[str, str] | None = {}
    if rng.random() < 0.7:
        metadata["channel"] = rng.choice(("email", "organic", "paid"))
    if rng.random() < 0.5:
        metadata["country"] = rng.choice(("US", "FR", "BR"))
    if rng.random() < 0.1:
        metadata = None
    return {
        "workspace_id": workspace,
        "brand_id": brand,
        "catalog_id": catalog,
        "event_id": f"evt_{i:05d}",
        "event_type": rng.choice(EVENT_TYPES),
        "ts": ts,
        "session_id": _maybe(rng, f"ses_{rng.randrange(40):02d}", 0.95),
        "product_id": _maybe(rng, f"prd_{rng.randrange(12):02d}", 0.7),
        "agent_id": _maybe(rng, f"ag_{rng.randrange(3)}", 0.4),
        "customer_id": _maybe(rng, f"cus_{rng.randrange(15):02d}", 0.6),
        "value": _maybe(rng, rng.randrange(0, 800) / 4),
        "amount": _maybe(rng, rng.randrange(0, 2000) / 4),
        "price": _maybe(rng, rng.randrange(1, 400) / 4),
        "quantity": _maybe(rng, rng.randrange(1, 6)),
        "duration_ms": _maybe(rng, rng.randrange(0, 20000) / 2),
        "score": _maybe(rng, rng.randrange(0, 9) / 8),
        "rating": _maybe(rng, float(rng.randrange(1, 6)), 0.5),
        "metadata": metadata,
    }


def make_rows(n: int = 900, seed: int = 7) -> list[dict[str, Any]]:
    """Events over the last 40 days, plus four on the edges of the 7-day window."""
    rng = random.Random(seed)
    rows = [_row(rng, i, END - timedelta(seconds=rng.uniform(1, 40 * 86400))) for i in range(n)]
    start7 = END - timedelta(days=7)
    for j, (name, micros) in enumerate(EDGES.items()):
        ts = (start7 if name.endswith("start") else END) + timedelta(microseconds=micros)
        edge = _row(rng, n + j, ts)
        edge.update(workspace_id="ws_a", brand_id="br_1", event_type=name)
        rows.append(edge)
    return rows


def ingest(client: TestClient, headers: dict[str, str], rows: list[dict[str, Any]]) -> None:
    payload = [{**r, "ts": r["ts"].isoformat()} for r in rows]
    response = client.post("/v1/datasets/agent_events/rows", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(rows)


def ask(
    client: TestClient,
    headers: dict[str, str],
    body: dict[str, Any],
    workspace: str = "ws_a",
    **params: str,
):
    return client.post(ENDPOINT.format(workspace), json=body, headers=headers, params=params)


# --- the independent answer -------------------------------------------------------------------


def _key(row: dict[str, Any], group_by: str) -> str | None:
    if group_by == "none":
        return "all"
    if group_by == "day":
        return row["ts"].strftime("%Y-%m-%d")
    if group_by == "hour":
        return row["ts"].strftime("%Y-%m-%dT%H:00:00Z")
    if group_by.startswith("metadata."):
        return (row["metadata"] or {}).get(group_by.removeprefix("metadata."))
    return row["session_id" if group_by == "session" else group_by]


def _aggregate(members: list[dict[str, Any]], aggregation: str, field: str | None) -> Any:
    if aggregation == "count":
        return len(members)
    values = [m[field] for m in members if m[field] is not None]
    if aggregation == "count_distinct":
        return len(set(values))
    if not values:
        return None
    return sum(values) if aggregation == "sum" else sum(values) / len(values)


def expected(
    rows: list[dict[str, Any]],
    body: dict[str, Any],
    workspace: str = "ws_a",
    brands: tuple[str, ...] | None = None,
    catalog: str | None = None,
) -> list[dict[str, Any]]:
    """What the spec says the rows are, computed over the rows themselves."""
    start = END - timedelta(days=body["time_window_days"])
    types = set(body.get("event_types") or ())
    group_by = body.get("group_by", "none")
    aggregation = body.get("aggregation") or "count"
    field = body.get("value_field") or ("session_id" if aggregation == "count_distinct" else None)
    groups: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    if group_by == "none":
        groups["all"] = []
    for r in rows:
        if (
            r["workspace_id"] == workspace
            and (brands is None or r["brand_id"] in brands)
            and (catalog is None or r["catalog_id"] == catalog)
            and (not types or r["event_type"] in types)
            and start <= r["ts"] < END
        ):
            groups[_key(r, group_by)].append(r)
    out = [
        {"key": k, "value": _aggregate(m, aggregation, field), "secondary": len(m)}
        for k, m in groups.items()
    ]
    limit = body.get("limit") or 100
    if group_by in ("day", "hour"):
        return sorted(out, key=lambda r: r["key"])[-limit:]
    out.sort(key=lambda r: (r["key"] is None, r["key"] or ""))
    out.sort(key=lambda r: (r["value"] is None, -(r["value"] or 0)))
    return out[:limit]
