"""Data, oracle and service for the `test_numbers_*` modules: Tally's numbers against an
independent computation in plain Python.

A seeded generator makes a few thousand `agent_events` rows (several workspaces and brands,
nullable measures, metadata keys that are sometimes absent, timestamps around the Paris and New
York DST changes) and a small `tagged_events` dataset with an array column. Both are ingested
through the real HTTP API; the tests compare every answer of `POST /v1/query` with the oracle here,
which never calls Tally code: filtering with SQL's three-valued logic, grouping with array
fan-out, calendar buckets from `zoneinfo`, and the measures with exact percentiles by linear
interpolation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tally.auth.keys import KeyStore
from tests.helpers import live_app

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
SEED = 20_261_122
DATA_END = datetime(2026, 11, 10, tzinfo=UTC)
MAIN_ROWS = 3000
MARCH_ROWS = 700

WORKSPACES = {"ws_a": 5, "ws_b": 3, "ws_c": 2}
BRANDS = {
    "ws_a": (("br_a1", 5), ("br_a2", 3), ("br_a3", 1)),
    "ws_b": (("br_b1", 4), ("br_b2", 1)),
    "ws_c": (("br_c1", 3), ("br_c2", 2)),
}
EVENT_TYPES = (("view", 40), ("add_to_cart", 20), ("purchase", 15), ("search", 15), ("Refund", 10))
PRODUCT_PREFIXES = ("sku", "SKU", "Sku", "bundle")
CHANNELS = ("email", "ads", "organic", "Email")
COUNTRIES = ("FR", "US", "DE")
TAGS = ("red", "green", "blue", "gold")

# Instants at or next to bucket edges: local midnights around the DST changes of Paris
# (2026-03-29 01:00Z, 2026-10-25 01:00Z) and New York (2026-03-08 07:00Z, 2026-11-01 06:00Z),
# month starts and Mondays in Paris. Each gets a few rows.
EDGE_TIMES = (
    "2026-03-28T22:59:59Z",  # Mar 28 23:59:59 CET
    "2026-03-28T23:00:00Z",  # Mar 29 00:00 CET, start of a 23-hour day
    "2026-03-28T23:30:00Z",
    "2026-03-29T00:59:59Z",  # 01:59:59 CET, the last second before the change
    "2026-03-29T01:00:00Z",  # 03:00 CEST
    "2026-03-29T21:59:59Z",  # Mar 29 23:59:59 CEST
    "2026-03-29T22:00:00Z",  # Mar 30 00:00 CEST
    "2026-03-29T22:30:00Z",
    "2026-10-24T21:59:59Z",  # Oct 24 23:59:59 CEST
    "2026-10-24T22:00:00Z",  # Oct 25 00:00 CEST, start of a 25-hour day
    "2026-10-25T00:30:00Z",  # 02:30 CEST, the first 02:30
    "2026-10-25T01:30:00Z",  # 02:30 CET, the second 02:30
    "2026-10-25T22:30:00Z",  # Oct 25 23:30 CET (a fixed +02:00 would put it on Oct 26)
    "2026-10-25T23:00:00Z",  # Mon Oct 26 00:00 CET
    "2026-10-25T23:30:00Z",  # Mon Oct 26 00:30 CET (still Sunday in UTC)
    "2026-10-18T22:30:00Z",  # Mon Oct 19 00:30 CEST (still Sunday in UTC)
    "2026-09-30T22:30:00Z",  # Oct 1 00:30 CEST (still September in UTC)
    "2026-10-31T23:30:00Z",  # Nov 1 00:30 CET (still October in UTC)
    "2026-03-08T04:59:59Z",  # Mar 7 23:59:59 EST
    "2026-03-08T05:00:00Z",  # Mar 8 00:00 EST, start of a 23-hour day
    "2026-03-08T06:59:59Z",  # 01:59:59 EST
    "2026-03-08T07:00:00Z",  # 03:00 EDT
    "2026-03-09T03:59:59Z",  # Mar 8 23:59:59 EDT
    "2026-03-09T04:00:00Z",  # Mar 9 00:00 EDT
    "2026-11-01T03:59:59Z",  # Oct 31 23:59:59 EDT
    "2026-11-01T04:00:00Z",  # Nov 1 00:00 EDT, start of a 25-hour day
    "2026-11-01T05:30:00Z",  # 01:30 EDT
    "2026-11-01T06:30:00Z",  # 01:30 EST
    "2026-11-02T04:30:00Z",  # Nov 1 23:30 EST
    "2026-11-02T05:00:00Z",  # Nov 2 00:00 EST
)
ROWS_PER_EDGE = 3

TAGGED_TOML = """
name = "tagged_events"
description = "Test dataset with an array column."
tenant_columns = ["workspace_id"]
time_column = "ts"
key_columns = ["id"]

