"""`python -m bench.rollups --rows N`: issue 23's figures at one size, N up to 100M.

Per size, in one work folder:
(a) the benchmark's events are generated a chunk at a time (`bench.data.chunks`, in time order
    of the chunks) and bulk-loaded, one `load_table` transaction per chunk, into a dataset that
    declares no rollup; generation and loading are timed apart. The service is closed (DuckDB
    checkpoints on close) and the data folder copied: the copy is the database without rollups
    for (d), cheaper at 100M rows than a second load;
(b) the dataset is opened again declaring the rollups (`--declare`) and `tally rollups build`'s
    code fills them (`Rollups.build`), timed per rollup; each rollup's size is that of its
    table and its id dictionaries copied alone into a fresh DuckDB file (checkpointed), and the
    database file's growth is printed beside it;
(c) each benchmark query, tenant-scoped and over all tenants, with the result cache off, raw
    (rollups off) and with rollups in turns (`paired_times_ms`), and which answered
    (`served_from`), with a check that both gave the same rows;
(d) the same extra rows appended in small batches to the database with rollups and to the copy
    without, taking turns batch by batch: rows at the window's end in time order, as dense as
    the loaded ones (live data), then (`--orders`) rows spread over the year in random order.
    Every batch of both scans the stored event ids for duplicates (built on the batch), so at
    100M rows that scan weighs on both sides alike.

The markdown goes to stdout and to `<work>/rollups_<N>.md`; progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from bench.data import END, START, chunks, generate_chunk
from bench.queries import QUERIES, BenchQuery
from bench.rollups_report import render
from bench.run import paired_times_ms
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.rollups.layout import RollupTable
from tally.service import Service
from tally.wiring import build_service

HERE = Path(__file__).parent
DATASET = "bench_events"
ADMIN = Principal(subject="bench", role="admin", all_tenants=True)
# What a user would declare for Q1-Q6 (docs/rollups.md): the windows are midnight-aligned, so a
# day's grain serves Q1, Q3, Q4 and Q6 with the fewest rows; one rollup per need, as the
# smallest fitting one answers (Q3's exact sets and Q6 in the coarsest, Q1 by type, Q4 by type
# and channel). Q2's exact percentiles and Q5's array filter (tags has_any) and `rating BETWEEN`
# on a non-dimension are answered from the rows whatever is declared.
DECLARED = {
    "tuned": """
[[rollups]]
name = "daily"
grain = "24 hours"
measures = [{op = "count"}, {op = "count_distinct", field = "session_id"}]

# Q3 and Q6 over all tenants: the same cells with every tenant's rows in one.
[[rollups]]
name = "daily_all"
grain = "24 hours"
across_tenants = true
measures = [{op = "count"}, {op = "count_distinct", field = "session_id"}]

[[rollups]]
name = "by_type_daily"
grain = "24 hours"
dimensions = ["event_type"]
measures = [{op = "count"}]

[[rollups]]
name = "by_type_channel_daily"
grain = "24 hours"
dimensions = ["event_type", "metadata.channel"]
measures = [{op = "count"}, {op = "sum", field = "amount"}, {op = "sum", field = "price"}]
""",
    # `tally rollups suggest` after Q1-Q6 were asked once each way (20k rows): one proposal.
    "suggested": """
[[rollups]]
name = "suggested_1"
grain = "15 minutes"
dimensions = ["event_type", "metadata.channel"]
measures = [{op = "count"}, {op = "sum", field = "amount"}, {op = "sum", field = "price"},
            {op = "count_distinct", field = "session_id"}]
