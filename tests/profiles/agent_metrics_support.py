"""Data, oracle and service for the `test_agent_metrics_*` modules.

A seeded generator makes gateway requests of two tenants (null agent names, users and virtual
accounts in teams, a subject with no team, failures without tokens or cost, missing status codes,
metadata keys sometimes absent, timestamps on hour and Monday edges). They are ingested through
the real HTTP API; the oracle below recomputes every answer in plain Python without Tally code:
SQL's three-valued logic for filters, team fan-out, epoch-aligned UTC buckets, and percentiles by
linear interpolation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tally.auth.keys import KeyStore
from tally.service import Service
from tests.helpers import bearer, live_app

PATH = "/api/svc/v1/llm-gateway/metrics/query"
SEED = 20_260_420
START = datetime(2026, 4, 13, tzinfo=UTC)  # a Monday
END = datetime(2026, 4, 27, tzinfo=UTC)  # two weeks later
ROWS = {"tn_a": 1500, "tn_b": 400}
SUBJECTS = {
    "tn_a": (
        ("va-support-sync", "virtualaccount", ("support",)),
        ("alice@acme.io", "user", ("platform",)),
        ("carol@acme.io", "user", ("sales",)),
        ("bob@acme.io", "user", ("support", "platform")),
        ("va-billing", "virtualaccount", ("finance",)),
        ("dave@acme.io", "user", ()),
        ("erin@acme.io", "user", ("support",)),
    ),
    # Same names as tn_a on purpose: the tenant, not the name, keeps them apart.
    "tn_b": (
        ("alice@acme.io", "user", ("support",)),
        ("zed@globex.com", "user", ("ops",)),
        ("va-etl", "virtualaccount", ("support", "data")),
    ),
}
AGENTS = (
    ("support-bot", "langgraph", "http"),
    ("Support-Helper", "crewai", None),
    ("research-agent", "openai-agents", "a2a"),
    ("code-reviewer", "autogen", "mcp"),
)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b")
REGIONS = ("us-east-1", "eu-west-1")
EDGES = (
    "2026-04-13T00:00:00Z",  # the window's first instant
    "2026-04-19T23:59:59.999Z",  # the last instant of the first week
    "2026-04-20T00:00:00Z",  # Monday: the second week starts
    "2026-04-21T09:59:59.999Z",
    "2026-04-21T10:00:00Z",  # an hour edge
    "2026-04-26T23:59:59.999Z",
    "2026-04-27T00:00:00Z",  # the window's end: outside [start, end)
)
ALL = {"startTs": "2026-04-13T00:00:00Z", "endTs": "2026-04-27T00:00:00Z"}


def _row(rng: random.Random, tenant: str, index: int, ts: datetime) -> dict[str, Any]:
    slug, kind, teams = rng.choice(SUBJECTS[tenant])
    agent = rng.choice(AGENTS) if rng.random() > 0.22 else (None, None, None)
    failure = rng.random() < 0.1
    status = rng.choice((429, 500, 503)) if failure else 200
    if rng.random() < 0.06:
        status = None
    latency = round(math.exp(rng.gauss(6.7, 0.9)) * (8 if failure and status != 429 else 1), 2)
    metadata: dict[str, Any] | None = {"model": rng.choice(MODELS)}
    if rng.random() < 0.7:
        metadata["region"] = rng.choice(REGIONS)
    if rng.random() < 0.1:
        metadata = None
    return {
        "tenant_id": tenant,
        "id": f"{tenant}-{index}",
        "ts": ts,
        "agent_name": agent[0],
        "agent_framework": agent[1],
        "agent_server_type": agent[2],
        "is_failure": failure,
        "http_status_code": status,
        "latency_ms": latency,
        "input_tokens": None if failure else rng.randint(1, 4000),
        "output_tokens": None if failure else rng.randint(1, 1500),
        "cost_usd": None if failure else round(rng.random() * 0.05, 6),
        "created_by_subject_slug": slug,
        "created_by_subject_type": kind,
        "team": list(teams),
        "conversation_id": None if rng.random() < 0.3 else f"conv_{rng.randint(1, 60)}",
        "metadata": metadata,
    }


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    span = (END - START).total_seconds()
    rows = []
    for tenant, count in ROWS.items():
        for i in range(count):
            ts = START + timedelta(seconds=rng.random() * span)
            rows.append(_row(rng, tenant, i, ts))
        for j, edge in enumerate(EDGES):
            rows.append(_row(rng, tenant, count + j, instant(edge)))
    return rows


def distinct_conversations(tenant: str, count: int) -> list[dict[str, Any]]:
    """`count` rows of `tenant`, each in its own conversation: as many groups as rows."""
    rng = random.Random(SEED + count)
    span = (END - START).total_seconds()
    rows = []
    for i in range(count):
        row = _row(rng, "tn_a", i, START + timedelta(seconds=rng.random() * span))
        rows.append({**row, "tenant_id": tenant, "id": f"{tenant}-{i}", "conversation_id": f"c{i}"})
    return rows


def to_wire(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "ts": row["ts"].isoformat()}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ------------------------------------------------------------------------------------------------
# Oracle
# ------------------------------------------------------------------------------------------------

COLUMNS = {
    "agentName": "agent_name",
    "agentFramework": "agent_framework",
    "agentServerType": "agent_server_type",
    "conversationID": "conversation_id",
    "isFailure": "is_failure",
    "httpStatusCode": "http_status_code",
    "latencyMs": "latency_ms",
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "costUsd": "cost_usd",
    "team": "team",
}
SUBJECT_FIELDS = {"useremail": "user", "virtualaccount": "virtualaccount"}


def api_value(row: dict[str, Any], name: str) -> Any:
    """What an API field reads in a row; userEmail is null on a virtual account's row."""
    if name.lower() in SUBJECT_FIELDS:
        wanted = SUBJECT_FIELDS[name.lower()]
        return row["created_by_subject_slug"] if row["created_by_subject_type"] == wanted else None
    if name.startswith("metadata."):
        return (row["metadata"] or {}).get(name.removeprefix("metadata."))
    return row[COLUMNS[name]]


