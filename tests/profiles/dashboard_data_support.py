"""Data and service for the `test_dashboard_data*` modules.

A seeded generator makes one decisioning tenant with every case the reports distinguish: offers
of every status (more than 20 active ones, two active offers never shown), an uncategorized
offer, interactions on an offer and a channel no entity row names, segments that are active,
inactive, never materialized or larger than one IN list (1,000 values), budgets with a zero
allocation, models with missing and doubled days, runs with heavy-tailed latency, traces
stamped on a 10-minute grid (so many share a ts) with up to 12 candidates each (ranks past 10),
scores on the bin edges, and traces without a winner.
A second tenant reuses the same ids with other values, so any leak across tenants changes the
numbers. Everything goes in through the ingestion API; the service's clock is fixed at NOW.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tally.auth.keys import KeyStore
from tests.helpers import live_app

NOW = datetime(2026, 3, 15, 14, 37, 20, 250_000, tzinfo=UTC)
TENANT = "tn_main"
OTHER = "tn_other"
PATH = "/api/v1/dashboard-data"
SEED = 4_004
CUSTOMERS = [f"cust_{i:03d}" for i in range(200)]
OFFERS = [f"off_{i:02d}" for i in range(1, 29)]
SHOWN_OFFERS = [*OFFERS[:26], "off_ghost"]
CHANNELS = ["ch_web", "ch_email", "ch_app", "ch_sms"]
FLOWS = ["flow_1", "flow_2", "flow_3"]
BOUNDARY_SCORES = (0.0, 0.1, 0.5, 0.9, 1.0)
Rows = dict[str, list[dict[str, Any]]]


def iso(instant: datetime) -> str:
    return instant.isoformat()


def _offer_status(number: int) -> str:
    if number in (22, 23):
        return "paused"
    if number == 24:
        return "draft"
    return "archived" if number in (25, 26) else "active"


def _named(kind: str, count: int, statuses: list[str]) -> list[dict[str, Any]]:
    return [
        {"id": f"{kind}_{i}", "name": f"{kind.title()} {i}", "status": statuses[i % len(statuses)]}
        for i in range(count)
    ]


def entities(rng: random.Random) -> Rows:
    offers = [
        {
            "id": offer,
            "name": f"Offer {offer[-2:]}",
            "category_id": None if offer == "off_28" else f"cat_{'abc'[i % 3]}",
            "status": _offer_status(i + 1),
        }
        for i, offer in enumerate(OFFERS)
    ]
    members = [("seg_vip", range(0, 30)), ("seg_new", range(100, 150))]
    members += [("seg_old", range(20, 40)), ("seg_draft", range(0, 10))]
    big = [(f"ghost_{i:04d}" if i >= 200 else CUSTOMERS[i]) for i in range(0, 2_500, 2)]
    budgets = [
        {
            "id": f"bud_{i}",
            "offer_id": OFFERS[i % 10],
            "allocated": 0.0 if i == 7 else float(rng.randrange(1, 20) * 100),
            "spent": 0.0 if i == 7 else rng.randrange(0, 2000) / 2,
        }
        for i in range(15)
    ]
    return {
        "categories": [{"id": f"cat_{c}", "name": f"Category {c.upper()}"} for c in "abc"],
        "offers": offers,
        "channels": [
            {"id": c, "name": c[3:].title(), "status": "inactive" if c == "ch_sms" else "active"}
            for c in CHANNELS
        ],
        "creatives": [
            {
                "id": f"cr_{i}",
                "offer_id": OFFERS[i % 15],
                "channel_id": rng.choice(CHANNELS),
                "status": rng.choice(["active", "paused", "draft", "archived"]),
            }
            for i in range(30)
        ],
        "segments": [
            {"id": "seg_vip", "name": "VIP", "status": "active", "materialized_at": iso(NOW)},
            {"id": "seg_new", "name": "New", "status": "active", "materialized_at": iso(NOW)},
            {"id": "seg_old", "name": "Old", "status": "inactive", "materialized_at": iso(NOW)},
            {"id": "seg_draft", "name": "Draft", "status": "active", "materialized_at": None},
            {"id": "seg_big", "name": "Big", "status": "active", "materialized_at": iso(NOW)},
        ],
        "segment_members": [
            {"segment_id": s, "customer_id": CUSTOMERS[i]} for s, span in members for i in span
        ]
        + [{"segment_id": "seg_big", "customer_id": c} for c in big],
        "experiments": _named("exp", 5, ["running", "draft", "completed", "running", "stopped"]),
        "journeys": _named("jrn", 6, ["active", "paused", "draft", "archived", "active", "active"]),
        "triggers": _named("trg", 7, ["enabled", "disabled"]),
        "approvals": [
            {"id": f"apr_{i}", "offer_id": OFFERS[i], "status": ["pending", "approved"][i % 2]}
            for i in range(9)
        ],
        "budget_allocations": budgets,
        "suppressions": [
            {
                "id": f"sup_{i}",
                "customer_id": rng.choice(CUSTOMERS),
                "offer_id": rng.choice([*OFFERS[:5], None]),
                "policy_type": rng.choice(["frequency_cap", "cooldown", "opt_out", "fatigue"]),
                "active": rng.random() < 0.7,
            }
            for i in range(40)
        ],
        "model_features": [
            {"model_id": m, "feature": f"f_{j}", "importance": [0.4, 0.25, 0.25, 0.1, 0.05][j]}
            for m in ("mdl_a", "mdl_b")
            for j in range(5)
        ],
    }


def _ts(rng: random.Random, days: int) -> datetime:
    """A time in the `days` days before NOW (never after it)."""
    return NOW - timedelta(seconds=rng.randrange(1, days * 86_400))


def events(rng: random.Random) -> Rows:
    interactions = []
    for i in range(5_000):
        kind = rng.choices(["impression", "positive", "negative", "conversion"], [6, 2, 1, 2])[0]
        interactions.append(
            {
                "id": f"int_{i:05d}",
                "ts": iso(_ts(rng, 40)),
                "customer_id": rng.choice(CUSTOMERS),
                "offer_id": rng.choice(SHOWN_OFFERS),
                "channel_id": rng.choices([*CHANNELS, "ch_ghost"], [5, 3, 3, 1, 1])[0],
                "kind": kind,
                "value": rng.randrange(1, 400) / 4 if kind == "conversion" else None,
            }
        )
    metrics = [
        {"model_id": "mdl_a", "ts": iso(day.replace(hour=6, minute=0, second=0)), "auc": auc}
        for k in range(30)
        if k % 7 != 3
        for day in [NOW - timedelta(days=k)]
        for auc in [0.70 + k / 200]
    ]
    metrics.append({"model_id": "mdl_a", "ts": iso(NOW.replace(hour=1, minute=0)), "auc": 0.6})
    metrics += [
        {"model_id": "mdl_b", "ts": iso(NOW - timedelta(days=k, hours=3)), "auc": 0.8 - k / 100}
        for k in range(2, 20)
    ]
    return {
        "interactions": interactions,
        "runs": [
            {
                "id": f"run_{i}",
                "ts": iso(_ts(rng, 10)),
                "decision_flow_id": rng.choice(FLOWS),
                "latency_ms": round(rng.lognormvariate(3.5, 0.9) * 2) / 2,
                "status": rng.choices(["success", "error", "timeout"], [18, 1, 1])[0],
            }
            for i in range(600)
        ],
        "attributions": [
            {
                "id": f"att_{i}",
                "ts": iso(_ts(rng, 12)),
                "model": rng.choice(["first_touch", "last_touch", "linear"]),
                "offer_id": rng.choice(OFFERS),
                "value": rng.randrange(1, 800) / 4,
            }
            for i in range(400)
        ],
        "model_metrics": metrics,
    }


def _score(rng: random.Random) -> float:
    return rng.choice(BOUNDARY_SCORES) if rng.random() < 0.1 else round(rng.random(), 3)


def _candidates(rng: random.Random, trace: dict[str, Any]) -> list[dict[str, Any]]:
    size = rng.choice([1, 2, 3, 3, 4, 4, 5, 6]) if rng.random() < 0.9 else rng.choice([11, 12])
    rows = []
    for offer in rng.sample(OFFERS, size):
        draw = rng.random()
        outcome = "qualification_rejected" if draw < 0.2 else "contact_policy_blocked"
        scored = draw >= 0.3
        rows.append(
            {
                "trace_id": trace["id"],
                **{k: trace[k] for k in ("ts", "customer_id", "channel_id", "decision_flow_id")},
                "offer_id": offer,
                "outcome": "outranked" if scored else outcome,
                "score": _score(rng) if scored else None,
                "rank": None,
            }
        )
    ranked = sorted((r for r in rows if r["score"] is not None), key=lambda r: -r["score"])
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
    if ranked and rng.random() < 0.95:
        ranked[0]["outcome"] = "selected"
        trace["winner_offer_id"] = ranked[0]["offer_id"]
    return rows


def decisions(rng: random.Random, traces: int, days: int) -> Rows:
    """Traces on a 10-minute grid over the last `days` days (about a dozen share each ts when
    there are thousands), and their candidates."""
    last_slot = NOW.replace(minute=NOW.minute - NOW.minute % 10, second=0, microsecond=0)
    out: Rows = {"decision_traces": [], "decision_candidates": []}
    for i in range(traces):
        trace = {
            "id": f"tr_{i:06d}",
            "ts": iso(last_slot - timedelta(minutes=10 * rng.randrange(days * 144))),
            "customer_id": rng.choice(CUSTOMERS),
            "channel_id": rng.choice(CHANNELS[:3]),
            "decision_flow_id": rng.choice(FLOWS),
            "degraded": rng.random() < 0.05,
            "winner_offer_id": None,
        }
        out["decision_candidates"] += _candidates(rng, trace)
        out["decision_traces"].append(trace)
    return out


def generate(traces: int, seed: int = SEED) -> Rows:
    """The main tenant's rows per dataset (without tenant_id)."""
    rng = random.Random(seed)
    return entities(rng) | events(rng) | decisions(rng, traces, 8)


