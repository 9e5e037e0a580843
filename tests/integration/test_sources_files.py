"""Files and embedded stores served in place: a hive-partitioned Parquet folder written here
(answers equal DuckDB over the files; a filter on the partition column opens only that
partition's file, as DuckDB's EXPLAIN ANALYZE shows), a DuckDB file and a chDB table."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from tally.errors import TallyError
from tests.engines_support import chdb_dir
from tests.helpers import live_app
from tests.integration.sources_support import (
    MONEY,
    OVER,
    QUESTIONS,
    TENANTS,
    answer_rows,
    arrow_rows,
    dataset_file,
    exact_totals,
    expected_totals,
    make_rows,
    same_rows,
    sql_rows,
    write_parquet_folder,
)

CLICKHOUSE_SPELLED = {
    "country": "JSONExtractString(payload, 'geo', 'country')",
    "plan": "JSONExtractString(payload, 'plan')",
}
DUCKDB_SPELLED = {
    "country": "json_extract_string(payload, '$.geo.country')",
    "plan": "json_extract_string(payload, '$.plan')",
}


def duckdb_sql(relation: str):
    def run(text: str) -> list[tuple]:
        with duckdb.connect() as conn:
            conn.execute("SET TimeZone = 'UTC'")
            return conn.execute(text.replace("{rel}", relation)).fetchall()

    return run


def files_read(live, body: dict[str, Any]) -> int:
    """How many Parquet files DuckDB opened to answer `body` (its EXPLAIN ANALYZE profile)."""
    shown = live.client.post("/v1/query/sql", json=body, headers=live.admin).json()
    engine = live.service.readers.of(live.service.catalog.require(body["dataset"])).engine
    _, plan = engine.execute("EXPLAIN ANALYZE " + shown["sql"], shown["params"], 30)
    counts = re.findall(r"Total Files Read: (\d+)", plan[0][1])
    assert counts, plan[0][1]
    return sum(int(n) for n in counts)


def test_a_hive_partitioned_parquet_folder_is_served_in_place_and_pruned(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    glob = write_parquet_folder(folder, make_rows())
    files_before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert len([p for p in files_before if p.suffix == ".parquet"]) == len(TENANTS)
    dataset_file(
        tmp_path / "datasets", "shop_files", {"parquet": {"path": glob, "hive_partitioning": True}}
    )
    relation = f"read_parquet('{glob}', hive_partitioning = true)"
    with live_app(tmp_path, profiles="none") as live:
        for question in QUESTIONS:
            got = answer_rows(live.client, live.admin, "shop_files", question)
            want = sql_rows(duckdb_sql(relation), question, {**DUCKDB_SPELLED, "rel": relation})
            same_rows(got, want, len(question.group_by))

        whole = QUESTIONS[1].body("shop_files")
        one = {**whole, "filter": {"field": "tenant_id", "op": "eq", "value": "t_east"}}
        assert files_read(live, whole) == len(TENANTS)
        assert files_read(live, one) == 1
        scoped = {**whole, "scope": {"tenant_id": "t_north"}}  # a tenant's scope prunes too
        assert files_read(live, scoped) == 1
        refused = live.client.post("/v1/datasets/shop_files/rows", json=[], headers=live.admin)
        assert refused.status_code == 405
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == files_before


def test_a_duckdb_file_is_attached_read_only_and_answers_like_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.register("batch", arrow_rows(make_rows(200)))
        conn.execute(
            "CREATE TABLE events AS SELECT * REPLACE (payload::JSON AS payload) FROM batch"
        )
    source = {"duckdb": {"path": str(path), "table": "events"}}
    dataset_file(tmp_path / "datasets", "shop_duck", source)

    def run(text: str) -> list[tuple]:
        with duckdb.connect() as conn:
            conn.execute(f"ATTACH '{path}' AS source (READ_ONLY)")
            conn.execute("SET TimeZone = 'UTC'")
            return conn.execute(text).fetchall()

    with live_app(tmp_path, profiles="none") as live:
        for question in QUESTIONS:
            got = answer_rows(live.client, live.admin, "shop_duck", question)
            want = sql_rows(run, question, {**DUCKDB_SPELLED, "rel": "source.events"})
            same_rows(got, want, len(question.group_by))
        reader = live.service.readers.of(live.service.catalog.require("shop_duck"))
        table = reader.relation.find(exp.Table).copy()
        table.set("alias", None)
        with pytest.raises(TallyError, match="could not run"):
            reader.engine.execute(exp.delete(table).sql("duckdb"), {}, 5)
    assert run("SELECT count(*) FROM source.events") == [(200,)]


def test_a_chdb_table_answers_like_clickhouse(tmp_path: Path) -> None:
    import chdb

    database = f"src_{uuid.uuid4().hex[:10]}"
    conn = chdb.connect(str(chdb_dir()))
    conn.query(f"CREATE DATABASE {database}")
    conn.query(
        f"CREATE TABLE {database}.events (tenant String, id Int64, "
        "created_at DateTime64(6, 'UTC'), kind String, amount_cents Nullable(Int64), "
        "user_id String, payload String) ENGINE = MergeTree ORDER BY (tenant, created_at)"
    )
    rows = make_rows(200)
    batch = arrow_rows(rows)  # noqa: F841 - read by chDB's Python() table function
    # the database name is generated above, never input
    conn.query(f"INSERT INTO {database}.events SELECT * FROM Python(batch)")  # noqa: S608
    url = f"chdb://{chdb_dir()}?database={database}"
    source = {"clickhouse": {"url": url, "table": f"{database}.events"}}
    dataset_file(tmp_path / "datasets", "shop_ch", source)
    dataset_file(tmp_path / "datasets", "ch_money", source, columns=MONEY)

    def run(text: str) -> list[tuple]:
        return [tuple(row.values()) for row in conn.query(text, "Arrowtable").to_pylist()]

    try:
        with live_app(tmp_path, profiles="none") as live:
            for question in QUESTIONS:
                got = answer_rows(live.client, live.admin, "shop_ch", question)
                want = sql_rows(run, question, {**CLICKHOUSE_SPELLED, "rel": f"{database}.events"})
                same_rows(got, want, len(question.group_by))
            assert exact_totals(live, "ch_money") == expected_totals(rows)
            assert exact_totals(live, "ch_money", OVER) == expected_totals(rows, OVER)
    finally:
        conn.query(f"DROP DATABASE IF EXISTS {database}")


def test_a_csv_file_is_read_in_place_like_duckdb_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    with duckdb.connect() as conn:
        conn.register("batch", arrow_rows(make_rows(150)))
        conn.execute(f"COPY batch TO '{path}' (FORMAT csv, HEADER, DELIMITER ';')")
    source = {"csv": {"path": str(path), "delimiter": ";"}}
    dataset_file(tmp_path / "datasets", "shop_csv", source)
    relation = f"read_csv('{path}', header = true, delim = ';')"
    with live_app(tmp_path, profiles="none") as live:
        for question in QUESTIONS:
            got = answer_rows(live.client, live.admin, "shop_csv", question)
            want = sql_rows(duckdb_sql(relation), question, {**DUCKDB_SPELLED, "rel": relation})
            same_rows(got, want, len(question.group_by))
