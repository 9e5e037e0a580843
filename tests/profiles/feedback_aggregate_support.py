"""Data, oracle and service for the `test_feedback_aggregate*` modules.

A seeded generator makes feedback rows of two projects with every case the endpoint
distinguishes: scorer and monitor ids that are prefixes of one another (`tox`, `toxicity`,
`toxicity_v2`; `mon`, `monday`, `monitor_prod`), refs with and without a `:digest`, null refs,
span types read from the ref path, rows with tags only, rows with several rating keys, repeated
tags, null agents (which Weave's store holds as `""`), a 12-hour gap without rows, and rows on
the edges of the test window. The rows go in through the real ingestion API; the oracle here
recomputes every response in plain Python from those same rows and never calls Tally code.
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
from tally.query.limits import Limits
from tests.helpers import live_app

SEED = 3_003
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# 2026-03-30T00:00:00Z. The data covers three days from here.
BASE_MS = 1_774_828_800_000
DATA_END_MS = BASE_MS + 3 * DAY_MS
# No row falls in [40 h, 52 h): hourly buckets there are empty.
GAP_MS = (BASE_MS + 40 * HOUR_MS, BASE_MS + 52 * HOUR_MS)
# The test window: its start is no multiple of any bucket size the tests use.
WINDOW = (BASE_MS + 1_234_567, BASE_MS + 60 * HOUR_MS + 999)
PROJECT = "team/alpha"
OTHER_PROJECT = "team/beta"

SCORERS = ("tox", "toxicity", "toxicity_v2", "relevance", None)
MONITORS = ("mon", "monday", "monitor_prod", None)
FEEDBACK_TYPES = (
    "wandb.runnable.tox",
    "wandb.runnable.relevance",
    "wandb.annotation.thumbs",
    "custom.note",
)
SPAN_KINDS = ("agent_turn", "agent_conversation", "call")
AGENTS = ("support", "research", None)
VERSIONS = ("v1", "v2", None)
STATUSES = ("UNSET", "OK", "ERROR")
TAGS = ("hallucination", "toxicity", "pii")
RATING_SHAPES = ("none", "empty", "main", "main+relevance", "relevance")
ROWS = 1_200


def _ref(project: str, kind: str, name: str | None, rng: random.Random) -> str | None:
    if name is None:
        return None
    if rng.random() < 0.2:
        return f"weave:///{project}/{kind}/{name}"
    return f"weave:///{project}/{kind}/{name}:{rng.randrange(16**6):06x}"


def _rating(rng: random.Random) -> float:
    """Multiples of 1/8: sums are exact in any order, so Tally and the oracle agree bit for bit."""
    return rng.randrange(9) / 8


def _ratings(rng: random.Random) -> dict[str, float] | None:
    shape = rng.choice(RATING_SHAPES)
    if shape == "none":
        return None
    ratings: dict[str, float] = {}
    if shape.startswith("main"):
        ratings["_rating_"] = _rating(rng)
    if "relevance" in shape:
        ratings["relevance"] = _rating(rng)
    return ratings


def _created_ms(rng: random.Random) -> int:
    while True:
        ms = rng.randrange(BASE_MS, DATA_END_MS)
        if not GAP_MS[0] <= ms < GAP_MS[1]:
            return ms


def _row(index: int, rng: random.Random, created_ms: int, project: str) -> dict[str, Any]:
    tags = [rng.choice(TAGS) for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))]
    return {
        "project_id": project,
        "id": f"fb_{index:05d}",
        "created_at": to_iso(created_ms),
        "feedback_type": rng.choice(FEEDBACK_TYPES),
        "scorer_tags": tags,
        "ratings": _ratings(rng),
        "trigger_ref": _ref(project, "object", rng.choice(MONITORS), rng),
        "runnable_ref": _ref(project, "op", rng.choice(SCORERS), rng),
        "weave_ref": f"weave:///{project}/call/{rng.choice(SPAN_KINDS)}/c{index:05d}",
        "span_agent_name": rng.choice(AGENTS),
        "span_agent_version": rng.choice(VERSIONS),
        "span_status_code": rng.choice(STATUSES),
    }


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = [
        _row(i, rng, _created_ms(rng), PROJECT if rng.random() < 0.75 else OTHER_PROJECT)
        for i in range(ROWS)
    ]
    after, before = WINDOW
    for ms in (after - 1, after, before - 1, before):
        rows.append(_row(len(rows), rng, ms, PROJECT))
    return rows


def to_iso(ms: int) -> str:
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return instant.isoformat(timespec="milliseconds")


def created_ms(row: dict[str, Any]) -> int:
    instant = datetime.fromisoformat(row["created_at"])
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


# ------------------------------------------------------------------------------------------------
# The oracle
# ------------------------------------------------------------------------------------------------


def object_id(ref: str | None) -> str:
    return "" if ref is None else ref.split("/")[-1].split(":")[0]


def group_value(row: dict[str, Any], name: str) -> str:
    value = object_id(row["runnable_ref"]) if name == "scorer_id" else row[name]
    return "" if value is None else value


def _id_matches(value: str, items: list[str]) -> bool:
    return any(
        value.startswith(item.rstrip("*")) if item.endswith("*") else value == item
        for item in items
    )


def matches(row: dict[str, Any], body: dict[str, Any]) -> bool:
    """Every filter family of the body, written out independently of the profile."""
    if row["project_id"] != body["project_id"]:
        return False
    if not body["after_ms"] <= created_ms(row) < body["before_ms"]:
        return False
    rating = (row["ratings"] or {}).get("_rating_")
    checks = [
        (
            "feedback_types",
            lambda v: any(row["feedback_type"].startswith(p.rstrip("*")) for p in v),
        ),
        ("tags", lambda v: bool(set(v) & set(row["scorer_tags"]))),
        ("rating_min", lambda v: rating is not None and rating >= v),
        ("rating_max", lambda v: rating is not None and rating <= v),
        ("monitor_ids", lambda v: _id_matches(object_id(row["trigger_ref"]), v)),
        ("scorer_ids", lambda v: _id_matches(object_id(row["runnable_ref"]), v)),
        ("span_agent_names", lambda v: (row["span_agent_name"] or "") in v),
        ("span_types", lambda v: row["weave_ref"].split("/")[-2] in v),
    ]
    return all(test(body[name]) for name, test in checks if body.get(name) not in (None, []))


def expected(rows: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    """The response's `buckets`, computed row by row."""
    size = (body.get("time_bucket_seconds") or 0) * 1000
    group_by = body.get("group_by", [])
    out: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if not matches(row, body):
            continue
        ms = created_ms(row)
        start = ms - ms % size if size else None
        values = tuple(group_value(row, name) for name in group_by)
        bucket = out.setdefault((start or 0, values), _empty(start, group_by, values))
        ratings = row["ratings"] or {}
        bucket["total_count"] += 1
        bucket["scored_count"] += bool(row["scorer_tags"] or ratings)
        for tag in row["scorer_tags"]:
            bucket["tag_counts"][tag] = bucket["tag_counts"].get(tag, 0) + 1
        for key, value in ratings.items():
            bucket["rating_counts"][key] = bucket["rating_counts"].get(key, 0) + 1
            bucket["rating_sums"][key] = bucket["rating_sums"].get(key, 0) + value
    if not out and not size and not group_by:
        out[(0, ())] = _empty(None, [], ())
    return [out[key] for key in sorted(out, key=lambda key: _order(key, group_by))]


