"""The benchmark compares equal work: for each of Q1–Q6, tenant-scoped and over all tenants,
Tally's answer to the IR equals the hand-written DuckDB SQL's and the hand-written PostgreSQL
SQL's over the same generated rows (PostgreSQL being the independent computation)."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench import postgres
from bench.data import generate
from bench.queries import QUERIES
from bench.run import DATASETS
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.wiring import build_service
from tests.engines_support import PG_URL, require_postgres

ROWS = 20_000
pytestmark = pytest.mark.postgres


def _value(value: Any) -> Any:
    """One spelling per value: bucket starts as epoch milliseconds (the raw DuckDB SQL computes
    them so), decimals as floats."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _sorted(rows: list[tuple]) -> list[tuple]:
    def key(row: tuple) -> tuple:
        return tuple((v is None, v) for v in row if not isinstance(v, float))

    return sorted((tuple(_value(v) for v in row) for row in rows), key=key)


def _same(left: list[tuple], right: list[tuple], label: str) -> None:
    assert len(left) == len(right), label
    for a, b in zip(_sorted(left), _sorted(right), strict=True):
        assert len(a) == len(b), label
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (label, a, b)
            else:
                assert x == y, (label, a, b)


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list, list, list]]:
    require_postgres()
    table = generate(ROWS)
    data_dir: Path = tmp_path_factory.mktemp("bench")
    service = build_service(
        Settings.from_env(data_dir=data_dir, datasets_dir=DATASETS, cache_enabled=False)
    )
    service.tables.ensure()
    service.ingestion.load_table("bench_events", table, partial=False)
    postgres.load(PG_URL, table)
    admin = Principal(subject="test", role="admin", all_tenants=True)
    found = {}
    with postgres.connect(PG_URL, ROWS) as conn:
        for query in QUERIES:
            for scoped in (True, False):
                params = query.params(scoped)
                tally = service.answers.answer(Query.model_validate(query.ir(scoped)), admin).rows
                raw = service.engine.execute(query.sql("duckdb", scoped), params, 30)[1]
                pg = conn.execute(query.sql("postgres", scoped), params).fetchall()
                found[f"{query.name}/{scoped}"] = ([tuple(r.values()) for r in tally], raw, pg)
    service.engine.close()
    return found


@pytest.mark.parametrize("query", [q.name for q in QUERIES])
@pytest.mark.parametrize("scoped", [True, False], ids=["tenant", "all"])
def test_tally_and_both_hand_written_queries_agree(answers, query: str, scoped: bool) -> None:
    tally, raw, pg = answers[f"{query}/{scoped}"]
    assert pg, "the rows must give every query something to count"
    _same(raw, pg, f"{query} raw DuckDB vs PostgreSQL")
    _same(tally, pg, f"{query} Tally vs PostgreSQL")
