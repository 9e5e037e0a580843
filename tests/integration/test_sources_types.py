"""Source column types, read from the source's catalog at start-up: a declared type that
cannot read its source column is refused there (as `check --connect` refuses it); JSON kept as
PostgreSQL text is read through a cast; a decimal over integer minor units is exact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from tally.config import ConfigError
from tests.engines_support import PG_URL
from tests.helpers import live_app
from tests.integration.sources_support import (
    BASE,
    MONEY,
    OVER,
    WINDOW,
    arrow_rows,
    create_pg_table,
    dataset_file,
    exact_totals,
    expected_totals,
    make_rows,
    pg_runner,
    pg_schema,
    write_parquet_folder,
)


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


def _write(folder: Path, name: str, source: dict[str, Any], columns: list[dict]) -> Path:
    body = {
        "name": name,
        "tenant_columns": ["tenant_id"],
        "time_column": "created_at",
        "key_columns": ["id"],
        "source": source,
        "columns": [
            {"name": "tenant_id", "type": "string", "from": "tenant", "nullable": False},
            {"name": "id", "type": "int", "nullable": False},
            {"name": "created_at", "type": "timestamp", "nullable": False},
            *columns,
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def _pg(schema: str, statement: str, rows: list[tuple] = ()) -> None:
    """`statement` with `{t}` the test's table, then `rows` inserted into it."""
    table = sql.Identifier(schema, "events")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL(statement).format(t=table))
        if rows:
            marks = sql.SQL(", ").join(sql.Placeholder() * len(rows[0]))
            insert = sql.SQL("INSERT INTO {} VALUES ({})").format(table, marks)
            conn.cursor().executemany(insert, rows)


def _query(live, body: dict[str, Any]) -> dict[str, Any]:
    response = live.client.post("/v1/query", json={"time": WINDOW, **body}, headers=live.admin)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_type_that_cannot_read_its_source_column_is_refused_at_start_up(
    tmp_path: Path, schema: str
) -> None:
    _pg(
        schema,
        "CREATE TABLE {t} (tenant TEXT, id BIGINT, created_at TIMESTAMPTZ, status TEXT, f REAL)",
    )
    source = {"postgres": {"url": PG_URL, "table": f"{schema}.events"}}
    path = _write(
        tmp_path / "datasets", schema, source, [{"name": "st", "type": "int", "from": "status"}]
    )
    with pytest.raises(ConfigError) as failed, live_app(tmp_path, profiles="none"):
        pass
    said = str(failed.value)
    assert f"{path}: columns[3].type" in said and "'status' is text (string), not int" in said

    money = [{"name": "amount", "type": "decimal", "from": "f", "scale": 2}]
    _write(tmp_path / "datasets", schema, source, money)
    with pytest.raises(ConfigError) as floats, live_app(tmp_path, profiles="none"):
        pass
    assert "columns[3].type" in str(floats.value) and "real" in str(floats.value)


def test_json_kept_as_postgres_text_is_read_through_a_cast(tmp_path: Path, schema: str) -> None:
    plans = ["free", "pro", "pro", None, "team"]
    rows = [
        (
            "t1",
            i,
            BASE + timedelta(hours=i),
            json.dumps({"plan": p, "n": i}),
            json.dumps({"plan": p}),
        )
        for i, p in enumerate(plans)
    ]
    _pg(
        schema,
        "CREATE TABLE {t} (tenant TEXT, id BIGINT, created_at TIMESTAMPTZ, "
        "ptxt TEXT, pvar VARCHAR)",
        rows,
    )
    source = {"postgres": {"url": PG_URL, "table": f"{schema}.events"}}
    columns = [
        {"name": "plan", "type": "string", "from": "ptxt:plan"},
        {"name": "vplan", "type": "string", "from": "pvar:plan"},
        {"name": "n", "type": "int", "from": "ptxt:n"},
        {"name": "raw", "type": "json", "from": "ptxt"},
    ]
    _write(tmp_path / "datasets", schema, source, columns)
    with live_app(tmp_path, profiles="none") as live:
        got = _query(
            live,
            {
                "dataset": schema,
                "group_by": ["plan", "vplan"],
                "measures": [{"op": "count", "as": "c"}, {"op": "sum", "field": "n", "as": "s"}],
            },
        )
    want = pg_runner(schema)(
        "SELECT ptxt::jsonb ->> 'plan', pvar::jsonb ->> 'plan', count(*), "
        "sum((ptxt::jsonb ->> 'n')::int) FROM {rel} GROUP BY 1, 2"
    )
    assert sorted(
        (r["plan"] or "", r["vplan"] or "", r["c"], r["s"]) for r in got["rows"]
    ) == sorted((p or "", v or "", c, s) for p, v, c, s in want)


def test_a_decimal_over_integer_cents_is_exact_on_postgres_and_parquet(
    tmp_path: Path, schema: str
) -> None:
    rows = make_rows(400)
    create_pg_table(schema, rows)
    pg = {"postgres": {"url": PG_URL, "table": f"{schema}.events"}}
    dataset_file(tmp_path / "datasets", "pg_money", pg, columns=MONEY)
    glob = write_parquet_folder(tmp_path / "files" / "events", rows)
    files = {"parquet": {"path": glob, "hive_partitioning": True}}
    dataset_file(tmp_path / "datasets", "pq_money", files, columns=MONEY)
    with live_app(tmp_path, profiles="none") as live:
        for dataset in ("pg_money", "pq_money"):
            assert exact_totals(live, dataset) == expected_totals(rows), dataset
            assert exact_totals(live, dataset, OVER) == expected_totals(rows, OVER), dataset
    assert arrow_rows(rows).schema.field("amount_cents").type == "int64"
