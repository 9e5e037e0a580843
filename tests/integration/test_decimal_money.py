"""Money is exact on every engine: decimal columns are stored and summed without float error.

10,000 random amounts with two decimals (sent as JSON numbers and as numeric strings) are
ingested over HTTP into DuckDB, chDB and PostgreSQL. Sums, minimums and maximums must equal
Python's exact `Decimal` arithmetic over the same amounts, and the answer's JSON text must print
each sum as the decimal's own digits (the shortest repr of the nearest double), never with float
noise: 0.1 + 0.2 is 0.3, not 0.30000000000000004. Filters compare exactly, refusals name the row
and the field, and a filter value with more places than the column's scale is refused.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.wiring import build_service
from tests.engines_support import ENGINE_PARAMS, isolated_settings
from tests.helpers import bearer

LEDGER_TOML = """
name = "ledger"
tenant_columns = ["tenant"]
time_column = "ts"
key_columns = ["id"]
columns = [
  { name = "tenant", type = "string", nullable = false },
  { name = "id", type = "string", nullable = false },
  { name = "ts", type = "timestamp", nullable = false },
  { name = "amount", type = "decimal", scale = 2 },
  { name = "rate", type = "decimal", scale = 6, nullable = false },
]
"""
ROWS = 10_000
TENANTS = ("acme", "globex", "initech")
START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}


def _amount(rng: random.Random) -> Decimal | None:
    if rng.random() < 0.05:
        return None
    cents = rng.randint(-50_000, 5_000_000) if rng.random() < 0.95 else rng.randint(0, 10**12)
    return Decimal(cents).scaleb(-2)


def _wire(value: Decimal, i: int) -> Any:
    """Every other amount as a numeric string, the rest as JSON numbers (as a client sends)."""
    return str(value) if i % 2 else float(value)


def make_rows(seed: int = 19) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(ROWS):
        rows.append(
            {
                "tenant": TENANTS[i % len(TENANTS)],
                "id": f"r{i:05d}",
                "ts": (START + timedelta(minutes=i)).isoformat(),
                "amount": _amount(rng),
                "rate": Decimal(rng.randint(0, 10**7)).scaleb(-6),
            }
        )
    # the classic: 0.1 + 0.2 in a tenant of its own
    for i, cents in enumerate(("0.1", "0.2")):
        rows.append(
            {
                "tenant": "tiny",
                "id": f"tiny{i}",
                "ts": START.isoformat(),
                "amount": Decimal(cents),
                "rate": Decimal("0.000001"),
            }
        )
    return rows


def on_the_wire(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "amount": None if row["amount"] is None else _wire(row["amount"], i),
            "rate": _wire(row["rate"], i + 1),
        }
        for i, row in enumerate(rows)
    ]


@dataclass
class Deployment:
    client: TestClient
    headers: dict[str, str]
    rows: list[dict[str, Any]]

    def query(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        body = {"dataset": "ledger", "time": WINDOW, **body}
        response = self.client.post("/v1/query", json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json(), response.text

    def ingest(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.client.post(
            "/v1/datasets/ledger/rows", content=orjson.dumps(rows), headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp(f"money-{request.param}")
    datasets = root / "datasets"
    datasets.mkdir()
    (datasets / "ledger.toml").write_text(LEDGER_TOML, encoding="utf-8")
    rows = make_rows()
    with isolated_settings(request.param, root, datasets) as settings:
        service = build_service(settings)
        app = create_app(settings, service)
        with TestClient(app) as client:
            _, token = app.state.keys.create("admin", {}, all_tenants=True, name="money")
            deployment = Deployment(client, bearer(token), rows)
            answer = deployment.ingest(on_the_wire(rows))
            assert (answer["accepted"], answer["rejected"]) == (len(rows), [])
            yield deployment
        service.engine.close()


def _exact(rows: list[dict[str, Any]], field: str) -> dict[str, dict[str, Any]]:
    """Per tenant: the exact sum, min, max and count of `field`, in Decimal arithmetic."""
    out: dict[str, dict[str, Any]] = {}
    for tenant in sorted({r["tenant"] for r in rows}):
        values = [r[field] for r in rows if r["tenant"] == tenant and r[field] is not None]
        out[tenant] = {"sum": sum(values, Decimal(0)), "min": min(values), "max": max(values)}
    return out


def _printed(text: str, label: str) -> list[str]:
    """The numbers of `label` in an answer's JSON text, spelled as Python's repr spells them
    (orjson writes `2e-6` where repr writes `2e-06`; both are the shortest digits)."""
    found = re.findall(rf'"{re.escape(label)}":(-?[0-9][0-9.eE+-]*)', text)
    return [repr(float(t)) for t in found]


@pytest.mark.parametrize("field", ["amount", "rate"])
def test_sum_min_max_equal_exact_decimal_arithmetic(deployment: Deployment, field: str) -> None:
    exact = _exact(deployment.rows, field)
    measures = [{"op": op, "field": field, "as": op} for op in ("sum", "min", "max")]
    answer, text = deployment.query({"group_by": ["tenant"], "measures": measures})
    got = {row["tenant"]: row for row in answer["rows"]}
    assert set(got) == set(exact)
    for tenant, wanted in exact.items():
        for op in ("sum", "min", "max"):
            assert got[tenant][op] == float(wanted[op]), (tenant, op, got[tenant][op], wanted[op])
    # the JSON text carries the decimal's digits: repr of the nearest double, no noise
    sums = sorted(_printed(text, "sum"), key=float)
    assert sums == sorted((repr(float(e["sum"])) for e in exact.values()), key=float)
    # not vacuous: summed as doubles, these amounts give other numbers than the exact sums
    float_sums = {
        tenant: sum(float(r[field]) for r in deployment.rows if r["tenant"] == tenant and r[field])
        for tenant in exact
    }
    assert sum(float_sums[t] != float(e["sum"]) for t, e in exact.items()) >= 3


def test_a_tenth_and_two_tenths_sum_to_three_tenths(deployment: Deployment) -> None:
    body = {"filter": {"field": "tenant", "op": "eq", "value": "tiny"}}
    _, text = deployment.query({**body, "measures": [{"op": "sum", "field": "amount"}]})
    assert _printed(text, "sum_amount") == ["0.3"], text
    assert "0.30000000000000004" not in text


def test_the_grand_total_of_all_tenants_is_exact(deployment: Deployment) -> None:
    total = sum((r["amount"] for r in deployment.rows if r["amount"] is not None), Decimal(0))
    answer, text = deployment.query({"measures": [{"op": "sum", "field": "amount", "as": "t"}]})
    assert answer["rows"][0]["t"] == float(total)
    assert _printed(text, "t") == [repr(float(total))]
    amounts = [float(r["amount"]) for r in deployment.rows if r["amount"] is not None]
    assert sum(amounts) != float(total)  # what a double column would have answered


def test_avg_and_percentiles_are_numbers_close_to_the_exact_ones(deployment: Deployment) -> None:
    values = sorted(r["amount"] for r in deployment.rows if r["amount"] is not None)
    measures = [
        {"op": "avg", "field": "amount", "as": "avg"},
        {"op": "percentile", "field": "amount", "q": 0.5, "as": "median"},
    ]
    answer, _ = deployment.query({"measures": measures})
    row = answer["rows"][0]
    assert row["avg"] == pytest.approx(float(sum(values) / len(values)), rel=1e-12)
    middle = (len(values) - 1) / 2
    low, high = values[int(middle)], values[-(-int(middle * 2) // 2)]
    assert row["median"] == pytest.approx(float((low + high) / 2), rel=1e-12)


FILTERS = [
    ("eq", "12.30", lambda v: v == Decimal("12.30")),
    ("eq", 0.1, lambda v: v == Decimal("0.1")),
    ("gt", 1000.01, lambda v: v > Decimal("1000.01")),
    ("lte", "-0.5", lambda v: v <= Decimal("-0.5")),
    ("in", [0.1, "0.2", 55.55], lambda v: v in {Decimal("0.1"), Decimal("0.2"), Decimal("55.55")}),
    ("between", ["100", 200.5], lambda v: Decimal(100) <= v <= Decimal("200.5")),
    ("neq", 0.2, lambda v: v != Decimal("0.2")),
]


@pytest.mark.parametrize(("op", "value", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_compare_decimals_exactly(deployment: Deployment, op, value, keep) -> None:
    kept = [r["amount"] for r in deployment.rows if r["amount"] is not None and keep(r["amount"])]
    body = {
        "filter": {"field": "amount", "op": op, "value": value},
        "measures": [{"op": "count", "as": "n"}, {"op": "sum", "field": "amount", "as": "s"}],
    }
    answer, _ = deployment.query(body)
    row = answer["rows"][0]
    assert row["n"] == len(kept)
    assert (row["s"] or 0) == float(sum(kept, Decimal(0)))


def test_an_equality_filter_on_a_sum_that_floats_get_wrong(deployment: Deployment) -> None:
    """Every stored amount of the tenant matched by its exact value: in doubles, 0.1 and the
    stored 0.1 may differ in the last bit on one engine and not another."""
    some = [r for r in deployment.rows if r["amount"] is not None][:40]
    values = sorted({str(r["amount"]) for r in some})
    body = {
        "filter": {"field": "amount", "op": "in", "value": values},
        "measures": [{"op": "count", "as": "n"}],
    }
    wanted = sum(1 for r in deployment.rows if str(r["amount"]) in set(values))
    assert deployment.query(body)[0]["rows"][0]["n"] == wanted


def test_a_filter_value_with_more_places_than_the_scale_is_refused(
    deployment: Deployment,
) -> None:
    body = {
        "dataset": "ledger",
        "time": WINDOW,
        "filter": {"field": "amount", "op": "gt", "value": 0.125},
        "measures": [{"op": "count"}],
    }
    response = deployment.client.post("/v1/query", json=body, headers=deployment.headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "more than 2 digits after the point" in response.text
    assert error["details"][0]["path"].startswith("/filter"), error


BAD = [
    (12.345, "more than 2 digits after the point"),
    ("12.345", "more than 2 digits after the point"),
    ("1e2", "numeric string"),
    ("NaN", "numeric string"),
    ("12345678901234567", "too large"),
    (True, "expected a number"),
    ({"cents": 5}, "expected a number"),
]


def test_bad_amounts_are_refused_with_row_and_path(deployment: Deployment) -> None:
    good = {"tenant": "acme", "ts": START.isoformat(), "rate": "0.5"}
    rows = [{**good, "id": f"bad{i}", "amount": value} for i, (value, _) in enumerate(BAD)]
    rows.insert(2, {**good, "id": "fine", "amount": "7.10"})
    response = deployment.client.post(
        "/v1/datasets/ledger/rows", content=orjson.dumps(rows), headers=deployment.headers
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["accepted"] == 0 and body["error"]["code"] == "rejected_rows"
    indexes = [i if i < 2 else i + 1 for i in range(len(BAD))]
    assert [d["path"] for d in body["error"]["details"]] == [f"/{i}/amount" for i in indexes]
    rejected = {(r["index"], r["path"]): r["reason"] for r in body["rejected"]}
    assert set(rejected) == {(i, "amount") for i in indexes}
    for i, (_, reason) in zip(indexes, BAD, strict=True):
        assert reason in rejected[(i, "amount")], (i, rejected[(i, "amount")])


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_a_table_created_with_float_money_keeps_working_and_says_so(
    engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A data directory from before money was decimal: the table keeps its float column, rows
    are still written and read, and the start-up log names the column and the way out."""
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    toml = datasets / "ledger.toml"
    toml.write_text(LEDGER_TOML.replace('type = "decimal", scale = 2', 'type = "float"'))
    first = [{"tenant": "acme", "id": "old", "ts": START.isoformat(), "amount": 1.25, "rate": 1}]
    second = [{"tenant": "acme", "id": "new", "ts": START.isoformat(), "amount": "2.50", "rate": 1}]
    with isolated_settings(engine, tmp_path, datasets) as settings:
        for rows, expect_warning in ((first, False), (second, True)):
            caplog.clear()
            service = build_service(settings)
            try:
                warned = [r.getMessage() for r in caplog.records if "stored as" in r.getMessage()]
                assert bool(warned) is expect_warning, warned
                app = create_app(settings, service)
                with TestClient(app) as client:
                    _, token = app.state.keys.create("admin", {}, all_tenants=True, name="old")
                    deployment = Deployment(client, bearer(token), rows)
                    assert deployment.ingest(rows)["accepted"] == 1
                    answer, _ = deployment.query({"measures": [{"op": "sum", "field": "amount"}]})
            finally:
                service.engine.close()
            toml.write_text(LEDGER_TOML)
    assert "ledger: column amount is stored as" in warned[0] and "tally ingest" in warned[0]
    assert answer["rows"][0]["sum_amount"] == 3.75


