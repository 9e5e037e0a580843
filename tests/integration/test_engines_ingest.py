"""Every engine stores a batch once: repeated keys are duplicates, upserts replace, nulls stay.

Also the engines' own contracts: a slow query becomes a 503 with the same message as DuckDB's,
and a driver error reaches the caller as a TallyError without SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tally.catalog import Dataset
from tally.catalog.arrow import arrow_schema
from tally.catalog.storage import table_spec
from tally.engines.base import Engine, WriteOutcome
from tally.engines.clickhouse import ClickHouseEngine, parse_url
from tally.errors import TallyError
from tally.sql.dialect import Dialect
from tests.engines_support import ENGINE_PARAMS, engine_with_tables

NOTES = Dataset.model_validate(
    {
        "name": "notes",
        "tenant_columns": ["tenant"],
        "time_column": "ts",
        "key_columns": ["id"],
        "columns": [
            {"name": "tenant", "type": "string", "nullable": False},
            {"name": "id", "type": "string", "nullable": False},
            {"name": "ts", "type": "timestamp", "nullable": False},
            {"name": "body", "type": "string"},
            {"name": "tags", "type": "string[]"},
            {"name": "scores", "type": "map<string,float>"},
        ],
    }
)
ACCOUNTS = Dataset.model_validate(
    {
        "name": "accounts",
        "tenant_columns": ["tenant"],
        "time_column": "opened",
        "key_columns": ["tenant", "id"],
        "mode": "upsert",
        "columns": [
            {"name": "tenant", "type": "string", "nullable": False},
            {"name": "id", "type": "int", "nullable": False},
            {"name": "opened", "type": "date", "nullable": False},
            {"name": "plan", "type": "string", "nullable": False},
            {"name": "seats", "type": "int"},
        ],
    }
)
SLOW = {
    "duckdb": "SELECT count(DISTINCT (a * 7919) % 1000003) FROM range(2000000000) t(a)",
    "clickhouse": "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 1",
    "postgres": "SELECT pg_sleep(5)",
}


def _batch(dataset: Dataset, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=arrow_schema(dataset))


def _note(i: int, body: str = "first", **extra: Any) -> dict[str, Any]:
    row = {"tenant": "t1", "id": f"n{i}", "ts": datetime(2026, 3, 29, 1, tzinfo=UTC), "body": body}
    row["tags"], row["scores"] = ["a"], [("x", float(i))]
    return {**row, **extra}


@pytest.fixture(params=ENGINE_PARAMS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Dialect]]:
    with engine_with_tables(request.param, tmp_path, (NOTES, ACCOUNTS)) as opened:
        yield opened


def _rows(opened: Engine, sql: str) -> list[tuple]:
    return opened.execute(sql, {}, 30)[1]


def test_the_same_batch_twice_is_stored_once(engine: tuple[Engine, Dialect]) -> None:
    opened, _ = engine
    batch = _batch(NOTES, [_note(i) for i in range(5)])
    assert opened.write(table_spec(NOTES), batch) == WriteOutcome(5, 0, 0)
    assert opened.write(table_spec(NOTES), batch) == WriteOutcome(0, 5, 0)
    assert _rows(opened, 'SELECT count(*) FROM "notes"') == [(5,)]


def test_a_key_repeated_in_a_batch_keeps_its_first_row(engine: tuple[Engine, Dialect]) -> None:
    opened, _ = engine
    opened.write(table_spec(NOTES), _batch(NOTES, [_note(0)]))
    rows = [_note(1, "kept"), _note(0, "stored before"), _note(1, "dropped"), _note(2, "new")]
    assert opened.write(table_spec(NOTES), _batch(NOTES, rows)) == WriteOutcome(2, 2, 0)
    stored = _rows(opened, 'SELECT "id", "body" FROM "notes" ORDER BY "id"')
    assert stored == [("n0", "first"), ("n1", "kept"), ("n2", "new")]


def test_upsert_replaces_stored_keys_and_adds_new_ones(engine: tuple[Engine, Dialect]) -> None:
    """A stored key is replaced; a key repeated in the batch takes its last row."""
    opened, _ = engine
    spec = table_spec(ACCOUNTS)
    first = [
        {"tenant": t, "id": i, "opened": date(2026, 3, 1), "plan": "free", "seats": i}
        for t in ("t1", "t2")
        for i in range(3)
    ]
    assert opened.write(spec, _batch(ACCOUNTS, first)) == WriteOutcome(6, 0, 0)
    changed = [
        {"tenant": "t1", "id": 1, "opened": date(2026, 3, 2), "plan": "pro", "seats": None},
        {"tenant": "t2", "id": 1, "opened": date(2026, 3, 2), "plan": "team", "seats": 40},
        {"tenant": "t2", "id": 1, "opened": date(2026, 3, 3), "plan": "latest", "seats": 0},
        {"tenant": "t2", "id": 9, "opened": date(2026, 3, 4), "plan": "free", "seats": 1},
    ]
    assert opened.write(spec, _batch(ACCOUNTS, changed)) == WriteOutcome(1, 1, 2)
    stored = _rows(
        opened,
        'SELECT "tenant", "id", "plan", "seats" FROM "accounts" ORDER BY "tenant", "id"',
    )
    assert stored == [
        ("t1", 0, "free", 0),
        ("t1", 1, "pro", None),
        ("t1", 2, "free", 2),
        ("t2", 0, "free", 0),
        ("t2", 1, "latest", 0),
        ("t2", 2, "free", 2),
        ("t2", 9, "free", 1),
    ]


def test_null_and_empty_arrays_and_maps_stay_apart(engine: tuple[Engine, Dialect]) -> None:
    """A null map is not an empty one (ClickHouse stores such columns as Variant)."""
    opened, dialect = engine
    rows = [
        _note(0, tags=None, scores=None),
        _note(1, tags=[], scores=[]),
        _note(2, tags=["a", "b"], scores=[("x", 1.5), ("y", -2.0)]),
    ]
    assert opened.write(table_spec(NOTES), _batch(NOTES, rows)).accepted == 3
    nulls = _rows(
        opened,
        'SELECT "id", "tags" IS NULL, "scores" IS NULL FROM "notes" ORDER BY "id"',
    )
    assert [(i, bool(a), bool(m)) for i, a, m in nulls] == [
        ("n0", True, True),
        ("n1", False, False),
        ("n2", False, False),
    ]


def test_a_slow_query_is_stopped_with_a_503(engine: tuple[Engine, Dialect]) -> None:
    opened, dialect = engine
    with pytest.raises(TallyError) as caught:
        opened.execute(SLOW[dialect.name], {}, timeout_s=0.5)
    assert caught.value.status == 503
    assert caught.value.retry_after == 1
    assert "took longer than 0.5 s" in caught.value.message
    assert _rows(opened, "SELECT 41 + 1") == [(42,)]


def test_a_driver_error_is_a_500_without_sql(engine: tuple[Engine, Dialect]) -> None:
    opened, _ = engine
    with pytest.raises(TallyError) as caught:
        opened.execute('SELECT "no_such_column" FROM "notes"', {}, 10)
    assert (caught.value.status, caught.value.code) == (500, "engine_error")
    assert "no_such_column" not in caught.value.message


def test_compaction_keeps_every_row(engine: tuple[Engine, Dialect]) -> None:
    opened, _ = engine
    spec = table_spec(NOTES)
    for n, tenant in enumerate(("t2", "t1", "t2")):
        rows = [{**_note(i), "tenant": tenant, "id": f"{tenant}-{n}-{i}"} for i in range(3)]
        opened.write(spec, _batch(NOTES, rows))
    before = sorted(_rows(opened, 'SELECT "tenant", "id", "body" FROM "notes"'))
    assert len(before) == 9
    assert opened.compact(spec) == 9
    assert sorted(_rows(opened, 'SELECT "tenant", "id", "body" FROM "notes"')) == before


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("chdb:///var/lib/tally/ch?database=prod", ("chdb", "/var/lib/tally/ch", "prod")),
        ("chdb://data/ch", ("chdb", "data/ch", "default")),
        ("http://u:p@ch.internal:8123/?database=tally", ("server", None, "tally")),
        ("https://ch.internal:8443/analytics", ("server", None, "analytics")),
    ],
)
def test_clickhouse_urls(url: str, expected: tuple[str, str | None, str]) -> None:
    kind, location, database = parse_url(url)
    assert (kind, database) == (expected[0], expected[2])
    assert location == (expected[1] or url)


def test_an_unreachable_clickhouse_server_is_a_503_without_credentials() -> None:
    with pytest.raises(TallyError) as caught:
        ClickHouseEngine("http://tally:s3cret@127.0.0.1:9/?database=x")
    assert caught.value.status == 503
    assert "127.0.0.1:9" in caught.value.message
    assert "s3cret" not in caught.value.message
    with pytest.raises(ValueError, match="must start with"):
        parse_url("clickhouse://host")
