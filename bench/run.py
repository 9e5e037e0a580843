"""The benchmark: one run, four ways of answering the same six queries, side by side.

(a) the hand-written SQL on the raw DuckDB connection Tally uses, (b) Tally's service in-process
with the cache off, (c) Tally over HTTP with the cache off, (d) hand-written SQL on PostgreSQL
with a (tenant, time) index. Plus ingestion rate (HTTP NDJSON, CLI Parquet) and cache-hit
throughput at 32 concurrent clients (memory and Redis caches).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pyarrow.parquet as pq

from bench import postgres
from bench.data import generate
from bench.load import Poster, hammer
from bench.queries import QUERIES
from tally.auth.keys import KeyStore
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.wiring import build_service

HERE = Path(__file__).parent
HTTP_BATCH_ROWS = 10_000
DATASETS = HERE / "datasets"


@dataclass
class Options:
    rows: int
    repeats: int
    work: Path
    postgres_url: str | None
    redis_url: str | None
    load_seconds: float
    http_ingest_rows: int
    min_seconds: float = 0.0


@dataclass
class Figures:
    machine: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def median_ms(fn: Callable[[], Any], repeats: int, min_seconds: float = 0.0) -> float:
    return paired_times_ms([fn], repeats, min_seconds).medians[0]


@dataclass
class PairedTimes:
    """Timings of functions run in turns: `samples[i][k]` is function i in round k."""

    samples: list[list[float]]

    @property
    def medians(self) -> list[float]:
        return [statistics.median(taken) for taken in self.samples]

    def added_ms(self, which: int, base: int = 0) -> float:
        """The median, over rounds, of how much longer `which` took than `base` in the same
        round. Both ran back to back, so a slow spell of the machine that lengthens a 200 ms
        query by 10 ms lengthens both; the difference of two medians would keep that noise."""
        return statistics.median(
            mine - theirs
            for mine, theirs in zip(self.samples[which], self.samples[base], strict=True)
        )


def paired_times_ms(
    fns: list[Callable[[], Any]], repeats: int, min_seconds: float = 0.0, warmup: int = 2
) -> PairedTimes:
    """Each function's timings, taking turns run by run, so a slow spell of the machine
    (other processes, a checkpoint) falls on all of them alike, not on one. At least
    `repeats` rounds, and more until `min_seconds` have passed: a 3 ms query timed 9 times is
    measured over 30 ms, which one hiccup of a small VM can decide."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    started_all = time.perf_counter()
    while len(samples[0]) < repeats or time.perf_counter() - started_all < min_seconds:
        for fn, taken in zip(fns, samples, strict=True):
            started = time.perf_counter()
            fn()
            taken.append((time.perf_counter() - started) * 1000)
    return PairedTimes(samples)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(data_dir: Path, **extra: Any) -> Settings:
    return Settings.from_env(data_dir=data_dir, datasets_dir=DATASETS, **extra)


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    env.update({"TALLY_DATA_DIR": str(data_dir), "TALLY_DATASETS_DIR": str(DATASETS), **extra})
    return env


@contextmanager
def server(data_dir: Path, flags: Sequence[str] = (), **env: str):
    port = _free_port()
    serve = ["serve", "--port", str(port), "--log-level", "error", *flags]
    process = subprocess.Popen(
        [sys.executable, "-m", "tally.cli", *serve], env=environment(data_dir, **env)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def admin_token(data_dir: Path) -> str:
    store = KeyStore(data_dir / "keys.sqlite")
    _, token = store.create("admin", {}, all_tenants=True, name="bench")
    store.close()
    return token


def prepare(options: Options, figures: Figures) -> tuple[Path, Path]:
    """Generate the rows once, bulk-load them through `tally ingest`, compact."""
    options.work.mkdir(parents=True, exist_ok=True)
    parquet = options.work / f"bench_events_{options.rows}.parquet"
    if not parquet.exists():
        pq.write_table(generate(options.rows), parquet)
    data_dir = options.work / f"tally_{options.rows}"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    # The operating system writes a fresh file out in the background; the ingestion figure
    # should not share the disk and the cores with that.
    os.sync()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tally.cli", "ingest", str(parquet), "--dataset", "bench_events"],
        env=environment(data_dir), check=True, capture_output=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    figures.ingest["cli_parquet_rows_per_s"] = options.rows / seconds
    figures.ingest["cli_parquet_seconds"] = seconds
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tally.cli", "compact", "--dataset", "bench_events"],
        env=environment(data_dir), check=True, capture_output=True,
    )  # fmt: skip
    figures.ingest["compact_seconds"] = time.perf_counter() - started
    os.sync()
    return parquet, data_dir


