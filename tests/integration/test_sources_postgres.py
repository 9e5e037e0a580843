"""A PostgreSQL table created here (not by Tally), served in place: answers equal plain SQL over
the same rows, a tenant key sees only its tenant, and the source's catalog is the same before
and after a full run of questions and an attempted ingestion (a 405)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlglot import exp

from tally.config import ConfigError
from tally.sql.relations import table_relation
from tests.engines_support import PG_URL
from tests.helpers import bearer, live_app
from tests.integration.sources_support import (
    QUESTIONS,
    WINDOW,
    answer_rows,
    create_pg_table,
    dataset_file,
    make_rows,
    pg_runner,
    pg_schema,
    same_rows,
    sql_rows,
)

PG_SPELLED = {"country": "payload->'geo'->>'country'", "plan": "payload->>'plan'"}


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


def source_catalog(schema: str) -> dict[str, list[tuple]]:
    """Tables, columns and indexes of the schema, and the relations of the database whose
    names say they are Tally's built-in or this test's datasets."""
    with psycopg.connect(PG_URL) as conn:
        return {
            "tables": conn.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_schema = %s ORDER BY 1",
                [schema],
            ).fetchall(),
            "columns": conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2",
                [schema],
            ).fetchall(),
            "indexes": conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
                [schema],
            ).fetchall(),
            "elsewhere": conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_name LIKE %s ORDER BY 1, 2",
                [f"{schema}%"],
            ).fetchall(),
        }


def test_a_postgres_table_is_served_in_place_and_never_changed(
    tmp_path: Path, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = make_rows()
    create_pg_table(schema, rows)
    monkeypatch.setenv("SRC_PG_URL", PG_URL)
    name = schema  # the dataset is named after the schema: nothing of Tally's may appear
    dataset_file(
        tmp_path / "datasets",
        name,
        {"postgres": {"url": "${SRC_PG_URL}", "table": f"{schema}.events"}},
    )
    before = source_catalog(schema)
    spelled = {**PG_SPELLED, "rel": f'"{schema}".events'}
    with live_app(tmp_path, profiles="none") as live:
        for question in QUESTIONS:
            got = answer_rows(live.client, live.admin, name, question)
            want = sql_rows(pg_runner(schema), question, spelled)
            same_rows(got, want, len(question.group_by))

        _, token = live.keys.create("viewer", {"tenant_id": ("t_south",)}, name="south")
        scoped = {
            "dataset": name,
            "time": WINDOW,
            "group_by": ["tenant_id"],
            "measures": [{"op": "count", "as": "n"}, {"op": "sum", "field": "amount", "as": "s"}],
        }
        seen = live.client.post("/v1/query", json=scoped, headers=bearer(token)).json()["rows"]
        count, total = pg_runner(schema)(
            "SELECT count(*), sum(amount_cents) FROM {rel} WHERE tenant = 't_south'"
        )[0]
        assert seen == [{"tenant_id": "t_south", "n": count, "s": int(total)}]

        refused = live.client.post(
            f"/v1/datasets/{name}/rows",
            json=[{"tenant_id": "t_south", "id": 9999, "created_at": WINDOW["start"]}],
            headers=live.admin,
        )
        assert refused.status_code == 405
        assert refused.headers["allow"] == ""
        error = refused.json()["error"]
        assert error["code"] == "read_only" and "never writes" in error["message"]
        with pytest.raises(Exception, match="read in place"):
            live.service.tables.compact(name)
    assert source_catalog(schema) == before
    assert pg_runner(schema)("SELECT count(*) FROM {rel}")[0][0] == len(rows)


def test_the_source_sessions_are_read_only(
    tmp_path: Path, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even SQL Tally never sends is refused by the server: the sessions are read-only."""
    create_pg_table(schema, make_rows(30))
    dataset_file(
        tmp_path / "datasets", schema, {"postgres": {"url": PG_URL, "table": f"{schema}.events"}}
    )
    with live_app(tmp_path, profiles="none") as live:
        engine = live.service.readers.of(live.service.catalog.require(schema)).engine
        with pytest.raises(Exception, match="could not run"):
            engine.execute(exp.delete(table_relation(f"{schema}.events")).sql("postgres"), {}, 5)
    assert pg_runner(schema)("SELECT count(*) FROM {rel}")[0][0] == 30


def test_a_missing_source_column_names_the_file_and_field(tmp_path: Path, schema: str) -> None:
    create_pg_table(schema, make_rows(5))
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}".events DROP COLUMN user_id')
    path = dataset_file(
        tmp_path / "datasets", schema, {"postgres": {"url": PG_URL, "table": f"{schema}.events"}}
    )
    with pytest.raises(ConfigError) as failed, live_app(tmp_path, profiles="none"):
        pass
    assert str(path) in str(failed.value)
    assert "columns[5].name" in str(failed.value) and "'user_id'" in str(failed.value)


def test_an_unset_variable_or_a_missing_table_names_the_file(
    tmp_path: Path, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TALLY_TEST_UNSET_URL", raising=False)
    path = dataset_file(
        tmp_path / "datasets",
        schema,
        {"postgres": {"url": "${TALLY_TEST_UNSET_URL}", "table": "x"}},
    )
    with pytest.raises(ConfigError) as unset, live_app(tmp_path, profiles="none"):
        pass
    assert f"{path}: source.postgres: environment variable TALLY_TEST_UNSET_URL" in str(unset.value)
    dataset_file(
        tmp_path / "datasets", schema, {"postgres": {"url": PG_URL, "table": f"{schema}.nope"}}
    )
    with pytest.raises(ConfigError) as missing, live_app(tmp_path, profiles="none"):
        pass
    assert f"{path}: source.postgres: cannot read {schema}.nope" in str(missing.value)


def test_a_number_inside_json_that_is_not_one_reads_as_null(tmp_path: Path, schema: str) -> None:
    rows = make_rows(4)
    for row, n in zip(rows, ['{"n": 7}', '{"n": "12"}', '{"n": "n/a"}', "{}"], strict=True):
        row["payload"] = n
    create_pg_table(schema, rows)
    body = {
        "name": schema,
        "source": {"postgres": {"url": PG_URL, "table": f"{schema}.events"}},
        "tenant_columns": ["tenant_id"],
        "time_column": "created_at",
        "columns": [
            {"name": "tenant_id", "type": "string", "from": "tenant"},
            {"name": "id", "type": "int"},
            {"name": "created_at", "type": "timestamp"},
            {"name": "n", "type": "int", "from": "payload:n"},
        ],
    }
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / f"{schema}.yaml").write_text(yaml.safe_dump(body))
    query = {
        "dataset": schema,
        "time": WINDOW,
        "measures": [
            {"op": "sum", "field": "n", "as": "s"},
            {"op": "count", "field": "n", "as": "c"},
        ],
    }
    with live_app(tmp_path, profiles="none") as live:
        answer = live.client.post("/v1/query", json=query, headers=live.admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [{"s": 19, "c": 2}]