[[columns]]
name = "workspace_id"
type = "string"
nullable = false

[[columns]]
name = "id"
type = "string"
nullable = false

[[columns]]
name = "ts"
type = "timestamp"
nullable = false

[[columns]]
name = "tags"
type = "string[]"

[[columns]]
name = "amount"
type = "float"
"""


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: Iterable[tuple[str, int]]) -> str:
    names, weights = zip(*weighted, strict=True)
    return rng.choices(names, weights)[0]


def _amount(rng: random.Random) -> Decimal | None:
    """Money (a decimal column of scale 2): the oracle sums it exactly."""
    r = rng.random()
    if r < 0.2:
        return None
    if r < 0.25:
        return Decimal("10.00")
    if r < 0.30:
        return Decimal("50.00")
    if r < 0.33:
        return Decimal("0.00")
    return Decimal(repr(round(rng.uniform(0.5, 300.0), 2))).quantize(Decimal("0.01"))


def _metadata(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.1:
        return None
    md: dict[str, Any] = {}
    r = rng.random()
    if r < 0.65:
        md["channel"] = rng.choice(CHANNELS)
    elif r < 0.72:
        md["channel"] = None  # an explicit JSON null reads like an absent key
    if rng.random() < 0.6:
        md["country"] = rng.choice(COUNTRIES)
    if rng.random() < 0.5:
        md["tier"] = rng.randint(1, 5)
    return md


def _event(rng: random.Random, index: int, ts: datetime) -> dict[str, Any]:
    workspace = _pick(rng, WORKSPACES.items())
    event_type = _pick(rng, EVENT_TYPES)
    product = None
    if rng.random() >= 0.25:
        product = f"{rng.choice(PRODUCT_PREFIXES)}-{rng.randrange(20)}"
    return {
        "workspace_id": workspace,
        "brand_id": _pick(rng, BRANDS[workspace]),
        "catalog_id": None if rng.random() < 0.3 else f"cat_{rng.randint(1, 3)}",
        "event_id": f"ev-{index:05d}",
        "event_type": event_type,
        "ts": ts,
        "session_id": None if rng.random() < 0.15 else f"s{rng.randrange(250)}",
        "product_id": product,
        "amount": None if event_type == "search" else _amount(rng),
        "duration_ms": None if rng.random() < 0.1 else round(rng.expovariate(1 / 800), 1),
        "quantity": None if rng.random() < 0.4 else rng.randint(1, 5),
        "metadata": _metadata(rng),
    }


def generate_events(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    stamps = [DATA_END - timedelta(seconds=rng.randrange(60 * 86_400)) for _ in range(MAIN_ROWS)]
    march = datetime(2026, 3, 1, tzinfo=UTC)
    stamps += [march + timedelta(seconds=rng.randrange(35 * 86_400)) for _ in range(MARCH_ROWS)]
    stamps += [instant(t) for t in EDGE_TIMES for _ in range(ROWS_PER_EDGE)]
    return [_event(rng, i, ts) for i, ts in enumerate(stamps)]


def generate_tagged(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    rows = []
    for i in range(400):
        r = rng.random()
        tags = None if r < 0.15 else [] if r < 0.3 else rng.sample(TAGS, rng.randint(1, 3))
        rows.append(
            {
                "workspace_id": rng.choice(("ws_a", "ws_b")),
                "id": f"tg-{i:04d}",
                "ts": start + timedelta(seconds=rng.randrange(30 * 86_400)),
                "tags": tags,
                "amount": None if rng.random() < 0.2 else round(rng.uniform(1, 100), 2),
            }
        )
    return rows


def to_wire(row: dict[str, Any], index: int) -> dict[str, Any]:
    """The JSON a client sends: timestamps in assorted offsets, null fields sometimes left out."""
    zone = (UTC, PARIS, NEW_YORK)[index % 3]
    out = {k: v for k, v in row.items() if v is not None or index % 2 == 0}
    out["ts"] = row["ts"].astimezone(zone).isoformat()
    for key, value in out.items():
        if isinstance(value, Decimal):  # money as a numeric string or as a JSON number
            out[key] = str(value) if index % 2 else float(value)
    return out


# ------------------------------------------------------------------------------------------------
# Oracle: plain Python over the generated rows
# ------------------------------------------------------------------------------------------------

SHORTHANDS = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}
OTHER = "__other__"


def instant(text: str) -> datetime:
    """An ISO 8601 string as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: ZoneInfo = PARIS) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def field_value(row: dict[str, Any], name: str) -> Any:
    if name.startswith("metadata."):
        return (row.get("metadata") or {}).get(name.removeprefix("metadata."))
    return row.get(name)