ROLLUP_TOML = (
    LEDGER_TOML
    + """
[[rollups]]
name = "hourly"
grain = "1 hour"
dimensions = []
measures = [
  { op = "count" },
  { op = "sum", field = "amount" },
  { op = "min", field = "amount" },
  { op = "max", field = "amount" },
]
"""
)


def test_a_rollup_of_money_answers_the_exact_sums(tmp_path: Path) -> None:
    """Rollup sums are 38-digit decimals: a day of the largest amounts a column holds sums
    beyond 18 digits and still equals Python's Decimal sum, served from the rollup."""
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "ledger.toml").write_text(ROLLUP_TOML, encoding="utf-8")
    rows = make_rows()
    largest = Decimal("9999999999999999.99")
    rows += [
        {"tenant": "whale", "id": f"w{i}", "ts": START.isoformat(), "amount": largest, "rate": 1}
        for i in range(300)
    ]
    with isolated_settings("duckdb", tmp_path, datasets) as settings:
        service = build_service(settings)
        app = create_app(settings, service)
        try:
            with TestClient(app) as client:
                _, token = app.state.keys.create("admin", {}, all_tenants=True, name="money")
                deployment = Deployment(client, bearer(token), rows)
                # 18 digits only travel as strings (a double has 15 or 16)
                wire = [
                    {**sent, "amount": str(row["amount"])} if row["tenant"] == "whale" else sent
                    for row, sent in zip(rows, on_the_wire(rows), strict=True)
                ]
                for start in range(0, len(wire), 2500):
                    assert deployment.ingest(wire[start : start + 2500])["rejected"] == []
                measures = [{"op": op, "field": "amount", "as": op} for op in ("sum", "min", "max")]
                answer, text = deployment.query({"group_by": ["tenant"], "measures": measures})
        finally:
            service.engine.close()
    assert answer["meta"]["served_from"] == "hourly"
    exact = _exact(rows, "amount")
    assert exact["whale"]["sum"] == largest * 300  # 21 digits: more than a column holds
    got = {row["tenant"]: row for row in answer["rows"]}
    for tenant, wanted in exact.items():
        for op in ("sum", "min", "max"):
            assert got[tenant][op] == float(wanted[op]), (tenant, op)
    assert sorted(_printed(text, "sum"), key=float) == sorted(
        (repr(float(e["sum"])) for e in exact.values()), key=float
    )
