"""Rows, dataset files and questions shared by the tests of datasets served in place.

The same rows go into every source a test builds itself (a PostgreSQL table, a hive-partitioned
Parquet folder, a DuckDB file, a chDB table) and into an owned dataset; every question is asked
through Tally's native API and answered independently by plain SQL over the same rows, on the
source's own database.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pytest
import yaml
from fastapi.testclient import TestClient
from psycopg import sql

from tests.engines_support import PG_URL

TENANTS = ("t_north", "t_south", "t_east")
KINDS = ("view", "cart", "purchase")
COUNTRIES = ("fr", "de", "it", "es")
BASE = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW = {"start": "2026-01-01T00:00:00+00:00", "end": "2026-02-01T00:00:00+00:00"}


def make_rows(count: int = 600, seed: int = 19) -> list[dict[str, Any]]:
    """Source rows: `tenant`, `amount_cents` and a JSON `payload` are the source's own names."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        rows.append(
            {
                "tenant": TENANTS[i % 3],
                "id": i + 1,
                "created_at": BASE + timedelta(minutes=17 * i + rng.randrange(17)),
                "kind": rng.choice(KINDS),
                "amount_cents": None if i % 23 == 0 else rng.randrange(0, 5000),
                "user_id": f"u{rng.randrange(40)}",
                "payload": json.dumps(
                    {"plan": rng.choice(["free", "pro"]), "geo": {"country": rng.choice(COUNTRIES)}}
                ),
            }
        )
    return rows


def owned_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows as an owned dataset stores them (exposed names, JSON paths flattened)."""
    out = []
    for row in rows:
        payload = json.loads(row["payload"])
        out.append(
            {
                "tenant_id": row["tenant"],
                "id": row["id"],
                "created_at": row["created_at"].isoformat(),
                "kind": row["kind"],
                "amount": row["amount_cents"],
                "user_id": row["user_id"],
                "plan": payload["plan"],
                "country": payload["geo"]["country"],
            }
        )
    return out


EXPOSED = [
    {"name": "tenant_id", "type": "string", "from": "tenant", "nullable": False},
    {"name": "id", "type": "int", "nullable": False},
    {"name": "created_at", "type": "timestamp", "nullable": False},
    {"name": "kind", "type": "string"},
    {"name": "amount", "type": "int", "from": "amount_cents"},
    {"name": "user_id", "type": "string"},
    {"name": "plan", "type": "string", "from": "payload:plan"},
    {"name": "country", "type": "string", "from": "payload:geo.country"},
]


def dataset_file(folder: Path, name: str, source: dict[str, Any] | None, **more: Any) -> Path:
    """A user dataset file (YAML) over the shared columns; `source` None: an owned dataset."""
    columns = [{k: v for k, v in c.items() if k != "from" or source is not None} for c in EXPOSED]
    body: dict[str, Any] = {
        "name": name,
        "tenant_columns": ["tenant_id"],
        "time_column": "created_at",
        "key_columns": ["id"],
        "columns": columns,
        **more,
    }
    if source is not None:
        body["source"] = source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Question:
    """A native question and the same question in SQL over the source (`{rel}`: the rows,
    `{country}`: the country inside the payload, spelled for that database)."""

    name: str
    group_by: Sequence[Any]
    measures: Sequence[dict[str, Any]]
    sql: str
    filter: dict[str, Any] | None = None

    def body(self, dataset: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "dataset": dataset,
            "time": WINDOW,
            "group_by": list(self.group_by),
            "measures": list(self.measures),
            "limit": 1000,
        }
        if self.filter is not None:
            body["filter"] = self.filter
        return body


QUESTIONS = [
    Question(
        "totals",
        [],
        [
            {"op": "count", "as": "n"},
            {"op": "sum", "field": "amount", "as": "total"},
            {"op": "avg", "field": "amount", "as": "mean"},
            {"op": "count_distinct", "field": "user_id", "as": "users"},
            {"op": "max", "field": "created_at", "as": "newest"},
        ],
        "SELECT count(*), sum(amount_cents), avg(amount_cents), count(DISTINCT user_id), "
        "max(created_at) FROM {rel}",
    ),
    Question(
        "per_kind",
        ["kind"],
        [{"op": "count", "as": "n"}, {"op": "sum", "field": "amount", "as": "total"}],
        "SELECT kind, count(*), sum(amount_cents) FROM {rel} GROUP BY kind",
    ),
    Question(
        "per_tenant_and_country",
        ["tenant_id", "country"],
        [{"op": "count", "as": "n"}],
        "SELECT tenant, {country}, count(*) FROM {rel} GROUP BY 1, 2",
    ),
    Question(
        "per_day",
        [{"time": "1 day"}],
        [{"op": "count", "as": "n"}, {"op": "min", "field": "amount", "as": "least"}],
        "SELECT date_trunc('day', created_at), count(*), min(amount_cents) FROM {rel} GROUP BY 1",
    ),
    Question(
        "filtered",
        ["kind"],
        [{"op": "count", "as": "n"}, {"op": "avg", "field": "amount", "as": "mean"}],
        "SELECT kind, count(*), avg(amount_cents) FROM {rel} "
        "WHERE kind <> 'view' AND amount_cents >= 1000 AND {plan} = 'pro' GROUP BY kind",
        filter={
            "and": [
                {"field": "kind", "op": "neq", "value": "view"},
                {"field": "amount", "op": "gte", "value": 1000},
                {"field": "plan", "op": "eq", "value": "pro"},
            ]
        },
    ),
]


def _plain(value: Any, expected: bool = False) -> Any:
    """A value comparable across engines: times as UTC datetimes, whole numbers as ints, and
    (on the expected side) other numbers as approximations within 1e-9."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            return value
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return pytest.approx(float(value), rel=1e-9) if expected else float(value)


