"""Tally's own tables never land in an external source's schema: a start-up whose owned engine
would create them there is refused, naming the dataset file, the schema and the way out, and
nothing is created (the schema's catalog is compared before and after)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest

from tally.config import ConfigError
from tests.engines_support import PG_URL
from tests.helpers import live_app
from tests.integration.sources_support import create_pg_table, dataset_file, make_rows, pg_schema


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


def _tables(schema: str) -> list[tuple]:
    with psycopg.connect(PG_URL) as conn:
        return conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY 1, 2",
            [schema],
        ).fetchall()


def _in_schema(schema: str) -> str:
    joiner = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{joiner}options=-csearch_path%3D{schema}"


@pytest.mark.postgres
@pytest.mark.parametrize("qualified", [True, False], ids=["schema.table", "table"])
def test_owned_postgres_in_the_source_schema_is_refused(
    tmp_path: Path, schema: str, qualified: bool
) -> None:
    create_pg_table(schema, make_rows(10))
    url = _in_schema(schema)
    table = f"{schema}.events" if qualified else "events"
    path = dataset_file(tmp_path / "datasets", schema, {"postgres": {"url": url, "table": table}})
    before = _tables(schema)
    with (
        pytest.raises(ConfigError) as refused,
        live_app(tmp_path, profiles="all", engine="postgres", postgres_url=url),
    ):
        pass
    message = str(refused.value)
    assert str(path) in message and "source.postgres.table" in message
    assert f"schema {schema!r}" in message and "search_path" in message
    assert _tables(schema) == before


@pytest.mark.postgres
def test_owned_postgres_in_another_schema_starts(tmp_path: Path, schema: str) -> None:
    """The way out the message gives works: the owned tables go to a schema of their own."""
    create_pg_table(schema, make_rows(10))
    with pg_schema() as own:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{own}"')
        dataset_file(
            tmp_path / "datasets",
            schema,
            {"postgres": {"url": PG_URL, "table": f"{schema}.events"}},
        )
        before = _tables(schema)
        with live_app(tmp_path, profiles="none", engine="postgres", postgres_url=_in_schema(own)):
            pass
        assert _tables(schema) == before


def test_the_owned_duckdb_file_as_a_source_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "data" / "tally.duckdb"
    database.parent.mkdir(parents=True)
    with duckdb.connect(str(database)) as conn:
        conn.execute(
            "CREATE TABLE events (tenant TEXT, id BIGINT, created_at TIMESTAMPTZ, kind TEXT, "
            "amount_cents BIGINT, user_id TEXT, payload TEXT)"
        )
    path = dataset_file(
        tmp_path / "datasets", "ev_dd", {"duckdb": {"path": str(database), "table": "events"}}
    )
    with pytest.raises(ConfigError) as refused, live_app(tmp_path, profiles="all"):
        pass
    message = str(refused.value)
    assert f"{path}: source.duckdb.path" in message and "Tally's own database file" in message
    with duckdb.connect(str(database), read_only=True) as conn:
        assert [r[0] for r in conn.execute("SHOW TABLES").fetchall()] == ["events"]


@pytest.mark.postgres
def test_a_reloaded_file_whose_source_is_in_the_owned_schema_is_refused(tmp_path: Path) -> None:
    with pg_schema() as own:
        create_pg_table(own, make_rows(10))
        (tmp_path / "datasets").mkdir()
        with live_app(
            tmp_path, profiles="none", engine="postgres", postgres_url=_in_schema(own)
        ) as live:
            dataset_file(
                tmp_path / "datasets",
                "ev_here",
                {"postgres": {"url": PG_URL, "table": f"{own}.events"}},
            )
            report = live.service.reloader.reload()
            assert report.added == []
            problems = [str(p) for p in report.problems]
            assert len(problems) == 1, problems
            assert "ev_here.yaml: source.postgres.table" in problems[0]
            assert f"schema {own!r}" in problems[0]
            assert live.service.catalog.get("ev_here") is None
