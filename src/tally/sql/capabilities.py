"""What each engine can answer, read off its dialect rather than written down beside it.

Every dialect operation is called once with stand-in arguments: one that returns an expression is
supported, one that raises `Unsupported` is not (with the reason the compiler would give). The
table cannot drift from the code because it is the code; `GET /v1/capabilities` serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp

from tally.query.timebuckets import parse_interval
from tally.sql.clickhouse import ClickHouseDialect
from tally.sql.dialect import Dialect, Unsupported
from tally.sql.duckdb import DuckDBDialect
from tally.sql.postgres import PostgresDialect

DIALECTS: dict[str, type[Dialect]] = {
    "duckdb": DuckDBDialect,
    "clickhouse": ClickHouseDialect,
    "postgres": PostgresDialect,
}
ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)
NOTES: dict[str, dict[str, str]] = {
    "duckdb": {
        "percentile approx": "T-Digest (approx_quantile)",
        "count_distinct approx": "HyperLogLog (approx_count_distinct)",
    },
    "clickhouse": {
        "percentile approx": "T-Digest (quantileTDigest)",
        "count_distinct approx": "adaptive sketch (uniq)",
        "idempotency": "checked before each insert; one writer per tenant at a time",
    },
    "postgres": {
        "percentile approx": "exact (no approximate percentile in PostgreSQL)",
        "count_distinct approx": "exact (no built-in sketch in PostgreSQL)",
    },
}


def _probes() -> dict[str, Callable[[Dialect], Any]]:
    """One call per operation (and per bucket kind) with stand-in column expressions."""
    col, val = exp.column("c"), exp.Placeholder(this="p0")
    probes: dict[str, Callable[[Dialect], Any]] = {
        "json keys": lambda d: d.json_text(col, "key"),
        "map keys": lambda d: d.map_value(col, "key"),
        "json numbers": lambda d: d.to_double(col),
        "date time columns": lambda d: d.date_to_instant(col, "Europe/Paris"),
        "percentile": lambda d: d.percentile(col, 0.5, False),
        "percentile approx": lambda d: d.percentile(col, 0.5, True),
        "count_distinct": lambda d: d.count_distinct(col, False),
        "count_distinct approx": lambda d: d.count_distinct(col, True),
        "contains": lambda d: d.contains(col, val),
        "starts_with": lambda d: d.starts_with(col, val),
        "ends_with": lambda d: d.ends_with(col, val),
        "regex": lambda d: d.regex(col, val, False),
        "has_any / has_none": lambda d: d.has_any(col, val),
        "has_all": lambda d: d.has_all(col, val),
        "array fan-out": lambda d: d.fan_out(col),
        "map fan-out": lambda d: d.fan_out_map(col),
        "array size": lambda d: d.size(col, False),
        "map size": lambda d: d.size(col, True),
        "derived ref_object_id": lambda d: d.derived("ref_object_id", col, None),
        "derived path_segment": lambda d: d.derived("path_segment", col, -2),
        "measure filter": lambda d: d.filtered(exp.Count(this=exp.Star()), col),
        "top + other": lambda d: d.null_safe_equal(col, col),
    }
    for interval in ("15 minutes", "1 hour", "1 day", "2 days", "1 week", "1 month", "3 months"):
        iv = parse_interval(interval)
        probes[f"bucket {interval}"] = lambda d, iv=iv: d.bucket_ms(col, iv, "Europe/Paris", None)
        probes[f"bucket {interval} with origin"] = lambda d, iv=iv: d.bucket_ms(
            col, iv, "Europe/Paris", ORIGIN
        )
    return probes


def capability_table(dialect: Dialect) -> dict[str, Any]:
    """{operation: true | "why not"} plus notes on what `approx` means on this engine."""
    operations: dict[str, bool | str] = {}
    for name, probe in _probes().items():
        try:
            probe(dialect)
            operations[name] = True
        except Unsupported as missing:
            operations[name] = missing.message
    return {"operations": operations, "notes": NOTES.get(dialect.name, {})}


def all_capabilities() -> dict[str, dict[str, Any]]:
    return {name: capability_table(cls()) for name, cls in DIALECTS.items()}