""",
}
# Q2 with approximate percentiles, from KLL sketches by agent on an hourly grain (`--kll`).
KLL = """
[[rollups]]
name = "by_agent_hourly"
grain = "1 hour"
dimensions = ["agent_name"]
measures = [{op = "count"}, {op = "percentile", field = "duration_ms", approx = true}]
"""


@dataclass
class Options:
    rows: int
    chunk: int
    append_rows: int
    append_batch: int
    orders: list[str]
    repeats: int
    declare: str
    kll: bool
    memory_limit: str
    work: Path


@dataclass
class Figures:
    options: Options
    machine: dict[str, str] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)
    builds: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    ingest: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)


def cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def datasets_folder(root: Path, declare: str | None, kll: bool = False) -> Path:
    """A folder holding the benchmark's dataset file, declaring the rollups `declare` names
    (`DECLARED`; None: no rollup), with `kll` the KLL rollup too."""
    datasets = root / ("datasets_rolled" if declare else "datasets_plain")
    datasets.mkdir(parents=True, exist_ok=True)
    text = (HERE / "datasets" / f"{DATASET}.toml").read_text()
    if declare:
        text += DECLARED[declare] + (KLL if kll else "")
    (datasets / f"{DATASET}.toml").write_text(text)
    return datasets


def _service(root: Path, options: Options, rollups: bool) -> Service:
    datasets = datasets_folder(root, options.declare if rollups else None, options.kll)
    settings = Settings.from_env(
        data_dir=root / "data",
        datasets_dir=datasets,
        engine_memory_limit=options.memory_limit,
        query_log_shapes=0,
    )
    return build_service(settings)


def load(options: Options, figures: Figures) -> None:
    """(a): the rows in chunks into the dataset without rollups; generation timed apart."""
    service = _service(options.work / "rolled", options, rollups=False)
    generating = loading = 0.0
    done = 0
    parts = chunks(options.rows, options.chunk)
    try:
        while True:
            started = time.perf_counter()
            part = next(parts, None)
            generating += time.perf_counter() - started
            if part is None:
                break
            started = time.perf_counter()
            service.ingestion.load_table(DATASET, part, partial=False)
            loading += time.perf_counter() - started
            done += part.num_rows
            left = (generating + loading) / done * (options.rows - done)
            say(
                f"loaded {done:,} of {options.rows:,} rows: {done / loading:,.0f} rows/s "
                f"loading, {done / generating:,.0f} rows/s generating; about {left:.0f} s left"
            )
    finally:
        started = time.perf_counter()
        service.close()
        figures.load["close_s"] = time.perf_counter() - started
    figures.load.update(generate_s=generating, load_s=loading)
    figures.load["file_bytes"] = _database(options.work / "rolled").stat().st_size
    started = time.perf_counter()
    shutil.copytree(options.work / "rolled" / "data", options.work / "plain" / "data")
    figures.load["copy_s"] = time.perf_counter() - started


def _database(root: Path) -> Path:
    return root / "data" / "tally.duckdb"


def build(options: Options, figures: Figures) -> None:
    """(b): declare the rollups over the stored rows and build them, timed per rollup."""
    before = _database(options.work / "rolled").stat().st_size
    service = _service(options.work / "rolled", options, rollups=True)
    marks: list[tuple[RollupTable, float]] = []
    try:
        began = time.perf_counter()

        def started(layout: RollupTable, tenants: int) -> None:
            marks.append((layout, time.perf_counter()))
            say(f"building {layout.label} ({tenants} tenants)")

        service.rollups.build(DATASET, started)
        ended = time.perf_counter()
    finally:
        service.close()
    figures.load["build_s"] = ended - began
    ends = [at for _, at in marks[1:]] + [ended]
    after = _database(options.work / "rolled").stat().st_size
    figures.load["file_growth_bytes"] = after - before
    for (layout, at), end in zip(marks, ends, strict=True):
        rows, table_bytes, dictionary_bytes = _measure(options.work, layout)
        figures.builds.append(
            {
                "rollup": layout.label,
                "grain": layout.rollup.grain,
                "dimensions": list(layout.rollup.dimensions),
                "seconds": end - at,
                "rows": rows,
                "table_bytes": table_bytes,
                "dictionary_bytes": dictionary_bytes,
            }
        )


def _measure(work: Path, layout: RollupTable) -> tuple[int, int, int]:
    """(rows, bytes of the table alone, bytes of the id dictionaries it reads alone): each
    copied into a fresh DuckDB file, checkpointed on close, that file's size. Honest where
    blocks of the big file are shared between tables or still hold deleted rows. A dictionary
    is the dataset's, shared by every rollup keeping a set of its field."""
    dictionaries = sorted({layout.dictionary(s.field) for s in layout.sketches if s.kind == "ids"})
    conn = duckdb.connect()
    try:
        conn.execute(f"ATTACH '{_database(work / 'rolled')}' AS source (READ_ONLY)")
        rows = conn.execute(f'SELECT count(*) FROM source."{layout.name}"').fetchone()[0]
        sizes = [_alone(conn, work, [layout.name]), _alone(conn, work, dictionaries)]
    finally:
        conn.close()
    return rows, sizes[0], sizes[1]


