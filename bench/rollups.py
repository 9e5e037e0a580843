"""`python -m bench.rollups`: the benchmark's queries with and without a rollup, and ingestion
with and without keeping it (a first skeleton of issue 23's figures; small sizes only here).

Loads the benchmark's event table twice in batches (once with the rollup declared, once
without, taking turns batch by batch) for the ingestion rate, then times each benchmark query
on the table with rollups on and off, tenant-scoped and over all tenants, and says which
answered (`served_from`).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from bench.data import generate
from bench.queries import QUERIES
from bench.run import paired_times_ms
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.service import Service
from tally.wiring import build_service

HERE = Path(__file__).parent
ROLLUP = """
[[rollups]]
name = "by_type_agent"
dimensions = ["event_type", "agent_name"]
measures = [{op = "count"}, {op = "sum", field = "amount"}, {op = "sum", field = "price"}]
"""
ADMIN = Principal(subject="bench", role="admin", all_tenants=True)


def _service(root: Path, rollups: bool) -> Service:
    datasets = root / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    text = (HERE / "datasets" / "bench_events.toml").read_text()
    (datasets / "bench_events.toml").write_text(text + (ROLLUP if rollups else ""))
    return build_service(Settings.from_env(data_dir=root / "data", datasets_dir=datasets))


def _cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _load(
    services: list[Service], rows: int, batch: int, in_time_order: bool
) -> list[tuple[float, float]]:
    """Rows per second, wall clock and process CPU, through `load_table` (one transaction per
    batch) for each service. The services take turns batch by batch, so a slow spell of the
    shared machine falls on all of them alike; CPU seconds are steadier still, as long as the
    process runs nothing else (DuckDB's threads work only inside a call)."""
    table = generate(rows)
    table = table.sort_by("ts") if in_time_order else table
    spent = [[0.0, 0.0] for _ in services]
    for offset in range(0, rows, batch):
        part = table.slice(offset, batch)
        for service, taken in zip(services, spent, strict=True):
            wall, cpu = time.perf_counter(), _cpu_s()
            service.ingestion.load_table("bench_events", part, partial=False)
            taken[0] += time.perf_counter() - wall
            taken[1] += _cpu_s() - cpu
    return [(rows / wall, rows / cpu) for wall, cpu in spent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--in-time-order",
        action="store_true",
        help="load the rows sorted by time (as events arrive) instead of in random order",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tally-bench-rollups-"))
    try:
        plain = _service(root / "plain", rollups=False)
        service = _service(root / "rolled", rollups=True)
        without, kept = _load([plain, service], args.rows, args.batch, args.in_time_order)
        plain.engine.close()
        order = "in time order" if args.in_time_order else "in random order"
        print(f"{args.rows:,} rows {order} in batches of {args.batch:,}, taking turns:")
        for label, i in (("wall clock", 0), ("process CPU", 1)):
            ratio = kept[i] / without[i]
            print(
                f"- {label}: {without[i]:,.0f} rows/s without the rollup, "
                f"{kept[i]:,.0f} rows/s keeping it ({ratio:.0%})"
            )
        print()
        print("| query | scope | served from | raw p50 ms | rollup p50 ms |")
        print("|---|---|---|---:|---:|")
        rollups = service.answers.rollups
        for bench in QUERIES:
            for scoped in (True, False):
                query = Query.model_validate(bench.ir(scoped))

                def raw(q: Query = query) -> None:
                    service.answers.rollups = None
                    service.answers.answer(q, ADMIN)

                def rolled(q: Query = query) -> None:
                    service.answers.rollups = rollups
                    service.answers.answer(q, ADMIN)

                times = paired_times_ms([raw, rolled], args.repeats).medians
                service.answers.rollups = rollups
                served = service.answers.answer(query, ADMIN).meta["served_from"]
                scope = "one tenant" if scoped else "all"
                print(f"| {bench.name} | {scope} | {served} | {times[0]:.1f} | {times[1]:.1f} |")
        service.engine.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
