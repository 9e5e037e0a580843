"""A user dataset with rollups, generated rows over several DST changes, and ways to read a
rollup table and to compute what it must hold in plain Python."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from pyroaring import BitMap

from tally.auth.principal import Principal
from tally.config import Settings
from tally.service import Service
from tally.wiring import build_service

COLUMNS = """
columns:
  - {name: tenant, type: string, nullable: false}
  - {name: id, type: string, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: kind, type: string}
  - {name: region, type: string}
  - {name: note, type: string}
  - {name: amount, type: int}
  - {name: score, type: float}
  - {name: meta, type: json}
"""
ROLLUPS = """
rollups:
  - name: fine
    dimensions: [kind, region]
    measures:
      - {op: count}
      - {op: sum, field: amount}
      - {op: min, field: amount}
      - {op: max, field: amount}
      - {op: sum, field: score}
      - {op: min, field: score}
      - {op: max, field: score}
      - {op: count_distinct, field: note}
      - {op: count_distinct, field: amount}
      - {op: count_distinct, field: score}
  - name: hourly
    grain: 1 hour
    dimensions: [kind]
    measures:
      - {op: count}
      - {op: sum, field: amount}
      - {op: max, field: amount}
      - {op: count_distinct, field: region}
  - name: channels
    grain: 1 hour
    dimensions: [kind, meta.channel]
    measures: [{op: count}, {op: sum, field: amount}, {op: min, field: amount},
      {op: max, field: amount}, {op: sum, field: score}, {op: min, field: score},
      {op: max, field: score}, {op: count_distinct, field: note}]
  - name: regions_all
    grain: 1 hour
    across_tenants: true
    dimensions: [region]
    measures: [{op: count}, {op: sum, field: amount}, {op: min, field: amount},
      {op: max, field: amount}, {op: sum, field: score}, {op: min, field: score},
      {op: max, field: score}, {op: count_distinct, field: note},
      {op: count_distinct, field: amount}, {op: count_distinct, field: score},
      {op: count_distinct, field: region}]
"""
APPEND = "name: rollev\ntenant_columns: [tenant]\ntime_column: ts\nkey_columns: [id]\n"
UPSERT = "name: rollstate\nmode: upsert\ntenant_columns: [tenant]\ntime_column: ts\n"
UPSERT += "key_columns: [id]\n"
TENANTS = ("t_a", "t_b", "t_c")
KINDS = ("view", "buy", "search", None)
REGIONS = ("eu", "us", "apac", None)
NOTES = ("x", "yy", None)
# A JSON key missing (no metadata, or other keys only), null, a string, a number: 5 and "5" read
# alike (every query reads a key's text), 5 and 5.0 do not.
METAS: tuple[dict[str, Any] | None, ...] = (
    None,
    {},
    {"plan": "pro"},
    {"channel": None},
    {"channel": None, "plan": "free"},
    {"channel": "web"},
    {"channel": "Web", "plan": "pro"},
    {"channel": "web shop"},
    {"channel": ""},
    {"channel": "5"},
    {"channel": 5},
    {"channel": 5.0},
    {"channel": 2.5},
    {"channel": -12},
    {"channel": True},
    {"channel": ["web", 5]},
    {"channel": {"name": "web"}},
)
CHANNEL_VALUES = ("web", "Web", "web shop", "", "5", 5, 2.5, -12, "true", "2.5")
# 1 March to 10 April 2025: the US and St John's (9 March), Europe (30 March) and Adelaide
# and Lord Howe (6 April) change their clocks in between.
FIRST = datetime(2025, 3, 1, tzinfo=UTC)
SPAN_S = 40 * 86_400
ADMIN = Principal(subject="admin", role="admin", all_tenants=True)


def write_datasets(directory: Path, rollups: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for head in (APPEND, UPSERT):
        name = head.split()[1]
        (directory / f"{name}.yaml").write_text(head + COLUMNS + (ROLLUPS if rollups else ""))


NO_COMPACTION = {
    "rollup_compact_rows": 10**9,
    "rollup_compact_appends": 10**9,
    "rollup_compact_idle_s": 10.0**9,
}
"""Settings under which appends' rollup cells stay pending until a test compacts them."""


def open_service(
    root: Path, rollups: bool = True, compacting: bool = True, **settings: Any
) -> Service:
    """A service over the test datasets, with `settings`; unless `compacting`, pending rollup
    rows are merged in only when a test asks (`Rollups.compact_all`)."""
    write_datasets(root / "datasets", rollups)
    chosen = {**settings, **({} if compacting else NO_COMPACTION)}
    return build_service(
        Settings.from_env(data_dir=root / "data", datasets_dir=root / "datasets", **chosen)
    )