def _alone(conn: duckdb.DuckDBPyConnection, work: Path, tables: list[str]) -> int:
    if not tables:
        return 0
    path = work / "size_probe.duckdb"
    path.unlink(missing_ok=True)
    conn.execute(f"ATTACH '{path}' AS probe")
    for table in tables:
        conn.execute(f'CREATE TABLE probe."{table}" AS SELECT * FROM source."{table}"')
    conn.execute("DETACH probe")
    size = path.stat().st_size
    path.unlink()
    return size


def _q2_approx() -> BenchQuery:
    q2 = next(q for q in QUERIES if q.name == "Q2")
    measures = [m if m["op"] == "count" else {**m, "approx": True} for m in q2.body["measures"]]
    return BenchQuery(
        "Q2 approx", "Q2 with approx: true on p50/p99 (KLL sketches; raw: the engine's)", 7,
        {**q2.body, "measures": measures}, q2.duckdb, q2.postgres, q2.extra,
    )  # fmt: skip


def time_queries(options: Options, figures: Figures) -> None:
    """(c): raw against rollups, in turns, cache off, tenant-scoped and over all tenants."""
    service = _service(options.work / "rolled", options, rollups=True)
    try:
        rollups = service.answers.rollups
        asked = [*QUERIES, _q2_approx()] if options.kll else QUERIES
        for bench in asked:
            for scoped in (True, False):
                query = Query.model_validate(bench.ir(scoped))

                def answer(on: bool, q: Query = query) -> Any:
                    service.answers.rollups = rollups if on else None
                    return service.answers.answer(q, ADMIN)

                times = paired_times_ms(
                    [lambda: answer(False), lambda: answer(True)], options.repeats
                ).medians
                raw, rolled = answer(False), answer(True)
                figures.queries.append(
                    {
                        "query": bench.name,
                        "title": bench.title,
                        "scope": "one tenant" if scoped else "all",
                        "served_from": rolled.meta["served_from"],
                        "raw_ms": times[0],
                        "rollup_ms": times[1],
                        "same": "approx" in bench.name or same_rows(raw.rows, rolled.rows),
                        "rows": len(rolled.rows),
                    }
                )
                scope = figures.queries[-1]["scope"]
                say(f"{bench.name} {scope}: raw {times[0]:.1f}, rollup {times[1]:.1f} ms")
    finally:
        service.answers.rollups = rollups
        service.close()


def time_pending_queries(service: Service, options: Options, figures: Figures) -> None:
    """The queries a rollup serves, while the appends since the last compaction are pending
    (the worst a dashboard meets: their cells are inside every window, at its end)."""
    appends = sum(service.rollups.pending.appends(d.name) for d in service.catalog)
    for bench in QUERIES:
        for scoped in (True, False):
            query = Query.model_validate(bench.ir(scoped))

            def answer(q: Query = query) -> Any:
                return service.answers.answer(q, ADMIN)

            served = answer().meta["served_from"]
            if served == "raw":
                continue
            (ms,) = paired_times_ms([answer], options.repeats).medians
            figures.pending.append(
                {
                    "query": bench.name,
                    "scope": "one tenant" if scoped else "all",
                    "served_from": served,
                    "ms": ms,
                    "appends": appends,
                }
            )
            say(f"{bench.name} with {appends} appends pending: {ms:.1f} ms")