def in_process(options: Options, data_dir: Path, figures: Figures) -> None:
    service = build_service(_settings(data_dir, cache_enabled=False))
    admin = Principal(subject="bench", role="admin", all_tenants=True)
    timeout = service.settings.query_timeout_s
    try:
        for query in QUERIES:
            for scoped in (True, False):
                row = figures.queries.setdefault(
                    f"{query.name}/{'tenant' if scoped else 'all'}", {}
                )
                sql, params = query.sql("duckdb", scoped), query.params(scoped)
                parsed = Query.model_validate(query.ir(scoped))
                raw_rows = service.engine.execute(sql, params, timeout)[1]
                tally_rows = service.answers.answer(parsed, admin).rows
                if len(raw_rows) != len(tally_rows):
                    figures.notes.append(
                        f"{query.name}: raw SQL gave {len(raw_rows)} rows, Tally {len(tally_rows)}"
                    )
                row["title"] = query.title
                row["rows"] = len(tally_rows)
                timed = paired_times_ms(
                    [
                        lambda s=sql, p=params: service.engine.execute(s, p, timeout),
                        lambda q=parsed: service.answers.answer(q, admin),
                    ],
                    options.repeats,
                    options.min_seconds,
                )
                row["a_raw_duckdb_ms"], row["b_tally_inprocess_ms"] = timed.medians
                row["b_added_ms"] = timed.added_ms(1)
        row = figures.queries.setdefault("SELECT 1", {"title": "engine round trip"})
        row["a_raw_duckdb_ms"] = median_ms(
            lambda: service.engine.execute("SELECT 1", {}, timeout), options.repeats * 5
        )
    finally:
        service.engine.close()


def over_http(options: Options, data_dir: Path, figures: Figures) -> None:
    """(c), timed in turns with (a′): the raw SQL on a read-only copy of the same database file
    (the server holds the original), so c − a′ compares two timings of one moment."""
    token = admin_token(data_dir)
    twin = options.work / "raw_twin.duckdb"
    shutil.copyfile(data_dir / "tally.duckdb", twin)
    raw = duckdb.connect(str(twin), read_only=True)
    raw.execute("SET TimeZone='UTC'")
    try:
        with server(data_dir, TALLY_CACHE="off") as base:
            client = Poster(base, token)
            for query in QUERIES:
                for scoped in (True, False):
                    payload = orjson.dumps(query.ir(scoped))
                    sql, params = query.sql("duckdb", scoped), query.params(scoped)

                    def ask(p: bytes = payload) -> None:
                        client.post_ok("/v1/query", p)

                    row = figures.queries[f"{query.name}/{'tenant' if scoped else 'all'}"]
                    timed = paired_times_ms(
                        [lambda s=sql, p=params: raw.execute(s, p).fetchall(), ask],
                        options.repeats,
                        options.min_seconds,
                    )
                    row["a_raw_beside_http_ms"], row["c_tally_http_ms"] = timed.medians
                    row["c_added_ms"] = timed.added_ms(1)
            client.close()
    finally:
        raw.close()
        twin.unlink()


def on_postgres(options: Options, parquet: Path, figures: Figures) -> None:
    if not options.postgres_url:
        figures.notes.append("PostgreSQL baseline skipped (no --postgres-url)")
        return
    started = time.perf_counter()
    loaded = postgres.load(options.postgres_url, pq.read_table(parquet))
    if loaded:
        figures.ingest["postgres_copy_and_index_seconds"] = time.perf_counter() - started
    with postgres.connect(options.postgres_url, options.rows) as conn:
        for query in QUERIES:
            for scoped in (True, False):
                sql, params = query.sql("postgres", scoped), query.params(scoped)
                key = f"{query.name}/{'tenant' if scoped else 'all'}"
                figures.queries[key]["d_postgres_ms"] = median_ms(
                    lambda s=sql, p=params: conn.execute(s, p).fetchall(), options.repeats
                )