def ingest_half_compacted(service: Service, rows: list[dict[str, Any]], batch: int) -> None:
    """Ingest `rows` in batches, merging the pending rollup rows in halfway: the rollups then
    hold compacted cells and pending rows of the same cells, as a running service does."""
    for start in range(0, len(rows), batch):
        if start >= len(rows) // 2 > start - batch:
            service.rollups.compact_all()
        outcome = service.ingestion.ingest("rollev", rows[start : start + batch], ADMIN, False)
        assert not outcome.rejected


def instant(rng: random.Random) -> datetime:
    """Mostly anywhere; sometimes exactly on a 15-minute grain edge or a microsecond before."""
    seconds = rng.randrange(SPAN_S)
    moment = FIRST + timedelta(seconds=seconds, microseconds=rng.randrange(1_000_000))
    if rng.random() < 0.2:
        edge = FIRST + timedelta(seconds=seconds - seconds % 900)
        return edge - timedelta(microseconds=1) if rng.random() < 0.5 else edge
    return moment


def make_rows(rng: random.Random, n: int, ids: range | None = None) -> list[dict[str, Any]]:
    ids = ids or range(n)
    return [
        {
            "tenant": rng.choice(TENANTS),
            "id": f"e{i}",
            "ts": instant(rng).isoformat(),
            "kind": rng.choice(KINDS),
            "region": rng.choice(REGIONS),
            "note": rng.choice(NOTES),
            "amount": None if rng.random() < 0.1 else rng.randrange(-50, 1000),
            "score": None if rng.random() < 0.1 else rng.randrange(0, 10_000) / 8,
            "meta": rng.choice(METAS),
        }
        for i in ids
    ]


def channel_text(row: dict[str, Any]) -> str | None:
    """The text of a row's `meta.channel` as a JSON document spells it (a string as it is):
    what every query reads of the key, computed here in Python."""
    value = (row["meta"] or {}).get("channel")
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def rollup_rows(service: Service, table: str) -> list[tuple]:
    """A rollup table's rows in a stable order, its pending rows merged in first."""
    service.rollups.compact_all()
    _, rows = service.engine.execute(f'SELECT * FROM "{table}" ORDER BY ALL', {}, 30)  # noqa: S608
    return rows


def expected_cells(rows: list[dict[str, Any]], grain_s: int, dims: tuple[str, ...]) -> dict:
    """What the rollup must hold for these stored rows, computed in Python: per (tenant,
    dimensions, grain start) the row count, and count, sum, min, max of amount."""
    cells: dict[tuple, list] = defaultdict(lambda: [0, 0, None, None, None])
    for row in rows:
        ts = datetime.fromisoformat(row["ts"])
        micros = (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        grain = datetime.fromtimestamp(micros // (grain_s * 1_000_000) * grain_s, UTC)
        cell = cells[(row["tenant"], *(row[d] for d in dims), grain)]
        cell[0] += 1
        amount = row["amount"]
        if amount is not None:
            cell[1] += 1
            cell[2] = amount if cell[2] is None else cell[2] + amount
            cell[3] = amount if cell[3] is None else min(cell[3], amount)
            cell[4] = amount if cell[4] is None else max(cell[4], amount)
    return {key: tuple(value) for key, value in cells.items()}


def stored_sets(service: Service, dataset: str, field: str) -> dict[tuple, frozenset]:
    """The `fine` rollup's exact sets of `field`, decoded through its dictionary into values
    and keyed like `expected_cells`."""
    table = f"{dataset}__rollup__fine"
    service.rollups.compact_all()
    _, ids = service.engine.execute(f'SELECT id, value FROM "{dataset}__ids__{field}"', {}, 30)  # noqa: S608
    values = dict(ids)
    sql = f'SELECT tenant, kind, region, ts, "_ids__{field}" FROM "{table}"'  # noqa: S608
    _, rows = service.engine.execute(sql, {}, 30)
    return {
        tuple(row[:4]): frozenset(values[i] for i in BitMap.deserialize(row[4] or b""))
        for row in rows
    }


def expected_sets(
    rows: list[dict[str, Any]], field: str, dims: tuple[str, ...] = ("kind", "region")
) -> dict[tuple, frozenset]:
    """What `stored_sets` must say for these stored rows: per 15-minute cell, the non-null
    values of `field`."""
    cells: dict[tuple, set] = defaultdict(set)
    for row in rows:
        ts = datetime.fromisoformat(row["ts"])
        micros = (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        grain = datetime.fromtimestamp(micros // 900_000_000 * 900, UTC)
        cell = cells[(row["tenant"], *(row[d] for d in dims), grain)]
        if row[field] is not None:
            cell.add(row[field])
    return {key: frozenset(value) for key, value in cells.items()}


def rollups_cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`tally rollups ARGS` in a process of its own over `root`'s data and datasets folders."""
    environment = {**os.environ, "TALLY_DATA_DIR": str(root / "data"), "COLUMNS": "200", **env}
    environment["TALLY_DATASETS_DIR"] = str(root / "datasets")
    return subprocess.run(
        [sys.executable, "-m", "tally.cli", "rollups", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
