"""A source that changes under a running server (a column renamed in PostgreSQL, a Parquet
folder moved away) is a 503 `source_unavailable` with Retry-After, naming the dataset and never
showing SQL or the source's URL; an owned dataset's answers are not touched by it."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from tests.engines_support import PG_URL
from tests.helpers import live_app
from tests.integration.sources_support import (
    WINDOW,
    create_pg_table,
    dataset_file,
    make_rows,
    pg_schema,
    write_parquet_folder,
)


def _ask(live, name: str):
    body = {"dataset": name, "time": WINDOW, "measures": [{"op": "count", "as": "n"}]}
    return live.client.post("/v1/query", json=body, headers=live.admin)


def _unavailable(answer, name: str, secret: str) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    error = answer.json()["error"]
    assert error["code"] == "source_unavailable"
    assert f"dataset {name} could not be read" in error["message"]
    for leaked in ("SELECT", "select", secret):
        assert leaked not in answer.text


def test_a_renamed_postgres_column_is_a_503_naming_the_dataset(tmp_path: Path) -> None:
    rows = make_rows(30)
    with pg_schema() as schema:
        create_pg_table(schema, rows)
        dataset_file(
            tmp_path / "datasets",
            schema,
            {"postgres": {"url": PG_URL, "table": f"{schema}.events"}},
        )
        with live_app(tmp_path, profiles="none", cache_enabled=False) as live:
            first = _ask(live, schema)
            assert first.status_code == 200 and first.json()["rows"] == [{"n": len(rows)}]
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("ALTER TABLE {}.events RENAME COLUMN kind TO kind2").format(
                        sql.Identifier(schema)
                    )
                )
            _unavailable(_ask(live, schema), schema, PG_URL)


def test_a_moved_parquet_folder_is_a_503_and_owned_datasets_still_answer(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    glob = write_parquet_folder(folder, make_rows(30))
    dataset_file(
        tmp_path / "datasets", "ev_pq", {"parquet": {"path": glob, "hive_partitioning": True}}
    )
    dataset_file(tmp_path / "datasets", "ev_owned", None)
    with live_app(tmp_path, profiles="none", cache_enabled=False) as live:
        assert _ask(live, "ev_pq").status_code == 200
        folder.rename(tmp_path / "moved")
        _unavailable(_ask(live, "ev_pq"), "ev_pq", str(folder))
        owned = _ask(live, "ev_owned")
        assert owned.status_code == 200 and owned.json()["rows"] == [{"n": 0}]
