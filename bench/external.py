"""The same rows read in place: (e) Tally over a hive-partitioned Parquet folder next to the raw
DuckDB SQL on the same files, and (f) Tally over the baseline's PostgreSQL table next to the raw
PostgreSQL SQL on it. Both pairs are timed in turns, in-process, cache off, so e/e′ and f/f′
are Tally's overhead on a source it does not own, to compare with b/a on the owned table.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import yaml

from bench import postgres
from bench.queries import QUERIES
from bench.run import Figures, Options, paired_times_ms
from tally.auth.principal import Principal
from tally.config import Settings
from tally.query.model import Query
from tally.wiring import build_service

HERE = Path(__file__).parent


def _dataset_dir(work: Path, source: dict[str, Any]) -> Path:
    """bench_events as declared for the owned run, plus `source`."""
    declared = tomllib.loads((HERE / "datasets" / "bench_events.toml").read_text("utf-8"))
    folder = work / ("datasets_" + next(iter(source)))
    folder.mkdir(parents=True, exist_ok=True)
    # The source's default intervals: the result cache is off for the timing (cache_enabled),
    # and the newest time is remembered for its 30 s as a deployment would.
    body = {**declared, "source": source}
    (folder / "bench_events.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    return folder


def parquet_folder(work: Path, parquet: Path) -> str:
    """The rows as tenant_id=<t>/ folders (written once per size); returns the glob."""
    folder = work / f"{parquet.stem}_by_tenant"
    if not folder.exists():
        with duckdb.connect() as conn:
            conn.register("rows", pq.read_table(parquet))
            conn.execute(
                "COPY rows TO '" + str(folder).replace("'", "''") + "' "
                "(FORMAT parquet, PARTITION_BY (tenant_id))"
            )
    return f"{folder}/**/*.parquet"


def _timed(
    options: Options,
    figures: Figures,
    source: dict[str, Any],
    dialect: str,
    raw: Any,
    keys: tuple[str, str, str],
) -> None:
    settings = Settings.from_env(
        data_dir=options.work / f"external_{dialect}",
        datasets_dir=_dataset_dir(options.work, source),
        profiles="none",
        cache_enabled=False,
    )
    service = build_service(settings)
    admin = Principal(subject="bench", role="admin", all_tenants=True)
    try:
        for query in QUERIES:
            for scoped in (True, False):
                row = figures.queries.setdefault(
                    f"{query.name}/{'tenant' if scoped else 'all'}", {"title": query.title}
                )
                sql, params = query.sql(dialect, scoped), query.params(scoped)
                parsed = Query.model_validate(query.ir(scoped))
                raw_rows = raw(sql, params)
                tally_rows = service.answers.answer(parsed, admin).rows
                if len(raw_rows) != len(tally_rows):
                    figures.notes.append(
                        f"{query.name} ({dialect} in place): raw SQL gave {len(raw_rows)} rows, "
                        f"Tally {len(tally_rows)}"
                    )
                timed = paired_times_ms(
                    [
                        lambda s=sql, p=params: raw(s, p),
                        lambda q=parsed: service.answers.answer(q, admin),
                    ],
                    options.repeats,
                    options.min_seconds,
                )
                row[keys[0]], row[keys[1]] = timed.medians
                row[keys[2]] = timed.added_ms(1)
    finally:
        service.close()


def in_place(options: Options, figures: Figures) -> None:
    """(e) and (f) over the rows `run` generated (and, for (f), loaded into PostgreSQL)."""
    glob = parquet_folder(options.work, options.work / f"bench_events_{options.rows}.parquet")
    conn = duckdb.connect()
    conn.execute("SET TimeZone='UTC'")
    conn.execute(
        "CREATE VIEW bench_events AS SELECT * FROM read_parquet('"
        + glob.replace("'", "''")
        + "', hive_partitioning = true)"
    )
    try:
        _timed(
            options,
            figures,
            {"parquet": {"path": glob, "hive_partitioning": True}},
            "duckdb",
            lambda s, p: conn.execute(s, p).fetchall(),
            ("e_raw_parquet_ms", "e_tally_parquet_ms", "e_added_ms"),
        )
    finally:
        conn.close()
    if not options.postgres_url:
        return
    with postgres.connect(options.postgres_url, options.rows) as pg:
        table = f"{postgres.schema(options.rows)}.bench_events"
        _timed(
            options,
            figures,
            {"postgres": {"url": options.postgres_url, "table": table}},
            "postgres",
            lambda s, p: pg.execute(s, p).fetchall(),
            ("f_raw_postgres_ms", "f_tally_postgres_ms", "f_added_ms"),
        )
