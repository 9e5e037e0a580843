"""Every dialect maps every operation or refuses it at compile time with a clear error.

A dialect that cannot spell an operation raises `Unsupported` ("X is not supported on ENGINE")
while the query is compiled, before any engine sees SQL, and the API answers 400 with that
message. `GET /v1/capabilities` serves the same facts, read off the dialects themselves.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.catalog import Catalog
from tally.config import Settings
from tally.query.model import Query
from tally.query.normalize import normalize
from tally.query.scope import Scope
from tally.service import Service
from tally.sql.capabilities import DIALECTS, capability_table
from tally.sql.compiled import EXACT_BOUND, Compiled
from tally.sql.compiler import Compiler
from tally.sql.dialect import Unsupported
from tally.sql.duckdb import DuckDBDialect
from tally.wiring import build_service, open_engine
from tests.helpers import bearer
from tests.sql.test_snapshots import NOW


class NoPercentiles(DuckDBDialect):
    """DuckDB's spelling minus percentiles and JSON: an engine that lacks two operations."""

    name = "sketchdb"

    def percentile(self, value, q, approx):
        raise Unsupported(self.name, "percentiles")

    def json_text(self, column, key):
        raise Unsupported(self.name, "JSON keys")


def _compile(dialect, body: dict) -> Compiled:
    catalog = Catalog.load()
    query = Query.model_validate(body)
    dataset = catalog.get(query.dataset)
    assert dataset is not None
    normalized = normalize(query, NOW, Settings().limits)
    scope = Scope(columns={"workspace_id": ("ws_a",)})
    return Compiler(dialect, dataset, scope).compile(normalized)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"dataset": "agent_events", "measures": [{"op": "p95", "field": "duration_ms"}]},
            "percentiles is not supported on sketchdb",
        ),
        (
            {"dataset": "agent_events", "group_by": ["metadata.channel"]},
            "JSON keys is not supported on sketchdb",
        ),
    ],
)
def test_an_unmapped_operation_fails_at_compile_time(body: dict, message: str) -> None:
    with pytest.raises(Unsupported) as raised:
        _compile(NoPercentiles(), body)
    assert (raised.value.code, raised.value.status, raised.value.message) == (
        "not_supported",
        400,
        message,
    )


def test_the_same_query_compiles_where_the_operation_exists() -> None:
    for cls in DIALECTS.values():
        _compile(cls(), {"dataset": "agent_events", "measures": [{"op": "p95", "field": "score"}]})


def test_an_unsupported_query_is_a_400_with_the_reason(tmp_path) -> None:
    settings = Settings.from_env(data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets")
    engine, _ = open_engine(settings)
    service = Service(settings, Catalog.load(), engine, NoPercentiles())
    service.tables.ensure()
    app = create_app(settings, service)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True)
        body = {"dataset": "agent_events", "measures": [{"op": "p50", "field": "amount"}]}
        response = client.post("/v1/query", json=body, headers=bearer(token))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "not_supported",
        "percentiles is not supported on sketchdb",
    )
    assert "SELECT" not in response.text


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_every_engine_maps_every_operation(name: str) -> None:
    table = capability_table(DIALECTS[name]())
    missing = {op: why for op, why in table["operations"].items() if why is not True}
    assert not missing
    assert len(table["operations"]) >= 30


def test_the_capability_table_reports_what_is_missing() -> None:
    operations = capability_table(NoPercentiles())["operations"]
    assert operations["percentile"] == "percentiles is not supported on sketchdb"
    assert operations["json keys"] == "JSON keys is not supported on sketchdb"
    assert operations["bucket 1 week"] is True


def test_capabilities_endpoint(tmp_path) -> None:
    settings = Settings.from_env(data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets")
    app = create_app(settings, build_service(settings))
    with TestClient(app) as client:
        assert client.get("/v1/capabilities").status_code == 401
        _, token = app.state.keys.create("viewer", {"workspace_id": ("ws_a",)})
        response = client.get("/v1/capabilities", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert (body["engine"], body["dialect"]) == ("duckdb", "duckdb")
    assert set(body["engines"]) == {"duckdb", "clickhouse", "postgres"}
    assert body["operations"]["percentile"] is True
    assert "exact" in body["engines"]["postgres"]["notes"]["percentile approx"]


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("postgres", "TALLY_ENGINE=postgres needs TALLY_POSTGRES_URL"),
        ("clickhouse", "TALLY_ENGINE=clickhouse needs TALLY_CLICKHOUSE_URL"),
    ],
)
def test_engine_settings_are_checked(tmp_path, engine: str, message: str) -> None:
    settings = Settings.from_env(
        data_dir=tmp_path, engine=engine, postgres_url=None, clickhouse_url=None
    )
    with pytest.raises(ValueError, match=message):
        open_engine(settings)


def test_an_unknown_engine_is_refused_with_the_known_ones(tmp_path) -> None:
    with pytest.raises(ValueError, match="expected one of duckdb, postgres, clickhouse"):
        Settings.from_env(data_dir=tmp_path, engine="oracle")


@pytest.mark.parametrize("name", sorted(DIALECTS))
@pytest.mark.parametrize(
    "measure",
    [
        {"op": "count"},
        {"op": "sum", "field": "duration_ms"},
        {"op": "avg", "field": "duration_ms"},
        {"op": "min", "field": "score"},
        {"op": "count_distinct", "field": "session_id"},
        {"op": "p95", "field": "score"},
    ],
    ids=lambda m: m["op"],
)
def test_an_approx_measure_is_labelled_estimated_only_where_its_sql_estimates(
    name: str, measure: dict
) -> None:
    """`approx` may leave the SQL as it is (a sum; PostgreSQL's distinct counts and
    percentiles): then the value is exact and says so. Where it changes the SQL (an engine's
    approximate function), the value says it is the engine's estimate."""
    dialect = DIALECTS[name]()
    body = {"dataset": "agent_events", "measures": [measure]}
    exact = _compile(dialect, body)
    approx = _compile(dialect, {**body, "measures": [{**measure, "approx": True}]})
    (label,) = approx.exact
    estimated = approx.sql != exact.sql
    assert approx.exact[label] is not estimated
    assert approx.error[label] == ({"method": "engine"} if estimated else EXACT_BOUND)
    assert exact.exact[label] is True and not exact.error
