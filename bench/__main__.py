"""`python -m bench`: run the benchmark and write bench/RESULTS.md and the raw JSON figures."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import orjson

from bench.external import in_place
from bench.report import IN_PLACE_MARKERS, in_place_markdown, machine, markdown, write_results
from bench.run import Figures, Options, in_process, on_postgres, prepare, run

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
    parser.add_argument("--in-place", action="store_true",
                        help="only (a), (b) and the sources read in place: (e) Parquet, (f) "
                        "PostgreSQL; its tables go to their own block of RESULTS.md")  # fmt: skip
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
    if args.in_place:
        figures = Figures()
        parquet, data_dir = prepare(options, figures)
        in_process(options, data_dir, figures)
        on_postgres(options, parquet, figures)
    else:
        figures = run(options)
    in_place(options, figures)
    figures.machine = machine()
    text = in_place_markdown(figures, rows) if args.in_place else markdown(figures, rows)
    print(text)
    if not args.smoke:
        if args.in_place:
            write_results(HERE / "RESULTS.md", text, IN_PLACE_MARKERS)
        else:
            write_results(HERE / "RESULTS.md", text)
        raw = args.work / f"results_{rows}{'_in_place' if args.in_place else ''}.json"
        raw.write_bytes(orjson.dumps(dataclasses.asdict(figures), option=orjson.OPT_INDENT_2))
        print(f"raw figures: {raw}")


if __name__ == "__main__":
    main()