def _leaf(node: dict[str, Any], value: Any) -> bool | None:
    op, want = node["op"], node.get("value")
    if op == "is_null":
        return value is None
    if op == "not_null":
        return value is not None
    if value is None:
        return None  # SQL: any comparison with null is unknown
    if op in ("has_any", "has_all", "has_none"):
        hits = [w in value for w in want]
        return {"has_any": any(hits), "has_all": all(hits), "has_none": not any(hits)}[op]
    if isinstance(value, datetime):
        want = [instant(w) for w in want] if isinstance(want, list) else instant(want)
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        if node.get("case_insensitive"):
            value, want = value.lower(), want.lower()
        return {
            "contains": want in value,
            "not_contains": want not in value,
            "starts_with": value.startswith(want),
            "ends_with": value.endswith(want),
        }[op]
    compare: dict[str, Callable[[], bool]] = {
        "eq": lambda: value == want,
        "neq": lambda: value != want,
        "in": lambda: value in want,
        "nin": lambda: value not in want,
        "gt": lambda: value > want,
        "gte": lambda: value >= want,
        "lt": lambda: value < want,
        "lte": lambda: value <= want,
        "between": lambda: want[0] <= value <= want[1],
    }
    return compare[op]()


def truth(node: dict[str, Any], get: Callable[[str], Any]) -> bool | None:
    """Three-valued logic of a filter tree; `get` reads a field (or a measure, for having)."""
    if "and" in node:
        parts = [truth(child, get) for child in node["and"]]
        if False in parts:
            return False
        return None if None in parts else True
    if "or" in node:
        parts = [truth(child, get) for child in node["or"]]
        if True in parts:
            return True
        return None if None in parts else False
    if "not" in node:
        inner = truth(node["not"], get)
        return None if inner is None else not inner
    return _leaf(node, get(node["field"]))


