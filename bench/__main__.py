"""`python -m bench`: run the benchmark and write bench/RESULTS.md and the raw JSON figures."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import orjson

from bench.external import in_place
from bench.report import machine, markdown, write_results
from bench.run import Options, run

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--smoke", action="store_true", help="20k rows, few repeats, no files")
    parser.add_argument("--work", type=Path, default=HERE / "out")
    parser.add_argument("--postgres-url", default=os.environ.get("TALLY_BENCH_POSTGRES_URL",
                        "postgresql://127.0.0.1:5432/test"))  # fmt: skip
    parser.add_argument("--redis-url", default=os.environ.get("TALLY_BENCH_REDIS_URL",
                        "redis://127.0.0.1:6379/0"))  # fmt: skip
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="time (a)+(b), and (c), at least this long per query")  # fmt: skip
    args = parser.parse_args()
    rows = 20_000 if args.smoke else args.rows
    options = Options(
        rows=rows,
        repeats=3 if args.smoke else args.repeats,
        work=args.work / ("smoke" if args.smoke else ""),
        postgres_url=None if args.no_postgres else args.postgres_url,
        redis_url=args.redis_url or None,
        load_seconds=1.0 if args.smoke else args.load_seconds,
        http_ingest_rows=min(rows // 2, 300_000),
        min_seconds=0.0 if args.smoke else args.min_seconds,
    )
    figures = run(options)
    in_place(options, figures)
    figures.machine = machine()
    text = markdown(figures, rows)
    print(text)
    if not args.smoke:
        write_results(HERE / "RESULTS.md", text)
        raw = args.work / f"results_{rows}.json"
        raw.write_bytes(orjson.dumps(dataclasses.asdict(figures), option=orjson.OPT_INDENT_2))
        print(f"raw figures: {raw}")


if __name__ == "__main__":
    main()