def ndjson_batches(
    parquet: Path, measured: int, batch_rows: int = HTTP_BATCH_ROWS
) -> tuple[list[bytes], bytes]:
    """`measured` rows as NDJSON batches, and one batch of the rows after them for warming up."""
    rows = pq.read_table(parquet).slice(0, measured + batch_rows).to_pylist()
    lines = []
    for row in rows:
        row["ts"] = row["ts"].isoformat()
        row["metadata"] = orjson.loads(row["metadata"])
        lines.append(orjson.dumps(row))
    batches = [b"\n".join(lines[i : i + batch_rows]) for i in range(0, measured, batch_rows)]
    return batches, b"\n".join(lines[measured:])


def _ndjson_rate(
    options: Options, batches: list[bytes], warmup: bytes, clients: int
) -> tuple[float, dict]:
    """Rows/s of `clients` connections posting the batches into an empty dataset, and the
    answer to posting the first batch again (every row a duplicate)."""
    data_dir = options.work / "http_ingest"
    shutil.rmtree(data_dir, ignore_errors=True)
    token = admin_token(data_dir)
    path = "/v1/datasets/bench_events/rows"
    with server(data_dir) as base:
        posters = [Poster(base, token, "application/x-ndjson") for _ in range(clients)]
        if warmup:
            posters[0].post_ok(path, warmup)

        def post_share(i: int) -> None:
            for batch in batches[i::clients]:
                posters[i].post_ok(path, batch)

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post_share, range(clients)))
        seconds = time.perf_counter() - started
        again = orjson.loads(posters[0].post_ok(path, batches[0]))
        for poster in posters:
            poster.close()
    return sum(b.count(b"\n") + 1 for b in batches) / seconds, again


def http_ingest(options: Options, parquet: Path, figures: Figures) -> None:
    """NDJSON batches of 10,000 rows through POST /v1/datasets/bench_events/rows, warm (one
    untimed batch of other rows first: loading DuckDB's JSON reader and creating the table's
    first row group are not the steady rate), from one client posting batch after batch and
    from two posting at once, as a producer with two connections would: one batch is then
    validated while the other is stored."""
    batches, warmup = ndjson_batches(parquet, options.http_ingest_rows)
    figures.ingest["http_ndjson_rows"] = options.http_ingest_rows
    for clients, key in ((1, "http_ndjson_rows_per_s"), (2, "http_ndjson_2_clients_rows_per_s")):
        rate, again = _ndjson_rate(options, batches, warmup, clients)
        figures.ingest[key] = rate
        if again.get("duplicates") != batches[0].count(b"\n") + 1:
            figures.notes.append("HTTP re-ingestion did not report every row as a duplicate")


def cache_hits(options: Options, data_dir: Path, figures: Figures) -> None:
    """32 clients on one cached query; the rate limit is off so every answer is a real hit."""
    body = {**QUERIES[0].ir(True), "cache": "default"}
    token = admin_token(data_dir)
    unlimited = {"TALLY_RATE_LIMIT_ADMIN": "off"}
    backends = {"memory": unlimited}
    if options.redis_url:
        prefix = f"tally-bench-{uuid.uuid4().hex[:6]}:"
        backends["redis"] = {
            **unlimited,
            "TALLY_REDIS_URL": options.redis_url,
            "TALLY_REDIS_PREFIX": prefix,
        }
    for name, env in backends.items():
        with server(data_dir, **env) as base:
            httpx.post(
                f"{base}/v1/query", json=body, headers={"Authorization": f"Bearer {token}"}
            ).raise_for_status()
            result = hammer(f"{base}/v1/query", token, body, 32, options.load_seconds)
        figures.cache[name] = {
            "tool": result.tool,
            "requests": result.requests,
            "rps": result.rps,
            "p50_ms": result.p50_ms,
            "p99_ms": result.p99_ms,
            "errors": result.errors,
        }


def run(options: Options) -> Figures:
    figures = Figures()
    parquet, data_dir = prepare(options, figures)
    in_process(options, data_dir, figures)
    over_http(options, data_dir, figures)
    http_ingest(options, parquet, figures)
    cache_hits(options, data_dir, figures)
    # Last: loading PostgreSQL leaves its checkpointer writing for a while, which would slow
    # whatever ran next on this machine.
    on_postgres(options, parquet, figures)
    return figures
