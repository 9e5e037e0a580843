"""DuckDB, ClickHouse (chDB) and PostgreSQL give the same answers to the same requests.

One generated dataset (several tenants, nulls everywhere they are allowed, JSON metadata, a tag
array, a nullable label array, a nullable rating map, refs for derived columns, timestamps
across the DST changes of Paris and New York) and one upsert dataset with a date time axis are
ingested through the HTTP API of three deployments. Every case of `cases.py` is sent to each;
the answers of ClickHouse and PostgreSQL must equal DuckDB's, floats within 1e-9 relative.
DuckDB's own numbers are checked against plain Python elsewhere (tests/integration/test_numbers_*).

A case is one entry: a name, a body, and the path it is sent to (`/v1/query` by default), so a
profile endpoint joins the suite by adding `Case("name", body, path="/v1/...")`. The profiles'
built-in datasets get the demo generator's rows at a fixed "now", which is also the services'
clock, so relative windows mean the same instant on every engine.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.demo.decisioning import GENERATORS as DECISIONING
from tally.demo.generate import generate, split_rows
from tally.wiring import build_service
from tests.engines_support import isolated_settings
from tests.equivalence.cases import CASES, PROFILE_NOW, Case
from tests.helpers import bearer

VOLATILE = {"cache", "timing_ms", "generated_at", "trace_id"}
SEED = 20_260_329

EVENTS_TOML = """
name = "eq_events"
tenant_columns = ["tenant"]
time_column = "ts"
key_columns = ["id"]
columns = [
  { name = "tenant", type = "string", nullable = false },
  { name = "id", type = "string", nullable = false },
  { name = "ts", type = "timestamp", nullable = false },
  { name = "kind", type = "string", nullable = false },
  { name = "user_id", type = "string" },
  { name = "amount", type = "float" },
  { name = "qty", type = "int" },
  { name = "flag", type = "bool" },
  { name = "tags", type = "string[]", nullable = false },
  { name = "labels", type = "string[]" },
  { name = "ratings", type = "map<string,float>" },
  { name = "metadata", type = "json" },
  { name = "ref", type = "string" },
  { name = "path", type = "string", nullable = false },
  { name = "scorer", type = "string", derived = { fn = "ref_object_id", of = "ref" } },
  { name = "segment", type = "string", derived = { fn = "path_segment", of = "path", index = -2 } },
]
"""

RECORDS_TOML = """
name = "eq_records"
tenant_columns = ["tenant"]
time_column = "day"
key_columns = ["id"]
mode = "upsert"
columns = [
  { name = "tenant", type = "string", nullable = false },
  { name = "id", type = "string", nullable = false },
  { name = "day", type = "date", nullable = false },
  { name = "status", type = "string", nullable = false },
  { name = "total", type = "float" },
]
"""

# Local midnights and the instants either side of the 2026 DST changes (Paris: Mar 29 and
# Oct 25 at 01:00Z; New York: Mar 8 at 07:00Z and Nov 1 at 06:00Z), and month ends.
EDGES = [
    "2026-03-07T04:59:59Z", "2026-03-07T05:00:00Z", "2026-03-08T06:59:59Z",
    "2026-03-08T07:00:00Z", "2026-03-09T03:59:59Z", "2026-03-09T04:00:00Z",
    "2026-03-28T22:59:59Z", "2026-03-28T23:00:00Z", "2026-03-29T00:59:59Z",
    "2026-03-29T01:00:00Z", "2026-03-29T21:59:59Z", "2026-03-29T22:00:00Z",
    "2026-03-31T21:59:59Z", "2026-03-31T22:00:00Z", "2026-03-31T23:30:00Z",
    "2026-10-24T21:59:59Z", "2026-10-24T22:00:00Z", "2026-10-25T00:59:59Z",
    "2026-10-25T01:00:00Z", "2026-10-25T23:00:00Z", "2026-11-01T03:59:59Z",
    "2026-11-01T04:00:00Z", "2026-11-01T05:59:59Z", "2026-11-01T06:00:00Z",
    "2026-11-02T04:59:59Z", "2026-11-02T05:00:00Z",
]  # fmt: skip
KINDS = ("view", "buy", "Refund", "search", "ÉCHANGE")
CHANNELS = ("email", "Email", "ads", "organic", "ÉMAIL")
SCORERS = ("weave:///acme/proj/op/toxicity:v1a2", "weave:///acme/proj/op/helpful:9f", "plain")
PATHS = ("weave:///acme/proj/call/agent_turn/c1", "weave:///acme/proj/call/tool/c2", "solo")


def _maybe(rng: random.Random, value: Any, p_null: float) -> Any:
    return None if rng.random() < p_null else value


def _metadata(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.1:
        return None
    meta: dict[str, Any] = {}
    if rng.random() < 0.8:
        meta["channel"] = rng.choice(CHANNELS)
    if rng.random() < 0.6:
        meta["discount"] = rng.choice([rng.randint(0, 40), round(rng.uniform(0, 40), 2)])
    if rng.random() < 0.3:
        meta["coupon"] = rng.choice(["FREE10", "SAVE5", "free20"])
    if rng.random() < 0.3:
        meta["vip"] = rng.random() < 0.5
    if rng.random() < 0.1:
        meta["note"] = None
    return meta


def _ratings(rng: random.Random) -> dict[str, float] | None:
    roll = rng.random()
    if roll < 0.2:
        return None
    if roll < 0.3:
        return {}
    keys = [k for k in ("quality", "speed", "_rating_") if rng.random() < 0.6] or ["quality"]
    return {k: round(rng.uniform(0, 1), 3) for k in keys}


def make_events() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    spring = datetime(2026, 3, 1, tzinfo=UTC)
    fall = datetime(2026, 10, 18, tzinfo=UTC)
    instants = [datetime.fromisoformat(t) for t in EDGES for _ in range(2)]
    instants += [spring + timedelta(seconds=rng.randrange(40 * 86_400)) for _ in range(520)]
    instants += [fall + timedelta(seconds=rng.randrange(21 * 86_400)) for _ in range(160)]
    instants += [datetime(2026, m, 15, 12, tzinfo=UTC) for m in (1, 5, 7, 12) for _ in range(3)]
    rows = []
    for i, ts in enumerate(instants):
        tenant = rng.choices(("t1", "t2", "t3"), weights=(6, 3, 1))[0]
        rows.append(
            {
                "tenant": tenant,
                "id": f"e{i:05d}",
                "ts": ts.isoformat(),
                "kind": rng.choice(KINDS),
                "user_id": _maybe(rng, f"u{rng.randint(1, 45)}", 0.1),
                "amount": _maybe(rng, round(rng.uniform(-20, 500), 2), 0.15),
                "qty": _maybe(rng, rng.randint(0, 25), 0.15),
                "flag": _maybe(rng, rng.random() < 0.4, 0.2),
                "tags": rng.sample(["red", "green", "blue", "gold"], rng.randint(0, 3)),
                "labels": _maybe(rng, rng.sample(["x", "y", "z"], rng.randint(0, 2)), 0.25),
                "ratings": _ratings(rng),
                "metadata": _metadata(rng),
                "ref": _maybe(rng, rng.choice(SCORERS), 0.2),
                "path": rng.choice(PATHS),
            }
        )
    return rows


def make_records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A first load and an upsert batch that replaces part of it."""
    rng = random.Random(SEED + 1)
    first = [
        {
            "tenant": rng.choice(("t1", "t2")),
            "id": f"r{i:04d}",
            "day": (date(2026, 2, 20) + timedelta(days=rng.randrange(60))).isoformat(),
            "status": rng.choice(("paid", "open", "void")),
            "total": _maybe(rng, round(rng.uniform(5, 900), 2), 0.1),
        }
        for i in range(180)
    ]
    changed = [{**row, "status": "paid", "total": 42.5} for row in first[::5]]
    return first, changed


