"""SQL snapshots of the PostgreSQL and ClickHouse dialects, and their statements run for real.

The cases are those of the DuckDB snapshots (test_snapshots.py); each compiles to
`snapshots/<dialect>/<name>.sql` (regenerate with `TALLY_UPDATE_SNAPSHOTS=1` after reading the
diff). Every statement must also bind every user value as a parameter, keep the tenant predicate,
run on the engine (chDB in-process, the PostgreSQL of this machine), and put every stored instant
in the bucket `timebuckets.bucket_start` computes for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from tally.catalog import Catalog
from tally.catalog.arrow import arrow_schema
from tally.catalog.storage import table_spec
from tally.engines.base import Engine
from tally.query.scope import Scope
from tally.query.timebuckets import bucket_start, parse_interval
from tally.sql.capabilities import DIALECTS as DIALECTS_BY_NAME
from tally.sql.compiler import Compiled, Compiler
from tally.sql.dialect import Dialect
from tests.engines_support import engine_with_tables
from tests.sql.test_snapshots import (
    BUCKETS,
    CALENDAR_WINDOW,
    CASES,
    FIXED_WINDOW,
    HOSTILE,
    HOSTILE_FILTER,
    INSTANTS,
    _instant,
    check_snapshot,
    plan,
    render,
    user_values,
)

ROOT = Path(__file__).parent / "snapshots"
DIALECTS = ["postgres", "clickhouse"]
ENGINE_PARAMS = [
    pytest.param("clickhouse", id="clickhouse"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
PLACEHOLDERS = {
    "postgres": re.compile(r"%\((p\d+)\)s"),
    "clickhouse": re.compile(r"\{(p\d+): [^{}]+\}"),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _dialect(name: str) -> Dialect:
    return DIALECTS_BY_NAME[name]()


def compile_case(catalog: Catalog, dialect: Dialect, name: str) -> list[Compiled]:
    body, scope = CASES[name]
    query, dataset = plan(catalog, body)
    compiler = Compiler(dialect, dataset, Scope(columns=scope))
    out = [compiler.compile(query)]
    if query.compare is not None:
        out.append(compiler.compile(query, query.compare))
    return out


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def engine(
    request: pytest.FixtureRequest, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Dialect]]:
    """A real engine of the dialect with every catalog table created (and dropped after)."""
    root = tmp_path_factory.mktemp(f"snap-{request.param}")
    with engine_with_tables(request.param, root, catalog) as opened:
        yield opened


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_sql_snapshot(catalog: Catalog, dialect: str, name: str) -> None:
    compiled = compile_case(catalog, _dialect(dialect), name)
    check_snapshot(name, render(compiled), ROOT / dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_are_bound_and_the_scope_is_kept(catalog: Catalog, dialect: str, name: str) -> None:
    body, scope = CASES[name]
    ((column, (tenant,)),) = scope.items()
    for compiled in compile_case(catalog, _dialect(dialect), name):
        sql, params = compiled.sql, compiled.params
        assert set(PLACEHOLDERS[dialect].findall(sql)) == set(params)
        assert re.search(rf'WHERE "t"."{column}" IN \((%\(p0\)s|{{p0: String}})\)', sql), sql
        assert params["p0"] == tenant
        for value in user_values(body):
            assert str(value) not in sql, value


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_snapshot_file_belongs_to_a_case(dialect: str) -> None:
    stored = {p.stem for p in (ROOT / dialect).glob("*.sql")}
    assert stored and stored <= set(CASES), stored - set(CASES)


def test_postgres_sql_has_no_percent_sign_but_its_placeholders(catalog: Catalog) -> None:
    """psycopg reads `%` as the start of a placeholder; any other one would break a query."""
    for name in CASES:
        for compiled in compile_case(catalog, _dialect("postgres"), name):
            assert "%" not in PLACEHOLDERS["postgres"].sub("", compiled.sql), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot_sql_runs(catalog: Catalog, engine: tuple[Engine, Dialect], name: str) -> None:
    opened, dialect = engine
    for compiled in compile_case(catalog, dialect, name):
        columns, rows = opened.execute(compiled.sql, compiled.params, 10)
        assert [f"a{i}" for i in range(len(compiled.measures))] == [
            c for c in columns if c.startswith("a")
        ]
        assert isinstance(rows, list)


def test_hostile_string_is_harmless_when_run(
    catalog: Catalog, engine: tuple[Engine, Dialect]
) -> None:
    opened, dialect = engine
    query, dataset = plan(catalog, {"dataset": "agent_events", "filter": HOSTILE_FILTER})
    scope = Scope(columns={"workspace_id": (HOSTILE,)})
    compiled = Compiler(dialect, dataset, scope).compile(query)
    for fragment in (HOSTILE, "DROP", "x'"):
        assert fragment not in compiled.sql, fragment
    _, rows = opened.execute(compiled.sql, compiled.params, 10)
    assert rows[0][0] == 0
    _, rows = opened.execute('SELECT count(*) FROM "agent_events"', {}, 10)
    assert len(rows) == 1, "the table is still there"


@pytest.mark.parametrize(
    ("interval", "tz", "origin"), BUCKETS, ids=[f"{i}-{t}-{o or 'epoch'}" for i, t, o in BUCKETS]
)
def test_sql_buckets_agree_with_python(
    catalog: Catalog,
    engine: tuple[Engine, Dialect],
    interval: str,
    tz: str,
    origin: str | None,
) -> None:
    """Each stored instant lands in the bucket `timebuckets.bucket_start` computes for it."""
    opened, dialect = engine
    dataset = catalog.get("agent_events")
    assert dataset is not None
    iv = parse_interval(interval)
    lower, upper = (_instant(t) for t in (FIXED_WINDOW if iv.fixed else CALENDAR_WINDOW))
    tenant = f"ws_{interval}_{tz}_{origin}"
    stored = [_instant(t) for t in INSTANTS if lower <= _instant(t) < upper]
    events = [
        {"workspace_id": tenant, "brand_id": "b", "event_id": f"e{n}", "event_type": "v", "ts": ts}
        for n, ts in enumerate(stored)
    ]
    opened.write(table_spec(dataset), pa.Table.from_pylist(events, schema=arrow_schema(dataset)))
    group = {"time": interval, **({"origin": origin} if origin else {})}
    window = {"start": lower.isoformat(), "end": upper.isoformat()}
    query, _ = plan(
        catalog,
        {
            "dataset": "agent_events",
            "time": window,
            "timezone": tz,
            "group_by": ["event_id", group],
        },
    )
    scope = Scope(columns={"workspace_id": (tenant,)})
    compiled = Compiler(dialect, dataset, scope).compile(query)
    columns, result = opened.execute(compiled.sql, compiled.params, 10)
    got = {r[columns.index("g0")]: r[columns.index("_t")] for r in result}
    origin_at = datetime.fromisoformat(origin) if origin else None
    zone = ZoneInfo(tz)
    expected = {
        f"e{n}": int(bucket_start(ts, iv, zone, origin_at).timestamp() * 1000)
        for n, ts in enumerate(stored)
    }
    assert got == expected
