"""`python -m bench.rollups_ingest --rows N`: the benchmark's own ingestion figures (`bench.run`)
with the rollups of `bench.rollups` declared, against the same without, taking turns.

- HTTP NDJSON: `--http-rows` rows of the generated table, in 10,000-row batches posted by one
  client to a fresh server into an empty dataset, after one untimed batch (as `bench.run`
  measures it), `--rounds` times each way. These are the generated table's first rows, which
  spread over the whole year in random order: every batch touches nearly every day of every
  tenant, so each rollup stores about as many pending cells as the batch has rows. The
  server's compactions run on its own thread as they fall due, inside the timed span; what is
  still pending at the end (merged once the server is idle) is reported.
- CLI Parquet: `tally ingest` of the N-row file into an empty data folder (one transaction, as
  a user loads a file), once each way, with the rows it leaves pending.

Issue 23 compares ingestion with rollups kept against without; the in-process appends into
1M-100M stored rows are `bench.rollups`'. The markdown goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq

from bench.data import generate
from bench.load import Poster
from bench.rollups import DATASET, datasets_folder, machine, say
from bench.run import admin_token, environment, ndjson_batches, server

ROWS_PATH = f"/v1/datasets/{DATASET}/rows"


@dataclass
class Options:
    rows: int
    http_rows: int
    batch_rows: int
    rounds: int
    declare: str
    work: Path


@dataclass
class Figures:
    options: Options
    machine: dict[str, str] = field(default_factory=dict)
    http: dict[str, list[float]] = field(default_factory=lambda: {"plain": [], "rolled": []})
    http_pending: list[int] = field(default_factory=list)
    cli: dict[str, float] = field(default_factory=dict)
    cli_pending: int = 0


def _pending_over_http(base: str, token: str) -> int:
    answer = httpx.get(f"{base}/v1/rollups", headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return sum(rollup["pending_rows"] or 0 for rollup in answer.json()["rollups"])


def _post_all(options: Options, side: str, datasets: Path, batches: list[bytes], warmup: bytes):
    """Seconds to have every batch acknowledged, and the rollups' rows pending after it."""
    data_dir = options.work / f"http_{side}"
    shutil.rmtree(data_dir, ignore_errors=True)
    token = admin_token(data_dir)
    with server(data_dir, TALLY_DATASETS_DIR=str(datasets)) as base:
        poster = Poster(base, token, "application/x-ndjson")
        poster.post_ok(ROWS_PATH, warmup)
        started = time.perf_counter()
        for batch in batches:
            poster.post_ok(ROWS_PATH, batch)
        seconds = time.perf_counter() - started
        poster.close()
        pending = _pending_over_http(base, token) if side == "rolled" else 0
    return seconds, pending


def http_ingest(options: Options, parquet: Path, folders: dict[str, Path], figures: Figures):
    batches, warmup = ndjson_batches(parquet, options.http_rows, options.batch_rows)
    rows = sum(batch.count(b"\n") + 1 for batch in batches)
    for turn in range(options.rounds):
        for side, datasets in folders.items():
            seconds, pending = _post_all(options, side, datasets, batches, warmup)
            figures.http[side].append(rows / seconds)
            if side == "rolled":
                figures.http_pending.append(pending)
            say(f"HTTP round {turn + 1}, {side}: {rows / seconds:,.0f} rows/s")


def _pending_in(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE suffix(table_name, '__pending')"
        ).fetchall()
        return sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for (t,) in tables)


def cli_ingest(options: Options, parquet: Path, folders: dict[str, Path], figures: Figures):
    for side, datasets in folders.items():
        data_dir = options.work / f"cli_{side}"
        shutil.rmtree(data_dir, ignore_errors=True)
        command = [sys.executable, "-m", "tally.cli", "ingest", str(parquet), "--dataset", DATASET]
        env = environment(data_dir, TALLY_DATASETS_DIR=str(datasets))
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        figures.cli[side] = options.rows / (time.perf_counter() - started)
        if side == "rolled":
            figures.cli_pending = _pending_in(data_dir / "tally.duckdb")
        say(f"CLI Parquet, {side}: {figures.cli[side]:,.0f} rows/s")


def render(figures: Figures) -> str:
    options, plain, rolled = figures.options, figures.http["plain"], figures.http["rolled"]
    lines = [
        f"### The benchmark's ingestion with rollups kept ({figures.machine['at']})",
        "",
        f"Machine: {figures.machine['cpus']} CPUs, {figures.machine['memory']}, Python "
        f"{figures.machine['python']}, DuckDB {figures.machine['duckdb']}, load average "
        f"{figures.machine['load']} at the start; rollups declared: `{options.declare}` "
        "(`bench.rollups`).",
        "",
        "| ingestion | without rollups rows/s | with rollups rows/s | share | left pending |",
        "|---|---|---|---|---|",
    ]
    for turn, (a, b) in enumerate(zip(plain, rolled, strict=True)):
        lines.append(
            f"| HTTP NDJSON, {options.http_rows:,} rows in {options.batch_rows:,}-row batches "
            f"into an empty dataset, one client, round {turn + 1} | {a:,.0f} | {b:,.0f} | "
            f"{b / a:.0%} | {figures.http_pending[turn]:,} rows |"
        )
    a, b = figures.cli["plain"], figures.cli["rolled"]
    lines.append(
        f"| CLI Parquet (`tally ingest`), {options.rows:,} rows, one transaction | {a:,.0f} | "
        f"{b:,.0f} | {b / a:.0%} | {figures.cli_pending:,} rows |"
    )
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None = None) -> tuple[Options, bool]:
    """The options, and whether the work folder is the caller's (kept: its Parquet file is
    reused by the next run)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the Parquet file")
    parser.add_argument("--http-rows", type=int, default=300_000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--declare", default="tuned")
    parser.add_argument("--work", type=Path, help="work folder (kept); default a temporary one")
    parser.add_argument("--smoke", action="store_true", help="20k rows, a few seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.http_rows, args.batch_rows, args.rounds = 20_000, 2_000, 500, 1
    work = args.work or Path(tempfile.mkdtemp(prefix="tally-bench-rollups-ingest-"))
    options = Options(args.rows, args.http_rows, args.batch_rows, args.rounds, args.declare, work)
    return options, args.work is not None


def main(argv: list[str] | None = None) -> None:
    options, keep = parse(argv)
    options.work.mkdir(parents=True, exist_ok=True)
    figures = Figures(options, machine=machine())
    try:
        parquet = options.work / f"bench_events_{options.rows}.parquet"
        if not parquet.exists():
            pq.write_table(generate(options.rows), parquet)
        folders = {
            "plain": datasets_folder(options.work, None),
            "rolled": datasets_folder(options.work, options.declare),
        }
        http_ingest(options, parquet, folders, figures)
        cli_ingest(options, parquet, folders, figures)
        print(render(figures))
    finally:
        made = [f"{path}_{side}" for path in ("http", "cli") for side in ("plain", "rolled")]
        for path in made if keep else [""]:
            shutil.rmtree(options.work / path, ignore_errors=True)


if __name__ == "__main__":
    main()
