"""Sources made by the tests themselves (never by Tally), one per kind, with the same columns,
and the `tally` command run as a user runs it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.engines_support import PG_URL, require_postgres

TENANTS = ("acme", "globex")


def tally(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    return subprocess.run(
        [sys.executable, "-m", "tally.cli", *args],
        env={**clean, "COLUMNS": "200", "TALLY_DATA_DIR": str(cwd / "data"), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def rows(n: int = 40) -> list[dict]:
    """Orders of two tenants; amounts in cents so sums can be checked exactly."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    return [
        {
            "TenantId": TENANTS[i % 2],
            "id": i,
            "created_at": start + timedelta(hours=7 * i),
            "amount": Decimal(i * 137 % 10_000) / 100,
            "qty": i % 5,
            "ratio": i / 8,
            "paid": i % 3 == 0,
            "day": date(2026, 1, 1) + timedelta(days=i % 20),
            "tags": ["a", "b"][: i % 3],
            "payload": f'{{"channel": "{["web", "store"][i % 2]}", "n": {i}}}',
            "status": ["new", "paid", "sent"][i % 3],
        }
        for i in range(n)
    ]


@contextmanager
def postgres_orders() -> Iterator[str]:
    """A table `<schema>.orders` in a schema of its own; yields the schema."""
    import psycopg
    from psycopg import sql

    require_postgres()
    schema = f"infer_{uuid.uuid4().hex[:10]}"
    names = {"s": sql.Identifier(schema)}
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {s}").format(**names))
        status = sql.SQL("CREATE TYPE {s}.status AS ENUM ('new', 'paid', 'sent')")
        conn.execute(status.format(**names))
        conn.execute(
            sql.SQL(
                """CREATE TABLE {s}.orders (
                "TenantId" text NOT NULL, id bigint, created_at timestamptz NOT NULL,
                amount numeric(12, 2), huge numeric(30, 12), qty integer,
                ratio double precision, paid boolean, day date, tags text[], payload jsonb,
                status {s}.status, spot point, PRIMARY KEY ("TenantId", id))"""
            ).format(**names)
        )
        insert = sql.SQL(
            'INSERT INTO {s}.orders ("TenantId", id, created_at, amount, qty, ratio, paid, day, '
            "tags, payload, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(**names)
        with conn.cursor() as cur:
            cur.executemany(insert, [tuple(r.values()) for r in rows()])
    try:
        yield schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {s} CASCADE").format(**names))


def _arrow(data: list[dict], tenant: bool) -> pa.Table:
    """The rows as Parquet holds them; without the tenant when a partition folder names it."""
    schema = pa.schema(
        [
            *([("TenantId", pa.string())] if tenant else []),
            ("id", pa.int64()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("amount", pa.decimal128(12, 2)),
            ("qty", pa.int32()),
            ("ratio", pa.float64()),
            ("paid", pa.bool_()),
            ("day", pa.date32()),
            ("tags", pa.list_(pa.string())),
            ("payload", pa.string()),
            ("Order Status", pa.string()),
        ]
    )
    picked = [
        {**{k: r[k] for k in schema.names if k in r}, "Order Status": r["status"]} for r in data
    ]
    return pa.Table.from_pylist(picked, schema=schema)


def parquet_orders(root: Path) -> Path:
    """`root/TenantId=<t>/part.parquet` per tenant (hive partitions); yields the folder."""
    folder = root / "orders"
    for tenant in TENANTS:
        part = folder / f"TenantId={tenant}"
        part.mkdir(parents=True)
        mine = [r for r in rows() if r["TenantId"] == tenant]
        pq.write_table(_arrow(mine, tenant=False), part / "p.parquet")
    return folder


def csv_orders(root: Path) -> Path:
    """One `;`-delimited CSV file with a header."""
    path = root / "orders.csv"
    names = ["TenantId", "id", "created_at", "amount", "qty", "paid", "day", "payload"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(names)
        for r in rows():
            writer.writerow([str(r[n]).lower() if n == "paid" else r[n] for n in names])
    return path


def duckdb_orders(root: Path) -> Path:
    path = root / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA sales")
    con.register("incoming", _arrow(rows(), tenant=True))
    con.execute(
        'CREATE TABLE sales.orders ("TenantId" VARCHAR NOT NULL, id BIGINT PRIMARY KEY, '
        "created_at TIMESTAMPTZ, amount DECIMAL(12,2), qty INTEGER, ratio DOUBLE, paid BOOLEAN, "
        "day DATE, tags VARCHAR[], payload JSON, \"Order Status\" ENUM('new', 'paid', 'sent'))"
    )
    con.execute("INSERT INTO sales.orders SELECT * FROM incoming")
    con.close()
    return path


def chdb_orders(root: Path) -> Path:
    """A chDB directory with `shop.orders`, written by a process of its own (chDB keeps one
    directory per process, and the test process may hold another)."""
    path = root / "chdb"
    script = textwrap.dedent(
        f"""
        import chdb
        conn = chdb.connect({str(path)!r})
        conn.query("CREATE DATABASE shop")
        conn.query(
            "CREATE TABLE shop.orders (TenantId LowCardinality(String), id UInt32, "
            "created_at DateTime64(3, 'UTC'), amount Decimal(12, 2), qty Nullable(Int32), "
            "ratio Float64, paid Bool, day Date, tags Array(String), payload String, "
            "status Enum8('new' = 1, 'paid' = 2, 'sent' = 3)) "
            "ENGINE = MergeTree ORDER BY (TenantId, created_at)"
        )
        conn.query(
            "INSERT INTO shop.orders SELECT if(number % 2 = 0, 'acme', 'globex'), number, "
            "toDateTime64('2026-01-05 00:00:00', 3, 'UTC') + number * 25200, "
            "CAST(number * 137 % 10000 AS Decimal(12, 2)) / 100, number % 5, number / 8, "
            "number % 3 = 0, toDate('2026-01-01') + number % 20, "
            "arraySlice(['a', 'b'], 1, number % 3), "
            "concat('{{\\"n\\": ', toString(number), '}}'), "
            "CAST((number % 3) + 1 AS Enum8('new' = 1, 'paid' = 2, 'sent' = 3)) "
            "FROM numbers(40)"
        )
        conn.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    return path
