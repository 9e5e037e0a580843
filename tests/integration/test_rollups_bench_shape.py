"""The benchmark's Q4 (sum of amount and average price by `metadata.channel`, 183 days, three
event types) is answered from a rollup declared by event type and that JSON key, and Q3 (daily
distinct sessions over 90 days) from the stored cardinalities of daily rollups, per tenant and
across tenants, without reading the sets: tenant-scoped and over all tenants, with the numbers
of the benchmark's own hand-written DuckDB SQL over the same generated rows."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
import yaml

from bench.data import generate
from bench.queries import QUERIES
from bench.run import DATASETS
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.service import Service
from tally.wiring import build_service

ROWS = 20_000
ROLLUP = {
    "name": "by_type_channel",
    "dimensions": ["event_type", "metadata.channel"],
    "measures": [{"op": "sum", "field": "amount"}, {"op": "sum", "field": "price"}],
}
DAILY = {"grain": "24 hours", "measures": [{"op": "count_distinct", "field": "session_id"}]}
ROLLUPS = [
    ROLLUP,
    {"name": "daily", **DAILY},
    {"name": "daily_all", "across_tenants": True, **DAILY},
]
ADMIN = Principal(subject="test", role="admin", all_tenants=True)
Q4 = next(q for q in QUERIES if q.name == "Q4")
Q3 = next(q for q in QUERIES if q.name == "Q3")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    root: Path = tmp_path_factory.mktemp("bench-q4")
    datasets = root / "datasets"
    datasets.mkdir()
    dataset = tomllib.loads((DATASETS / "bench_events.toml").read_text())
    (datasets / "bench_events.yaml").write_text(yaml.safe_dump({**dataset, "rollups": ROLLUPS}))
    svc = build_service(Settings.from_env(data_dir=root / "data", datasets_dir=datasets))
    svc.ingestion.load_table("bench_events", generate(ROWS), partial=False)
    yield svc
    svc.engine.close()


@pytest.mark.parametrize("scoped", [True, False])
def test_bench_q4_is_answered_from_a_rollup_by_a_json_key(service: Service, scoped: bool) -> None:
    result = service.answers.answer(Query.model_validate(Q4.ir(scoped)), ADMIN)
    assert result.meta["served_from"] == "by_type_channel"
    got = {row["metadata.channel"]: (row["sum_amount"], row["avg_price"]) for row in result.rows}
    _, rows = service.engine.execute(Q4.sql("duckdb", scoped), Q4.params(scoped), 30)
    want = {channel: (total, mean) for channel, total, mean in rows}
    assert len(got) == len(result.rows) and got.keys() == want.keys()
    assert len(want) > 1
    for channel, values in want.items():
        for left, right in zip(got[channel], values, strict=True):
            assert math.isclose(left, right, rel_tol=1e-9), (channel, got[channel], values)


@pytest.mark.parametrize(("scoped", "served_from"), [(True, "daily"), (False, "daily_all")])
def test_bench_q3_counts_with_the_stored_cardinalities(
    service: Service, scoped: bool, served_from: str
) -> None:
    query = Query.model_validate(Q3.ir(scoped))
    result = service.answers.answer(query, ADMIN)
    assert result.meta["served_from"] == served_from
    sql = service.answers.explain(query, ADMIN)["sql"]
    assert '"_card__session_id"' in sql and "tally_ids_count" not in sql.lower()
    _, rows = service.engine.execute(Q3.sql("duckdb", scoped), Q3.params(scoped), 30)
    got = [
        (int(row["time"].timestamp() * 1000), row["count_distinct_session_id"])
        for row in result.rows
    ]
    assert got == [tuple(row) for row in rows]
    assert len(got) == 90