def same_rows(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> bool:
    """Equal rows, floats to 1e-9 relative (a rollup adds sums in another order)."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        if a.keys() != b.keys():
            return False
        for key, value in a.items():
            other = b[key]
            if isinstance(value, float) and isinstance(other, float):
                if abs(value - other) > 1e-9 * max(abs(value), abs(other), 1.0):
                    return False
            elif value != other:
                return False
    return True


def appended(options: Options, order: str) -> pa.Table:
    """Rows after the loaded ones (ids counting on from them): in time order over the end of
    the year, as densely as the loaded rows (live data arriving at the table's rate: 200k rows
    are the last 17.5 hours at 100M rows), or spread over the year in random order."""
    if order == "time":
        share = min(options.append_rows / options.rows, 1.0)
        period = (END - (END - START) * share, END)
        rows = generate_chunk(options.rows, options.rows, options.append_rows, period=period)
        return rows.sort_by("ts")
    start = options.rows + options.append_rows
    return generate_chunk(options.rows, start, options.append_rows, period=(START, END))


def ingest(options: Options, figures: Figures) -> None:
    """(d): the same batches into the database without rollups and the one keeping them, taking
    turns batch by batch, so a slow spell of the shared machine falls on both alike. CPU is
    the process's (DuckDB's threads work only inside a call)."""
    plain = _service(options.work / "plain", options, rollups=False)
    started = time.perf_counter()
    rolled = _service(options.work / "rolled", options, rollups=True)
    # Compactions run in the rolled service's turn, not on the server's thread of their own,
    # which would work during the plain service's turn and hide their cost.
    rolled.rollups.close()
    try:
        rolled.rollups.warm()  # waits for the load a server starts in the background
        figures.load["warm_s"] = time.perf_counter() - started
        for order in options.orders:
            table = appended(options, order)
            spent = [[0.0, 0.0], [0.0, 0.0]]
            compactions, compacting = 0, 0.0
            for offset in range(0, table.num_rows, options.append_batch):
                part = table.slice(offset, options.append_batch)
                for service, taken in zip((plain, rolled), spent, strict=True):
                    wall, cpu = time.perf_counter(), cpu_seconds()
                    service.ingestion.load_table(DATASET, part, partial=False)
                    if service is rolled:
                        stored = time.perf_counter()
                        compactions += len(rolled.rollups.compact_due())
                        compacting += time.perf_counter() - stored
                    taken[0] += time.perf_counter() - wall
                    taken[1] += cpu_seconds() - cpu
            if order == "time":
                time_pending_queries(rolled, options, figures)
            compactions += bool(rolled.rollups.pending.waiting())
            wall, cpu = time.perf_counter(), cpu_seconds()
            rolled.rollups.compact_all()  # what the last batches left pending
            spent[1][0] += time.perf_counter() - wall
            spent[1][1] += cpu_seconds() - cpu
            compacting += time.perf_counter() - wall
            say(f"{compactions} compactions in {order} order")
            rows = table.num_rows
            figures.ingest.append(
                {
                    "order": order,
                    "rows": rows,
                    "without_wall": rows / spent[0][0],
                    "with_wall": rows / spent[1][0],
                    "without_cpu": rows / spent[0][1],
                    "with_cpu": rows / spent[1][1],
                    "compactions": compactions,
                    "compacting_s": compacting,
                    "with_s": spent[1][0],
                }
            )
            say(f"appended {rows:,} rows in {order} order to both")
    finally:
        plain.close()
        rolled.close()


def machine() -> dict[str, str]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": str(os.cpu_count()),
        "memory": f"{memory / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


STEPS: list[tuple[str, Callable[[Options, Figures], None]]] = [
    ("load", load),
    ("build", build),
    ("queries", time_queries),
    ("ingest", ingest),
]


def run(options: Options) -> Figures:
    figures = Figures(options, machine=machine())
    for name, step in STEPS:
        say(f"== {name}")
        step(options, figures)
    figures.machine["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return figures


def parse(argv: list[str] | None = None) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=1_000_000, help="rows per bulk load")
    parser.add_argument("--append-rows", type=int, default=200_000)
    parser.add_argument("--append-batch", type=int, default=10_000)
    parser.add_argument(
        "--orders", default="time,random", help="appends: time (the end, in order), random"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--declare", choices=sorted(DECLARED), default="tuned")
    parser.add_argument(
        "--kll", action="store_true", help="also an hourly KLL rollup by agent, for Q2 approx"
    )
    parser.add_argument("--memory-limit", default="40%", help="per database (two are open)")
    parser.add_argument("--work", type=Path, help="work folder (kept); default a temporary one")
    parser.add_argument("--smoke", action="store_true", help="20k rows, a few seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.chunk, args.append_rows, args.append_batch = 20_000, 5_000, 2_000, 500
        args.repeats, args.kll = 1, True
    keep = args.work is not None
    work = args.work or Path(tempfile.mkdtemp(prefix="tally-bench-rollups-"))
    if keep and any(work.iterdir() if work.exists() else ()):
        parser.error(f"--work {work} is not empty")
    orders = [order for order in args.orders.split(",") if order]
    if not set(orders) <= {"time", "random"}:
        parser.error("--orders takes time, random or both")
    options = Options(
        args.rows, args.chunk, args.append_rows, args.append_batch, orders, args.repeats,
        args.declare, args.kll, args.memory_limit, work,
    )  # fmt: skip
    return options, keep


def main(argv: list[str] | None = None) -> None:
    options, keep = parse(argv)
    try:
        text = render(run(options))
        (options.work / f"rollups_{options.rows}.md").write_text(text)
        print(text)
    finally:
        if not keep:
            shutil.rmtree(options.work, ignore_errors=True)


if __name__ == "__main__":
    main()