def holds(operator: str, value: Any, wanted: Any) -> bool:
    """SQL semantics: a null value passes only IS_NULL (and an array test on a list)."""
    if operator == "IS_NULL":
        return value is None
    if value is None:
        return False
    tests: dict[str, Callable[[], bool]] = {
        "IS_NOT_NULL": lambda: True,
        "EQUAL": lambda: value == wanted,
        "NOT_EQUAL": lambda: value != wanted,
        "IN": lambda: value in wanted,
        "NOT_IN": lambda: value not in wanted,
        "STRING_CONTAINS": lambda: wanted in value,
        "STRING_NOT_CONTAINS": lambda: wanted not in value,
        "STRING_STARTS_WITH": lambda: value.startswith(wanted),
        "STRING_NOT_STARTS_WITH": lambda: not value.startswith(wanted),
        "STRING_ENDS_WITH": lambda: value.endswith(wanted),
        "STRING_NOT_ENDS_WITH": lambda: not value.endswith(wanted),
        "GREATER_THAN": lambda: value > wanted,
        "LESS_THAN": lambda: value < wanted,
        "GREATER_THAN_EQUAL": lambda: value >= wanted,
        "LESS_THAN_EQUAL": lambda: value <= wanted,
        "BETWEEN": lambda: wanted[0] <= value <= wanted[1],
        "ARRAY_HAS_ANY": lambda: any(t in wanted for t in value),
        "ARRAY_HAS_NONE": lambda: not any(t in wanted for t in value),
    }
    return tests[operator]()


