"""`python -m bench.workers`: requests per second of `tally serve` at 1 and 2 worker processes.

PostgreSQL engine and Redis (what `--workers` needs), the benchmark's event table loaded into a
fresh schema with `tally ingest`, and two loads of 32 clients per worker count: one cached
question (every answer a Redis hit) and the same question with `"cache": "no-cache"` (every
answer compiled and run on PostgreSQL). The load generator, PostgreSQL and Redis share the
machine's cores with the server, which the figures include. The schema and the Redis keys are
dropped afterwards; the table is printed, for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import psycopg
import pyarrow.parquet as pq
import redis

from bench.data import generate
from bench.load import LoadResult, hammer
from bench.queries import QUERIES
from bench.report import machine
from bench.run import admin_token, environment, server

CLIENTS = 32


def _schema_url(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _load(seconds: float, base: str, token: str, body: dict) -> LoadResult:
    """Warm every worker (a few requests on fresh connections), then the timed load."""
    for _ in range(8):
        httpx.post(f"{base}/v1/query", json=body, headers={"Authorization": f"Bearer {token}"})
    return hammer(f"{base}/v1/query", token, body, CLIENTS, seconds)


def measure(rows: int, seconds: float, postgres_url: str, redis_url: str) -> list[tuple]:
    schema = f"tally_bench_workers_{uuid.uuid4().hex[:8]}"
    prefix = f"tally-bench-workers-{uuid.uuid4().hex[:6]}:"
    env = {
        "TALLY_ENGINE": "postgres",
        "TALLY_POSTGRES_URL": _schema_url(postgres_url, schema),
        "TALLY_REDIS_URL": redis_url,
        "TALLY_REDIS_PREFIX": prefix,
        "TALLY_RATE_LIMIT_ADMIN": "off",
        "TALLY_ACCESS_LOG": "off",
    }
    cached = {**QUERIES[0].ir(True), "cache": "default"}
    uncached = QUERIES[0].ir(True)
    figures = []
    with tempfile.TemporaryDirectory(prefix="tally-bench-workers-") as work:
        data_dir = Path(work) / "data"
        parquet = Path(work) / "events.parquet"
        pq.write_table(generate(rows), parquet)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            subprocess.run(
                [sys.executable, "-m", "tally.cli", "ingest", str(parquet),
                 "--dataset", "bench_events"],
                env=environment(data_dir, **env), check=True, capture_output=True,
            )  # fmt: skip
            token = admin_token(data_dir)
            for workers in (1, 2):
                with server(data_dir, ["--workers", str(workers)], **env) as base:
                    for name, body in (("cache hit", cached), ("uncached", uncached)):
                        figures.append((workers, name, _load(seconds, base, token, body)))
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
    return figures


def table(figures: list[tuple], rows: int, seconds: float) -> str:
    about = machine()
    lines = [
        f"{QUERIES[0].name} ({QUERIES[0].title}), tenant-scoped, {rows:,} rows on PostgreSQL, "
        f"Redis cache, {CLIENTS} clients for {seconds:g} s per line; {about['cpu']}, "
        f"{about['cores']} cores, {about['date']}.",
        "",
        "| workers | answers | req/s | p50 ms | p99 ms | non-2xx | client |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for workers, name, result in figures:
        lines.append(
            f"| {workers} | {name} | {result.rps:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {result.errors} | {result.tool} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--postgres-url", default=os.environ.get("TALLY_BENCH_POSTGRES_URL",
                        "postgresql://127.0.0.1:5432/test"))  # fmt: skip
    parser.add_argument("--redis-url", default=os.environ.get("TALLY_BENCH_REDIS_URL",
                        "redis://127.0.0.1:6379/0"))  # fmt: skip
    args = parser.parse_args()
    figures = measure(args.rows, args.seconds, args.postgres_url, args.redis_url)
    print(table(figures, args.rows, args.seconds))


if __name__ == "__main__":
    main()