def answer_rows(
    client: TestClient, headers: dict[str, str], dataset: str, q: Question
) -> list[tuple]:
    """Tally's answer as tuples (groups, then measures)."""
    response = client.post("/v1/query", json=q.body(dataset), headers=headers)
    assert response.status_code == 200, response.text
    keys = ["time" if isinstance(g, dict) else g for g in q.group_by]
    keys += [m["as"] for m in q.measures]
    return [tuple(_plain(row[k]) for k in keys) for row in response.json()["rows"]]


def sql_rows(run: Callable[[str], list[tuple]], q: Question, spelled: dict[str, str]) -> list:
    """The same question in plain SQL on the source's own database."""
    return [tuple(_plain(v, expected=True) for v in row) for row in run(q.sql.format(**spelled))]


def same_rows(got: list[tuple], want: list[tuple], groups: int) -> None:
    """Equal row for row once both are ordered by their group values."""
    assert len(got) == len(want), (got, want)
    order = lambda row: tuple(str(v) for v in row[:groups])  # noqa: E731
    for left, right in zip(sorted(got, key=order), sorted(want, key=order), strict=True):
        assert left == right, (left, right)


def insert_pg_rows(schema: str, rows: list[dict[str, Any]]) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn, conn.cursor() as cursor:
        insert = sql.SQL(
            "INSERT INTO {}.events VALUES (%(tenant)s, %(id)s, %(created_at)s, "
            "%(kind)s, %(amount_cents)s, %(user_id)s, %(payload)s)"
        ).format(sql.Identifier(schema))
        cursor.executemany(insert, rows)


def create_pg_table(schema: str, rows: list[dict[str, Any]]) -> None:
    """`schema.events` with the source's own column names, filled with `rows`."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.events (tenant TEXT NOT NULL, id BIGINT PRIMARY KEY, "
                "created_at TIMESTAMPTZ NOT NULL, kind TEXT, amount_cents BIGINT, "
                "user_id TEXT, payload JSONB)"
            ).format(sql.Identifier(schema))
        )
    insert_pg_rows(schema, rows)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A schema name no other test uses, dropped afterwards."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def pg_runner(schema: str) -> Callable[[str], list[tuple]]:
    """Plain SQL on the source database; `{rel}` names the source table."""

    def run(text: str) -> list[tuple]:
        with psycopg.connect(PG_URL) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            return conn.execute(text.replace("{rel}", f'"{schema}".events')).fetchall()

    return run


def arrow_rows(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("tenant", pa.string()),
                ("id", pa.int64()),
                ("created_at", pa.timestamp("us", tz="UTC")),
                ("kind", pa.string()),
                ("amount_cents", pa.int64()),
                ("user_id", pa.string()),
                ("payload", pa.string()),
            ]
        ),
    )


def write_parquet_folder(folder: Path, rows: list[dict[str, Any]]) -> str:
    """tenant=<t>/data_0.parquet per tenant; returns the glob to read."""
    batch = arrow_rows(rows)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as conn:
        conn.register("batch", batch)
        conn.execute(f"COPY batch TO '{folder}' (FORMAT parquet, PARTITION_BY (tenant))")
    return f"{folder}/**/*.parquet"


# A decimal over the integer cents of the shared rows (the issue's own example).
MONEY = [
    {"name": "tenant_id", "type": "string", "from": "tenant", "nullable": False},
    {"name": "id", "type": "int", "nullable": False},
    {"name": "created_at", "type": "timestamp", "nullable": False},
    {"name": "kind", "type": "string"},
    {"name": "amount", "type": "decimal", "from": "amount_cents", "scale": 2},
]
OVER = Decimal("10.50")


def exact_totals(
    client_of: Any, dataset: str, over: Decimal | None = None
) -> dict[str, tuple[Decimal, int]]:
    """Total amount and row count per kind (of rows above `over`), as the JSON spells them,
    read without a float in between."""
    body: dict[str, Any] = {
        "dataset": dataset,
        "time": WINDOW,
        "group_by": ["kind"],
        "measures": [{"op": "sum", "field": "amount", "as": "total"}, {"op": "count", "as": "n"}],
    }
    if over is not None:
        body["filter"] = {"field": "amount", "op": "gt", "value": str(over)}
    response = client_of.client.post("/v1/query", json=body, headers=client_of.admin)
    assert response.status_code == 200, response.text
    rows = json.loads(response.text, parse_float=Decimal)["rows"]
    return {r["kind"]: (Decimal(str(r["total"])), r["n"]) for r in rows}


def expected_totals(
    rows: list[dict[str, Any]], over: Decimal | None = None
) -> dict[str, tuple[Decimal, int]]:
    """The same in Python: Decimal(sum of cents) / 100 per kind."""
    out: dict[str, tuple[Decimal, int]] = {}
    for kind in {r["kind"] for r in rows}:
        mine = [
            r["amount_cents"]
            for r in rows
            if r["kind"] == kind
            and (over is None or (r["amount_cents"] is not None and r["amount_cents"] > over * 100))
        ]
        if mine:
            out[kind] = (Decimal(sum(c for c in mine if c is not None)) / 100, len(mine))
    return out
