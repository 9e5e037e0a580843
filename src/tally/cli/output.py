"""Rows for people and for scripts: a table whose numbers are right-aligned and readable and
whose long values wrap rather than being cut, or the exact values as JSON or CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import orjson
from rich.table import Table


def number(value: int | float) -> str:
    """`1,440.22` for `1440.21999999999`: thousands grouped, two decimals, more below 0.01 (so
    a small value never shows as 0.00); the exact value is in --json and --csv."""
    if isinstance(value, bool) or isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:,.2f}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _numeric(rows: list[dict], column: str) -> bool:
    values = [row.get(column) for row in rows if row.get(column) is not None]
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


def columns_of(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def table(rows: list[dict]) -> Table:
    shown = Table(show_lines=False)
    columns = columns_of(rows)
    for column in columns:
        right = _numeric(rows, column)
        shown.add_column(column, justify="right" if right else "left", overflow="fold")
    for row in rows:
        shown.add_row(*[_cell(row.get(c)) for c in columns])
    return shown


def as_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns_of(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return out.getvalue()


def _csv_value(value: Any) -> Any:
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else value


def answer_facts(meta: dict) -> str:
    """`compile 0.4 ms, execute 12.1 ms, cache hit, served from daily, approximate: p99_latency
    (kll)` from the answer's meta: a table has no other place to say where its values came
    from and which are estimates."""
    parts = [f"{name} {ms:,.1f} ms" for name, ms in (meta.get("timing_ms") or {}).items()]
    cache = meta.get("cache") or {}
    if cache:
        parts.append("cache hit" if cache.get("hit") else "cache miss")
    if meta.get("served_from"):
        parts.append(f"served from {meta['served_from']}")
    errors = meta.get("error") or {}
    estimated = [
        f"{label} ({errors.get(label, {}).get('method', 'estimate')})"
        for label, exact in (meta.get("exact") or {}).items()
        if not exact
    ]
    if estimated:
        parts.append(f"approximate: {', '.join(estimated)}")
    return ", ".join(parts)