@functools.cache
def profile_tables() -> dict[str, Any]:
    """Demo rows of the profiles' built-in datasets, the same for every engine."""
    now = datetime.fromisoformat(PROFILE_NOW)
    sizes = {"agent_events": 4000, "agent_metrics": 3000, "invoices": 1200, "feedback": 2000}
    sizes |= {name: rows for name, rows in split_rows(100_000).items() if name in DECISIONING}
    return {name: generate(name, rows, now) for name, rows in sizes.items()}


@dataclass
class Deployment:
    engine: str
    client: TestClient
    headers: dict[str, str]

    def send(self, case: Case) -> Any:
        headers = {**self.headers, **dict(case.headers)}
        response = self.client.request(case.method, case.path, json=case.body, headers=headers)
        assert response.status_code == 200, (self.engine, case.name, response.text)
        return response.json()


def _ingest(deployment: Deployment, dataset: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = deployment.client.post(
        f"/v1/datasets/{dataset}/rows", json=rows, headers=deployment.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eq-datasets")
    (path / "eq_events.toml").write_text(EVENTS_TOML, encoding="utf-8")
    (path / "eq_records.toml").write_text(RECORDS_TOML, encoding="utf-8")
    return path


def deploy(engine: str, root: Path, datasets_dir: Path) -> Iterator[Deployment]:
    """A running app on `engine` with the test data ingested (twice: the second adds nothing)."""
    events = make_events()
    records, changed = make_records()
    with isolated_settings(engine, root, datasets_dir) as settings:
        service = build_service(settings)
        service.clock = lambda: datetime.fromisoformat(PROFILE_NOW)
        for dataset, table in profile_tables().items():
            assert not service.ingestion.load_table(dataset, table, partial=False).rejected
        app = create_app(settings, service)
        with TestClient(app) as client:
            _, token = app.state.keys.create("admin", {}, all_tenants=True, name="eq")
            deployment = Deployment(engine, client, bearer(token))
            assert _ingest(deployment, "eq_events", events)["accepted"] == len(events)
            again = _ingest(deployment, "eq_events", events[:50])
            assert (again["accepted"], again["duplicates"]) == (0, 50)
            assert _ingest(deployment, "eq_records", records)["accepted"] == len(records)
            assert _ingest(deployment, "eq_records", changed)["updated"] == len(changed)
            yield deployment


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> dict[str, Any]:
    """DuckDB's answer to every case."""
    root = tmp_path_factory.mktemp("eq-duckdb")
    for deployment in deploy("duckdb", root, datasets_dir):
        return {case.name: deployment.send(case) for case in CASES}
    raise AssertionError("no DuckDB deployment")


@pytest.fixture(
    scope="module",
    params=[
        "clickhouse",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "duckdb-columnar",
        "clickhouse-columnar",
    ],
)
def other(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path
) -> Iterator[Deployment]:
    """Another engine; `-columnar` names rows from Arrow columns for every result, the path
    results with a large limit take, instead of only for those."""
    engine, _, path = request.param.partition("-")
    with pytest.MonkeyPatch.context() as patch:
        if path == "columnar":
            patch.setattr("tally.service.answers.COLUMNAR_FROM_LIMIT", -1)
        for deployment in deploy(
            engine, tmp_path_factory.mktemp(f"eq-{request.param}"), datasets_dir
        ):
            deployment.engine = request.param
            yield deployment


def _same(expected: Any, actual: Any, where: str) -> None:
    """Equal JSON, floats within 1e-9 relative; volatile meta (cache, timings) is ignored."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = set(expected) - VOLATILE
        assert keys == set(actual) - VOLATILE, f"{where}: keys {keys ^ (set(actual) - VOLATILE)}"
        for key in sorted(keys):
            _same(expected[key], actual[key], f"{where}/{key}")
    elif isinstance(expected, list) and isinstance(actual, list):
        assert len(expected) == len(actual), f"{where}: {len(expected)} != {len(actual)} items"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _same(e, a, f"{where}/{i}")
    elif isinstance(expected, float | int) and not isinstance(expected, bool):
        assert isinstance(actual, float | int) and not isinstance(actual, bool), (where, actual)
        assert math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9), (where, expected, actual)
    else:
        assert expected == actual, (where, expected, actual)


def _measured(answer: Any) -> bool:
    """Whether an answer holds at least one non-null number (so agreement is not vacuous)."""
    if isinstance(answer, dict):
        return any(_measured(v) for k, v in answer.items() if k != "meta")
    if isinstance(answer, list):
        return any(_measured(v) for v in answer)
    return isinstance(answer, float | int) and not isinstance(answer, bool) and answer != 0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_engines_agree(case: Case, reference: dict[str, Any], other: Deployment) -> None:
    expected = reference[case.name]
    assert _measured(expected), f"{case.name}: DuckDB's answer has no numbers to compare"
    actual = other.send(case)
    _same(expected, actual, f"{other.engine}:{case.name}")
    if other.engine == "duckdb-columnar":
        assert _stable(actual) == _stable(expected), f"{case.name}: not the same JSON"


def _stable(answer: Any) -> bytes:
    """The answer's JSON without volatile meta, so `1` and `1.0` differ."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return orjson.dumps(strip(answer))
