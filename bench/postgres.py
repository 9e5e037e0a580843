"""The PostgreSQL baseline: the same rows in an indexed table, queried with hand-written SQL.

The seeds' own products run these aggregations on PostgreSQL (with a Redis cache); this is the
figure a user would compare Tally against. The table is reused across runs when it already holds
the same rows.
"""

from __future__ import annotations

import io

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
DROP TABLE IF EXISTS {schema}.bench_events;
CREATE TABLE {schema}.bench_events (
  tenant_id text NOT NULL, event_id text NOT NULL, event_type text NOT NULL,
  ts timestamptz NOT NULL, session_id text, customer_id text, agent_name text, product_id text,
  amount double precision, price double precision, duration_ms double precision,
  rating double precision, tags text[], metadata jsonb
);
"""
INDEXES = """
CREATE INDEX ON {schema}.bench_events (tenant_id, ts);
CREATE INDEX ON {schema}.bench_events (ts);
CREATE UNIQUE INDEX ON {schema}.bench_events (tenant_id, event_id);
ANALYZE {schema}.bench_events;
"""


def schema(rows: int) -> str:
    """One schema per table size, so a smoke run (20k rows) leaves the 10M-row table alone."""
    return f"tally_bench_{rows}"


def connect(url: str, rows: int) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute(f"SET search_path TO {schema(rows)}, public")
    return conn


def _as_csv(table: pa.Table) -> bytes:
    tags = pc.binary_join_element_wise(
        "{", pc.fill_null(pc.binary_join(table.column("tags"), ","), ""), "}", ""
    )
    flat = table.set_column(table.schema.get_field_index("tags"), "tags", tags)
    buffer = io.BytesIO()
    pacsv.write_csv(flat, buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


def load(url: str, table: pa.Table) -> bool:
    """Load unless the table already holds exactly these rows; True when it loaded."""
    name = schema(table.num_rows)
    with psycopg.connect(url, autocommit=True) as conn:
        present = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"{name}.bench_events",)
        ).fetchone()[0]
        if present:
            stored = conn.execute(f"SELECT count(*) FROM {name}.bench_events").fetchone()[0]
            if stored == table.num_rows:
                return False
        conn.execute(DDL.format(schema=name))
        data = _as_csv(table)
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY {name}.bench_events FROM STDIN WITH (FORMAT csv)") as copy:
                for start in range(0, len(data), 1 << 20):
                    copy.write(data[start : start + (1 << 20)])
        conn.execute(INDEXES.format(schema=name))
        conn.execute(f"VACUUM ANALYZE {name}.bench_events")
        try:  # write the loaded pages now, not while the baseline queries are timed
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass
    return True