def other_tenant() -> Rows:
    """Same ids, other values: a scoping leak would show in every number."""
    rng = random.Random(SEED + 1)
    rows = entities(rng) | events(rng) | decisions(rng, 300, 3)
    for offer in rows["offers"]:
        offer["status"] = "active"
        offer["name"] = "Other " + offer["name"]
    return rows


@dataclass
class Env:
    client: TestClient
    admin: dict[str, str]
    keys: KeyStore
    rows: Rows

    def get(self, headers: dict[str, str] | None = None, **params: Any) -> Any:
        wanted = {TENANT_HEADER: TENANT} if headers is None else headers
        return self.client.get(PATH, params=params, headers={**self.admin, **wanted})

    def data(self, headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = self.get(headers, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data"}, body
        return body["data"]

    def ingest(self, tenant: str, rows: Rows) -> None:
        for name, items in rows.items():
            batch = [{"tenant_id": tenant, **row} for row in items]
            for start in range(0, len(batch), 20_000):
                response = self.client.post(
                    f"/v1/datasets/{name}/rows",
                    json=batch[start : start + 20_000],
                    headers=self.admin,
                )
                assert response.status_code == 200, response.text
                assert not response.json()["rejected"], response.text


TENANT_HEADER = "X-Tenant-Id"


def open_env(tmp_path_factory: pytest.TempPathFactory, rows: Rows | None) -> Iterator[Env]:
    """A real service on a fresh DuckDB file with its clock at NOW; `rows` for the main tenant
    and the other tenant's rows ingested over HTTP."""
    with live_app(tmp_path_factory.mktemp("dashboard_data"), clock=lambda: NOW) as live:
        env = Env(live.client, live.admin, live.keys, rows or {})
        if rows is not None:
            env.ingest(TENANT, rows)
            env.ingest(OTHER, other_tenant())
        yield env