# Weave's ClickHouse column is Enum8('UNSET'=0, 'OK'=1, 'ERROR'=2): groups sort by the number.
STATUS_NUMBERS = {"UNSET": 0, "OK": 1, "ERROR": 2}


def _order(key: tuple, group_by: list[str]) -> tuple:
    start, values = key
    return start, [
        STATUS_NUMBERS[v] if name == "span_status_code" else v
        for name, v in zip(group_by, values, strict=True)
    ]


def _empty(start: int | None, group_by: list[str], values: tuple) -> dict[str, Any]:
    return {
        "time_bucket_start_ms": start,
        "group": dict(zip(group_by, values, strict=True)),
        "total_count": 0,
        "scored_count": 0,
        "tag_counts": {},
        "rating_counts": {},
        "rating_sums": {},
    }


# ------------------------------------------------------------------------------------------------
# The service
# ------------------------------------------------------------------------------------------------


@dataclass
class Env:
    client: TestClient
    admin: dict[str, str]
    keys: KeyStore
    rows: list[dict[str, Any]]

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return self.client.post("/feedback/aggregate", json=body, headers=headers or self.admin)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(body)
        assert response.status_code == 200, response.text
        return response.json()


def open_env(
    tmp_path_factory: pytest.TempPathFactory, limits: Limits | None = None
) -> Iterator[Env]:
    """A real service on a fresh DuckDB file, with the generated rows ingested over HTTP."""
    rows = generate()
    with live_app(tmp_path_factory.mktemp("feedback"), limits=limits or Limits()) as live:
        response = live.client.post("/v1/datasets/feedback/rows", json=rows, headers=live.admin)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == len(rows), response.text
        yield Env(live.client, live.admin, live.keys, rows)