def select(
    rows: list[dict[str, Any]],
    time: dict[str, str] | None = None,
    filter: dict[str, Any] | None = None,
    workspaces: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    out = rows
    if time is not None:
        start, end = instant(time["start"]), instant(time["end"])
        out = [r for r in out if start <= r["ts"] < end]
    if workspaces is not None:
        allowed = set(workspaces)
        out = [r for r in out if r["workspace_id"] in allowed]
    if filter is not None:
        out = [r for r in out if truth(filter, lambda f, r=r: field_value(r, f)) is True]
    return out


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def measure_label(m: dict[str, Any]) -> str:
    if "as" in m:
        return m["as"]
    op, name = m["op"], m.get("field")
    if op == "count" and name is None:
        return "count"
    if op == "percentile" or op in SHORTHANDS:
        q = m["q"] if op == "percentile" else SHORTHANDS[op]
        return f"p{q * 100:g}_{name}"
    return f"{op}_{name}"


def measure(m: dict[str, Any], members: list[dict[str, Any]]) -> Any:
    op, name = m["op"], m.get("field")
    if op == "count" and name is None:
        return len(members)
    values = [v for v in (field_value(r, name) for r in members) if v is not None]
    if op == "count":
        return len(values)
    if op == "count_distinct":
        return len(set(values))
    if op in ("min", "max"):
        found = (min if op == "min" else max)(values) if values else None
        return Exact(found) if isinstance(found, Decimal) else found
    if op == "sum" and values and all(isinstance(v, Decimal) for v in values):
        return Exact(sum(values, Decimal(0)))
    numbers = [float(v) for v in values]
    if not numbers:
        return None
    if op == "sum":
        return math.fsum(numbers)
    if op == "avg":
        return math.fsum(numbers) / len(numbers)
    return percentile(numbers, m["q"] if op == "percentile" else SHORTHANDS[op])


def bucket_of(
    ts: datetime, interval: str, tz: ZoneInfo, origin: datetime | None = None
) -> datetime:
    """The UTC start of the bucket holding `ts`. Sub-day buckets are fixed lengths counted from
    the origin (default the Unix epoch); days, weeks and months are local calendar buckets
    counted from the origin's local date (default 1970-01-01, Monday 1970-01-05 for weeks)."""
    count_text, unit = interval.split()
    every, unit = int(count_text), unit.removesuffix("s")
    if unit in ("second", "minute", "hour"):
        size = every * {"second": 1, "minute": 60, "hour": 3600}[unit]
        base = origin or datetime(1970, 1, 1, tzinfo=UTC)
        steps = math.floor((ts - base).total_seconds() / size)
        return (base + timedelta(seconds=steps * size)).astimezone(UTC)
    day = ts.astimezone(tz).date()
    if unit == "month":
        base = origin.astimezone(tz).date() if origin else date(1970, 1, 1)
        months = (day.year - base.year) * 12 + day.month - base.month
        index = base.year * 12 + base.month - 1 + math.floor(months / every) * every
        first = date(index // 12, index % 12 + 1, 1)
    else:
        assert unit in ("day", "week"), interval
        span = every * (7 if unit == "week" else 1)
        default = date(1970, 1, 5) if unit == "week" else date(1970, 1, 1)
        base = origin.astimezone(tz).date() if origin else default
        first = base + timedelta(days=math.floor((day - base).days / span) * span)
    return datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)


def _next_bucket(start: datetime, interval: str, tz: ZoneInfo) -> datetime:
    if interval == "1 hour":
        return start + timedelta(hours=1)
    day = start.astimezone(tz).date()
    if interval == "1 month":
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        day += timedelta(days=7 if interval == "1 week" else 1)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def window_buckets(time: dict[str, str], interval: str, tz: ZoneInfo) -> list[datetime]:
    """Every bucket start (UTC) whose bucket overlaps the window."""
    end = instant(time["end"])
    current = bucket_of(instant(time["start"]), interval, tz)
    out = []
    while current < end:
        out.append(current)
        current = _next_bucket(current, interval, tz)
    return out


def group_members(
    rows: list[dict[str, Any]], body: dict[str, Any], workspaces: Iterable[str] | None = None
) -> dict[tuple, list[dict[str, Any]]]:
    """Rows of the window and filter by group key; an array value fans out (empty -> None)."""
    tz = ZoneInfo(body.get("timezone", "UTC"))
    kept = select(rows, body.get("time"), body.get("filter"), workspaces)
    groups = body.get("group_by", [])
    members: dict[tuple, list[dict[str, Any]]] = {}
    if not groups:
        return {(): kept}
    for row in kept:
        keys: list[tuple] = [()]
        for g in groups:
            if isinstance(g, dict):
                origin = instant(g["origin"]) if "origin" in g else None
                options = [bucket_of(row["ts"], g["time"], tz, origin)]
            else:
                value = field_value(row, g)
                options = (value or [None]) if isinstance(value, list) else [value]
            keys = [(*k, o) for k in keys for o in options]
        for key in keys:
            members.setdefault(key, []).append(row)
    return members


def aggregate(
    members: dict[tuple, list[dict[str, Any]]], measures: list[dict[str, Any]]
) -> dict[tuple, dict[str, Any]]:
    return {
        key: {measure_label(m): measure(m, group) for m in measures}
        for key, group in members.items()
    }


def expected(
    rows: list[dict[str, Any]], body: dict[str, Any], workspaces: Iterable[str] | None = None
) -> dict[tuple, dict[str, Any]]:
    return aggregate(group_members(rows, body, workspaces), body["measures"])


# ------------------------------------------------------------------------------------------------
# Calling the API and comparing
# ------------------------------------------------------------------------------------------------


@dataclass
class Env:
    client: TestClient
    admin: dict[str, str]
    keys: KeyStore
    service: Any
    events: list[dict[str, Any]]
    tagged: list[dict[str, Any]]


def post(env: Env, body: dict[str, Any], headers: dict[str, str] | None = None):
    return env.client.post("/v1/query", json=body, headers=headers or env.admin)


def run(env: Env, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = post(env, body, headers)
    assert response.status_code == 200, response.text
    return response.json()


def row_key(row: dict[str, Any], groups: list[Any]) -> tuple:
    parts = []
    for g in groups:
        if isinstance(g, dict):
            parts.append(instant(row["time"]))
        else:
            parts.append(row[g])
    return tuple(parts)


def keyed(rows: list[dict[str, Any]], groups: list[Any]) -> dict[tuple, dict[str, Any]]:
    out: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = row_key(row, groups)
        assert key not in out, f"group {key} appears twice"
        out[key] = row
    return out


class Exact(float):
    """A sum, min or max of money the oracle computed in Decimal arithmetic: the answer must be
    this very double (the nearest one to the exact decimal), not merely close to it."""


def same(actual: Any, wanted: Any) -> bool:
    if wanted is None or actual is None:
        return actual is wanted
    if isinstance(wanted, Exact):
        return actual == wanted
    if isinstance(wanted, datetime):
        return instant(actual) == wanted
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        return actual == pytest.approx(wanted, rel=1e-9, abs=1e-9)
    return actual == wanted


def assert_rows(
    rows: list[dict[str, Any]], want: dict[tuple, dict[str, Any]], groups: list[Any]
) -> None:
    got = keyed(rows, groups)
    missing, extra = set(want) - set(got), set(got) - set(want)
    assert not missing and not extra, f"missing groups {missing}, unexpected groups {extra}"
    wrong = [
        (key, label, got[key].get(label, "<missing>"), value)
        for key, measures in want.items()
        for label, value in measures.items()
        if not same(got[key].get(label, "<missing>"), value)
    ]
    assert not wrong, f"(group, measure, got, expected): {wrong[:10]}"


def check(env: Env, body: dict[str, Any]) -> dict[str, Any]:
    """Run `body` as an admin and compare every group and measure with the oracle."""
    result = run(env, body)
    assert_rows(result["rows"], expected(env.events, body), body.get("group_by", []))
    return result


def ordered_labels(rows: list[dict[str, Any]]) -> list[str]:
    return [r["time"] for r in sorted(rows, key=lambda r: instant(r["time"]))]


# ------------------------------------------------------------------------------------------------
# The service, with both datasets ingested through HTTP
# ------------------------------------------------------------------------------------------------


def _ingest(client: TestClient, headers: dict[str, str], dataset: str, rows: list[dict]) -> None:
    wire = [to_wire(r, i) for i, r in enumerate(rows)]
    response = client.post(f"/v1/datasets/{dataset}/rows", json=wire, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == len(rows) and body["rejected"] == [], body


def open_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A service on a fresh DuckDB file with both datasets ingested; each test module opens one."""
    root = tmp_path_factory.mktemp("numbers")
    datasets_dir = root / "datasets"
    datasets_dir.mkdir()
    (datasets_dir / "tagged_events.toml").write_text(TAGGED_TOML, encoding="utf-8")
    with live_app(root, datasets_dir=datasets_dir) as live:
        events = generate_events(SEED)
        tagged = generate_tagged(SEED + 1)
        _ingest(live.client, live.admin, "agent_events", events)
        _ingest(live.client, live.admin, "tagged_events", tagged)
        yield Env(live.client, live.admin, live.keys, live.service, events, tagged)


ALL = {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
# A window with odd edges, so the [start, end) cut is part of every answer.
CUT = {"start": "2026-09-20T07:15:00+02:00", "end": "2026-11-05T18:00:00Z"}
OCTOBER = window(local(2026, 10, 1), local(2026, 11, 1))


def leaf(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    """A filter leaf; `value` left out for is_null / not_null."""
    node = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node