def visible_to(subject: str, teams: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["created_by_subject_slug"] == subject or bool(set(r["team"]) & set(teams))


def select(
    rows: list[dict[str, Any]],
    body: dict[str, Any],
    tenants: tuple[str, ...] = ("tn_a", "tn_b"),
    visible: Callable[[dict[str, Any]], bool] = lambda r: True,
) -> list[dict[str, Any]]:
    start, end = instant(body["startTs"]), instant(body["endTs"])
    out = []
    for r in rows:
        if r["tenant_id"] not in tenants or not start <= r["ts"] < end or not visible(r):
            continue
        checks = [
            holds(
                f["operator"],
                api_value(
                    r, f["fieldName"] if "fieldName" in f else f"metadata.{f['metadataKey']}"
                ),
                f.get("value"),
            )
            for f in body.get("filters", [])
        ]
        if all(checks):
            out.append(r)
    return out


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def aggregate(kind: str, values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if kind == "count":
        return len(present)
    if kind == "countDistinct":
        return len({tuple(v) if isinstance(v, list) else v for v in present})
    if not present:
        return None
    if kind in ("p50", "p75", "p90", "p95", "p99"):
        return percentile(present, int(kind[1:]) / 100)
    simple = {"sum": sum, "min": min, "max": max, "avg": lambda v: sum(v) / len(v)}
    return simple[kind](present)


def bucket_of(ts: datetime, seconds: int, weeks: bool) -> datetime:
    """Epoch-aligned bucket start; weeks count from Monday 1970-01-05."""
    origin = datetime(1970, 1, 5 if weeks else 1, tzinfo=UTC)
    offset = (ts - origin).total_seconds()
    return origin + timedelta(seconds=math.floor(offset / seconds) * seconds)


def response_key(name: str) -> str:
    return "createdBySubjectSlug" if name.lower() in SUBJECT_FIELDS else name


def expected(
    rows: list[dict[str, Any]], body: dict[str, Any], bucket: tuple[int, bool] | None = None
) -> list[dict[str, Any]]:
    """The data points an API answer should hold, in no particular order. `bucket` is
    (seconds, weeks) for a timeseries."""
    groups = body.get("groupBy", [])
    for name in groups:
        if name.lower() in SUBJECT_FIELDS:
            rows = [r for r in rows if api_value(r, name) is not None]
    members: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        choices = [
            (api_value(r, g) or [None]) if g == "team" else [api_value(r, g)] for g in groups
        ]
        time = (bucket_of(r["ts"], *bucket),) if bucket else ()
        for combo in _product(choices):
            members.setdefault((*time, *combo), []).append(r)
    points = []
    for key, group_rows in members.items():
        point: dict[str, Any] = {}
        if bucket:
            start = key[0]
            size = timedelta(seconds=bucket[0])
            point["startTimestamp"] = start
            point["endTimestamp"] = start + size
        for name, value in zip(groups, key[1:] if bucket else key, strict=True):
            point[response_key(name)] = value
        point["total"] = len(group_rows)
        for agg in body.get("aggregations", []):
            name = f"{agg['type']}{agg['column'][0].upper()}{agg['column'][1:]}"
            point[name] = aggregate(agg["type"], [api_value(r, agg["column"]) for r in group_rows])
        points.append(point)
    return points


def _product(choices: list[list[Any]]) -> Iterator[tuple]:
    if not choices:
        yield ()
        return
    for head in choices[0]:
        for tail in _product(choices[1:]):
            yield (head, *tail)


def same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, float) and isinstance(actual, (int, float)):
        return math.isclose(actual, wanted, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(wanted, datetime):
        return actual == wanted.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return actual == wanted and type(actual) is type(wanted)


def identity(body: dict[str, Any]) -> list[str]:
    """The keys that tell data points apart: the bucket, then the group values."""
    time = ["startTimestamp"] if body["type"] == "timeseries" else []
    return time + [response_key(g) for g in body.get("groupBy", [])]


def assert_points(
    actual: list[dict[str, Any]], wanted: list[dict[str, Any]], body: dict[str, Any]
) -> None:
    """Same set of points with the same keys and numbers (order is checked separately)."""
    assert len(actual) == len(wanted), (len(actual), len(wanted))
    ids = identity(body)
    index = {tuple(_id(p[k]) for k in ids): p for p in actual}
    for point in wanted:
        got = index.get(tuple(_id(point[k]) for k in ids))
        assert got is not None, f"missing point {point}"
        assert list(got) == list(point), (list(got), list(point))
        for key, value in point.items():
            assert same(got[key], value), (key, got[key], value, point)


def _id(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


# ------------------------------------------------------------------------------------------------
# The service with the rows ingested through HTTP
# ------------------------------------------------------------------------------------------------


@dataclass
class Env:
    client: TestClient
    admin: dict[str, str]
    keys: KeyStore
    service: Service
    rows: list[dict[str, Any]]

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None):
        return self.client.post(PATH, json=body, headers=headers or self.admin)

    def points(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict]:
        response = self.post(body, headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]["dataPoints"]

    def token(self, role: str, tenants: tuple[str, ...], **extra: Any) -> dict[str, str]:
        _, token = self.keys.create(role, {"tenant_id": tenants}, **extra)
        return bearer(token)


def ingest(client: TestClient, headers: dict[str, str], rows: list[dict[str, Any]]) -> None:
    response = client.post(
        "/v1/datasets/agent_metrics/rows", json=[to_wire(r) for r in rows], headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(rows), response.json()


def open_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with live_app(tmp_path_factory.mktemp("agent_metrics")) as live:
        rows = generate()
        ingest(live.client, live.admin, rows)
        yield Env(live.client, live.admin, live.keys, live.service, rows)


def body(kind: str = "distribution", **extra: Any) -> dict[str, Any]:
    return {**ALL, "datasource": "agentMetrics", "type": kind, **extra}
