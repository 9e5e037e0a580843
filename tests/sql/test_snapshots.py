"""SQL snapshots of the DuckDB dialect: the exact statement and parameters a query compiles to.

Each case runs the service's sequence (validate, normalize with a fixed `now`, compile under a
tenant scope) and compares the result with `snapshots/duckdb/<name>.sql`. A changed statement
fails with a diff; after reading the diff, regenerate with `TALLY_UPDATE_SNAPSHOTS=1`.
Every snapshot is also checked for what must always hold: the scope predicate is there, every
user value is a `$pN` parameter, and the statement runs on DuckDB.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tally.catalog import Catalog
from tally.catalog.storage import table_spec
from tally.engines.duckdb import DuckDBEngine
from tally.errors import TallyError
from tally.ingest.rows import RowValidator
from tally.query.limits import Limits
from tally.query.model import Query, walk_leaves
from tally.query.normalize import normalize
from tally.query.scope import Scope
from tally.query.timebuckets import bucket_start, parse_interval
from tally.query.validate import validate
from tally.sql.compiler import Compiled, Compiler
from tally.sql.ddl import column_ddl, create_table
from tally.sql.duckdb import DuckDBDialect

SNAPSHOTS = Path(__file__).parent / "snapshots" / "duckdb"
UPDATE = os.environ.get("TALLY_UPDATE_SNAPSHOTS") == "1"
NOW = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)
LIMITS = Limits()
WS_A = {"workspace_id": ("ws_a",)}
HOSTILE = "x'; DROP TABLE agent_events; --"
PLACEHOLDER = re.compile(r"\$(p\d+)\b")
SRC_CTE = re.compile(r"^WITH src AS \((.*?)\), (?:ranked|agg) AS \(")


# --- the tiny snapshot helper ------------------------------------------------------------------


def check_snapshot(name: str, text: str, directory: Path = SNAPSHOTS) -> None:
    """Compare `text` with the stored snapshot; write it instead when updating."""
    path = directory / f"{name}.sql"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; run with TALLY_UPDATE_SNAPSHOTS=1 to create it")
    stored = path.read_text(encoding="utf-8")
    if stored != text:
        diff = "\n".join(
            difflib.unified_diff(
                stored.splitlines(),
                text.splitlines(),
                fromfile=f"{name}.sql (stored)",
                tofile=f"{name}.sql (compiled)",
                lineterm="",
            )
        )
        pytest.fail(f"SQL snapshot {name} changed:\n{diff}")


def _param(value: Any) -> str:
    if isinstance(value, datetime):
        return f"timestamp {value.isoformat()}"
    if isinstance(value, date):
        return f"date {value.isoformat()}"
    if isinstance(value, list):
        return "[" + ", ".join(_param(v) for v in value) + "]"
    return f"{type(value).__name__} {value!r}"


def render(compiled: list[Compiled]) -> str:
    """One text per case: a header of what the columns mean, the parameters, then the SQL."""
    parts = []
    for c in compiled:
        lines = [
            f"-- groups: {json.dumps(c.groups)}",
            f"-- measures: {json.dumps(c.measures)}",
            f"-- has_time: {c.has_time}, has_other: {c.has_other}",
            f"-- exact: {json.dumps(c.exact)}",
            "-- params:",
            *(f"--   ${k} = {_param(v)}" for k, v in c.params.items()),
            c.sql + ";",
        ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# --- the cases -----------------------------------------------------------------------------------

FILTER_EVERY_FAMILY = {
    "and": [
        {"field": "event_type", "op": "eq", "value": "purchase"},
        {"field": "event_type", "op": "neq", "value": "refund"},
        {"field": "brand_id", "op": "in", "value": ["brand_one", "brand_two"]},
        {"field": "agent_id", "op": "nin", "value": ["agent_x"]},
        {"field": "amount", "op": "gt", "value": 10.5},
        {"field": "amount", "op": "lte", "value": 9999.75},
        {"field": "quantity", "op": "gte", "value": 4321},
        {"field": "quantity", "op": "lt", "value": 7777},
        {"field": "price", "op": "between", "value": [1.25, 250.5]},
        {"field": "ts", "op": "gte", "value": "2026-11-03T12:00:00+01:00"},
        {"field": "session_id", "op": "contains", "value": "Sess", "case_insensitive": True},
        {"field": "product_id", "op": "not_contains", "value": "test"},
        {"field": "customer_id", "op": "starts_with", "value": "cust_"},
        {"field": "agent_id", "op": "ends_with", "value": "_bot"},
        {"field": "catalog_id", "op": "is_null"},
        {"field": "score", "op": "not_null"},
        {
            "or": [
                {"field": "metadata.channel", "op": "eq", "value": "email"},
                {"field": "metadata.discount", "op": "gt", "value": 1515},
                {"not": {"field": "metadata.coupon", "op": "starts_with", "value": "FREE"}},
            ]
        },
    ]
}

CASES: dict[str, tuple[dict[str, Any], dict[str, tuple[str, ...]]]] = {
    "count_plain": ({"dataset": "agent_events"}, WS_A),
    "filters_every_family": (
        {
            "dataset": "agent_events",
            "time": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"},
            "filter": FILTER_EVERY_FAMILY,
        },
        WS_A,
    ),
    "filters_arrays_and_maps": (
        {
            "dataset": "feedback",
            "filter": {
                "or": [
                    {"field": "scorer_tags", "op": "has_any", "value": ["toxic", "off_topic"]},
                    {"field": "scorer_tags", "op": "has_all", "value": ["slow", "verbose"]},
                    {"not": {"field": "scorer_tags", "op": "has_none", "value": ["flagged"]}},
                    {"field": "ratings._rating_", "op": "gte", "value": 0.75},
                ]
            },
            "measures": [{"op": "count"}, {"op": "avg", "field": "ratings._rating_"}],
        },
        {"project_id": ("proj_a",)},
    ),
    "metadata_key_group": (
        {
            "dataset": "agent_events",
            "group_by": ["metadata.channel"],
            "measures": [{"op": "count"}, {"op": "sum", "field": "metadata.discount"}],
            "filter": {"field": "metadata.campaign", "op": "in", "value": ["spring", "fall"]},
        },
        WS_A,
    ),
    "day_bucket_paris": (
        {
            "dataset": "agent_events",
            "time": {"last": "7d"},
            "timezone": "Europe/Paris",
            "group_by": [{"time": "1 day"}],
            "measures": [{"op": "count"}, {"op": "sum", "field": "amount", "as": "revenue"}],
            "fill": "zero",
        },
        WS_A,
    ),
    "hour_bucket": (
        {
            "dataset": "agent_events",
            "time": {"last": "24h"},
            "group_by": ["event_type", {"time": "1 hour"}],
        },
        WS_A,
    ),
    "week_bucket_dst": (
        {
            "dataset": "agent_events",
            "time": {"start": "2026-10-05T00:00:00+02:00", "end": "2026-11-02T00:00:00+01:00"},
            "timezone": "Europe/Paris",
            "group_by": [{"time": "1 week"}],
        },
        WS_A,
    ),
    "month_bucket": (
        {
            "dataset": "agent_events",
            "time": {"start": "2026-01-01T00:00:00-05:00", "end": "2027-01-01T00:00:00-05:00"},
            "timezone": "America/New_York",
            "group_by": [{"time": "1 month"}],
            "measures": [{"op": "avg", "field": "amount"}],
        },
        WS_A,
    ),
    "two_day_bucket_origin": (
        {
            "dataset": "agent_events",
            "time": {"start": "2026-10-20T00:00:00+02:00", "end": "2026-10-30T00:00:00+01:00"},
            "timezone": "Europe/Paris",
            "group_by": [{"time": "2 days", "origin": "2026-10-21T00:00:00+02:00"}],
        },
        WS_A,
    ),
    "fifteen_minute_bucket_origin": (
        {
            "dataset": "agent_events",
            "time": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T06:00:00Z"},
            "group_by": [{"time": "15 minutes", "origin": "2026-11-01T00:05:00Z"}],
        },
        WS_A,
    ),
    "quarter_bucket_origin": (
        {
            "dataset": "agent_events",
            "time": {"start": "2026-02-01T00:00:00+01:00", "end": "2027-02-01T00:00:00+01:00"},
            "timezone": "Europe/Paris",
            "group_by": [{"time": "3 months", "origin": "2026-02-01T00:00:00+01:00"}],
        },
        WS_A,
    ),
    "top_other": (
        {
            "dataset": "agent_events",
            "group_by": ["product_id"],
            "measures": [
                {"op": "count"},
                {"op": "count_distinct", "field": "session_id"},
                {"op": "sum", "field": "amount", "as": "revenue"},
            ],
            "order_by": [{"field": "revenue", "dir": "desc"}],
            "top": {"n": 5, "other": True},
        },
        WS_A,
    ),
    "having_order_limit": (
        {
            "dataset": "agent_events",
            "group_by": ["event_type", "agent_id"],
            "measures": [{"op": "count"}, {"op": "avg", "field": "duration_ms", "as": "avg_ms"}],
            "having": {
                "and": [
                    {"field": "count", "op": "gte", "value": 4242},
                    {
                        "or": [
                            {"field": "avg_ms", "op": "between", "value": [150.5, 900.25]},
                            {"not": {"field": "avg_ms", "op": "is_null"}},
                        ]
                    },
                ]
            },
            "order_by": [{"field": "avg_ms", "dir": "desc"}, {"field": "agent_id"}],
            "limit": 25,
            "offset": 50,
        },
        WS_A,
    ),
    "percentile_count_distinct": (
        {
            "dataset": "agent_events",
            "group_by": ["event_type"],
            "measures": [
                {"op": "percentile", "field": "duration_ms", "q": 0.975},
                {"op": "p50", "field": "duration_ms"},
                {"op": "p99", "field": "duration_ms", "approx": True},
                {"op": "count_distinct", "field": "session_id"},
                {"op": "count_distinct", "field": "customer_id", "approx": True},
            ],
        },
        WS_A,
    ),
    "date_time_column_nested_record": (
        {
            "dataset": "invoices",
            "time": {"start": "2026-10-01T00:00:00+02:00", "end": "2026-11-01T00:00:00+01:00"},
            "timezone": "Europe/Paris",
            "group_by": ["grand_total.currency", {"time": "1 week"}],
            "measures": [{"op": "sum", "field": "grand_total.amount"}],
            "filter": {"field": "status", "op": "in", "value": ["paid", "overdue"]},
        },
        WS_A,
    ),
    "compare_previous_period": (
        {
            "dataset": "agent_events",
            "time": {"last": "7d"},
            "group_by": [{"time": "1 day"}],
            "compare": "previous_period",
        },
        WS_A,
    ),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def plan(catalog: Catalog, body: dict[str, Any]) -> tuple[Query, Any]:
    """What `Service.plan` does before SQL: parse, validate, normalize with a fixed now."""
    query = Query.model_validate(body)
    dataset = catalog.get(query.dataset)
    assert dataset is not None
    validate(query, dataset, LIMITS)
    return normalize(query, NOW, LIMITS), dataset


def compile_case(catalog: Catalog, name: str) -> list[Compiled]:
    body, scope = CASES[name]
    query, dataset = plan(catalog, body)
    compiler = Compiler(DuckDBDialect(), dataset, Scope(columns=scope))
    out = [compiler.compile(query)]
    if query.compare is not None:
        out.append(compiler.compile(query, query.compare))
    return out


def user_values(body: dict[str, Any]) -> list[Any]:
    """Every scalar value a request puts into a filter or having leaf."""
    query = Query.model_validate(body)
    found: list[Any] = []
    for node in (query.filter, query.having):
        for leaf, _ in walk_leaves(node):
            items = leaf.value if isinstance(leaf.value, list) else [leaf.value]
            found += [v for v in items if v is not None]
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_sql_snapshot(catalog: Catalog, name: str) -> None:
    check_snapshot(name, render(compile_case(catalog, name)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_scope_predicate_and_parameters(catalog: Catalog, name: str) -> None:
    body, scope = CASES[name]
    values = user_values(body)
    for compiled in compile_case(catalog, name):
        sql, params = compiled.sql, compiled.params
        ((column, (tenant,)),) = scope.items()
        # the tenant scope is the first condition of the WHERE on the stored rows
        src = SRC_CTE.search(sql)
        assert src is not None, sql
        assert f'WHERE "t"."{column}" IN ($p0)' in src.group(1)
        assert params["p0"] == tenant
        assert f'"t"."{column}"' not in sql.replace(src.group(1), "")
        # every placeholder is bound and every parameter is used
        assert set(PLACEHOLDER.findall(sql)) == set(params)
        # user values live in the parameters, never in the text
        for value in values:
            assert str(value) not in sql, value
        bound = [x for v in params.values() for x in (v if isinstance(v, list) else [v])]
        for value in values:
            if isinstance(value, str) and value.startswith("2026-"):
                continue  # timestamps are bound as datetimes
            expected = value.lower() if value == "Sess" else value
            assert expected in bound, value


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot_sql_runs_on_duckdb(catalog: Catalog, name: str) -> None:
    engine = DuckDBEngine(None)
    try:
        dialect = DuckDBDialect()
        for dataset in catalog:
            engine.ensure_table(
                create_table(dataset, dialect), table_spec(dataset), column_ddl(dataset, dialect)
            )
        for compiled in compile_case(catalog, name):
            columns, rows = engine.execute(compiled.sql, compiled.params, 10)
            assert [f"a{i}" for i in range(len(compiled.measures))] == [
                c for c in columns if c.startswith("a")
            ]
            assert isinstance(rows, list)
    finally:
        engine.close()


# Instants around the end of summer time in Europe (2026-10-25 01:00 UTC) and month ends.
INSTANTS = [
    "2026-01-31T23:30:00Z",
    "2026-03-29T00:30:00Z",
    "2026-06-30T22:30:00Z",
    "2026-10-24T21:59:59Z",
    "2026-10-24T22:00:00Z",
    "2026-10-25T00:30:00Z",
    "2026-10-25T00:59:59.999Z",
    "2026-10-25T01:00:00Z",
    "2026-10-25T05:17:33.250Z",
    "2026-10-25T22:59:59Z",
    "2026-10-25T23:00:00Z",
    "2026-10-26T04:44:44Z",
    "2026-12-31T23:30:00Z",
]
FIXED_WINDOW = ("2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z")
CALENDAR_WINDOW = ("2026-01-01T00:00:00Z", "2027-01-05T00:00:00Z")
BUCKETS = [
    ("1 hour", "UTC", None),
    ("1 hour", "Asia/Kolkata", None),
    ("15 minutes", "UTC", "2026-11-01T00:05:00Z"),
    ("90 seconds", "Europe/Paris", "2026-10-25T00:00:07+02:00"),
    ("1 day", "Europe/Paris", None),
    ("1 day", "America/New_York", None),
    ("2 days", "Europe/Paris", "2026-10-21T00:00:00+02:00"),
    ("1 week", "Europe/Paris", None),
    ("1 month", "Europe/Paris", None),
    ("1 month", "UTC", "2026-02-15T00:00:00Z"),
    ("3 months", "Europe/Paris", "2026-02-01T00:00:00+01:00"),
    ("3 months", "UTC", None),
]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("interval", "tz", "origin"), BUCKETS, ids=[f"{i}-{t}-{o or 'epoch'}" for i, t, o in BUCKETS]
)
def test_sql_buckets_agree_with_python(
    catalog: Catalog, interval: str, tz: str, origin: str | None
) -> None:
    """Each stored instant lands in the bucket `timebuckets.bucket_start` computes for it."""
    dataset = catalog.get("agent_events")
    assert dataset is not None
    iv = parse_interval(interval)
    start, end = FIXED_WINDOW if iv.fixed else CALENDAR_WINDOW
    instants = {
        f"e{i}": _instant(t)
        for i, t in enumerate(INSTANTS)
        if _instant(start) <= _instant(t) < _instant(end)
    }
    validator = RowValidator(dataset)
    rows = []
    for event_id, ts in instants.items():
        raw = {"workspace_id": "ws_a", "brand_id": "b", "event_id": event_id}
        clean, problems = validator.check(0, {**raw, "event_type": "view", "ts": ts.isoformat()})
        assert clean is not None, problems
        rows.append(clean)
    group: dict[str, Any] = {"time": interval}
    if origin is not None:
        group["origin"] = origin
    body = {
        "dataset": "agent_events",
        "time": {"start": start, "end": end},
        "timezone": tz,
        "group_by": ["event_id", group],
    }
    query, _ = plan(catalog, body)
    compiled = Compiler(DuckDBDialect(), dataset, Scope(columns=WS_A)).compile(query)
    engine = DuckDBEngine(None)
    try:
        dialect = DuckDBDialect()
        engine.ensure_table(
            create_table(dataset, dialect), table_spec(dataset), column_ddl(dataset, dialect)
        )
        engine.write(table_spec(dataset), validator.to_arrow(rows))
        columns, result = engine.execute(compiled.sql, compiled.params, 10)
    finally:
        engine.close()
    got = {r[columns.index("g0")]: r[columns.index("_t")] for r in result}
    zone = ZoneInfo(tz)
    origin_at = datetime.fromisoformat(origin) if origin else None
    expected = {
        event_id: int(bucket_start(ts, iv, zone, origin_at).timestamp() * 1000)
        for event_id, ts in instants.items()
    }
    assert got == expected


def test_every_snapshot_file_belongs_to_a_case() -> None:
    stored = {p.stem for p in SNAPSHOTS.glob("*.sql")}
    assert stored <= set(CASES), stored - set(CASES)


HOSTILE_FILTER = {
    "or": [
        {"field": "event_type", "op": "eq", "value": HOSTILE},
        {"field": "event_type", "op": "in", "value": ["ok", HOSTILE]},
        {"field": "event_type", "op": "nin", "value": [HOSTILE]},
        {"field": "product_id", "op": "contains", "value": HOSTILE},
        {"field": "product_id", "op": "contains", "value": HOSTILE, "case_insensitive": True},
        {"field": "product_id", "op": "starts_with", "value": HOSTILE},
        {"field": "product_id", "op": "ends_with", "value": HOSTILE},
        {"field": "product_id", "op": "between", "value": [HOSTILE, HOSTILE + "z"]},
        {"field": "metadata.channel", "op": "eq", "value": HOSTILE},
        {"field": "metadata.channel", "op": "not_contains", "value": HOSTILE},
    ]
}


def test_hostile_string_only_travels_as_a_parameter(catalog: Catalog) -> None:
    query, dataset = plan(catalog, {"dataset": "agent_events", "filter": HOSTILE_FILTER})
    scope = Scope(columns={"workspace_id": (HOSTILE,)})
    compiled = Compiler(DuckDBDialect(), dataset, scope).compile(query)
    for fragment in (HOSTILE, "DROP", "x'", "--"):
        assert fragment not in compiled.sql, fragment
    flat = [x for v in compiled.params.values() for x in (v if isinstance(v, list) else [v])]
    # scope, eq, in, nin, contains, starts_with, ends_with, between, metadata eq / not_contains
    assert flat.count(HOSTILE) == 10
    assert HOSTILE.lower() in flat
    assert set(PLACEHOLDER.findall(compiled.sql)) == set(compiled.params)


def test_hostile_string_is_harmless_when_run(catalog: Catalog) -> None:
    engine = DuckDBEngine(None)
    try:
        dialect = DuckDBDialect()
        dataset = catalog.get("agent_events")
        assert dataset is not None
        engine.ensure_table(
            create_table(dataset, dialect), table_spec(dataset), column_ddl(dataset, dialect)
        )
        query, _ = plan(catalog, {"dataset": "agent_events", "filter": HOSTILE_FILTER})
        compiled = Compiler(dialect, dataset, Scope(columns={"workspace_id": (HOSTILE,)})).compile(
            query
        )
        _, rows = engine.execute(compiled.sql, compiled.params, 10)
        assert rows[0][0] == 0
        # the table is still there
        engine.execute('SELECT count(*) FROM "agent_events"', {}, 10)
    finally:
        engine.close()


@pytest.mark.parametrize(
    "scope",
    [Scope(), Scope(columns={}), None, {"workspace_id": ("ws_a",)}],
    ids=["empty", "empty-columns", "none", "plain-dict"],
)
def test_compiler_refuses_a_missing_scope(catalog: Catalog, scope: Any) -> None:
    dataset = catalog.get("agent_events")
    assert dataset is not None
    with pytest.raises(TallyError) as raised:
        Compiler(DuckDBDialect(), dataset, scope)
    assert raised.value.status == 403
    assert raised.value.code == "forbidden"


def test_unrestricted_scope_compiles_without_a_tenant_predicate(catalog: Catalog) -> None:
    query, dataset = plan(catalog, {"dataset": "agent_events"})
    compiled = Compiler(DuckDBDialect(), dataset, Scope.everything()).compile(query)
    assert "workspace_id" not in compiled.sql
    assert compiled.params == {}
