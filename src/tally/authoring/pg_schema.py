"""A PostgreSQL table's columns, read from information_schema in a read-only transaction."""

from __future__ import annotations

import psycopg

from tally.authoring import typemap
from tally.authoring.described import SourceColumn, SourceError
from tally.catalog.sources import PostgresSource, expand

CONNECT_TIMEOUT_S = 10
# The labels of an enum type, and the position of each column in the primary key.
COLUMNS = """
SELECT c.column_name, c.data_type, c.udt_name, c.is_nullable = 'YES',
       c.numeric_precision, c.numeric_scale,
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
          FROM pg_type t
          JOIN pg_namespace n ON n.oid = t.typnamespace
          JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typname = c.udt_name AND n.nspname = c.udt_schema),
       (SELECT array_position(i.indkey::int2[], a.attnum)
          FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = c.column_name
         WHERE i.indisprimary
           AND i.indrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass)
  FROM information_schema.columns c
 WHERE c.table_schema = COALESCE(%s, current_schema()) AND c.table_name = %s
 ORDER BY c.ordinal_position
"""


def describe(spec: PostgresSource) -> list[SourceColumn]:
    schema, _, table = spec.table.rpartition(".")
    try:
        with psycopg.connect(expand(spec.url), connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.read_only = True
            rows = conn.execute(COLUMNS, (schema or None, table)).fetchall()
    except psycopg.Error as exc:
        raise SourceError(f"cannot read PostgreSQL: {_reason(exc)}") from None
    if not rows:
        raise SourceError(f"PostgreSQL has no table {spec.table} (or this user cannot see it)")
    return [
        SourceColumn(
            name=name,
            native=udt_name if data_type in ("ARRAY", "USER-DEFINED") else data_type,
            mapped=typemap.postgres(
                data_type, udt_name, precision, scale, tuple(labels) if labels else None
            ),
            nullable=nullable,
            key_position=key,
        )
        for name, data_type, udt_name, nullable, precision, scale, labels, key in rows
    ]


def _reason(exc: psycopg.Error) -> str:
    """The server's or libpq's first line; libpq never repeats the password."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
