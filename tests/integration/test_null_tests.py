"""`is_null` / `not_null` are accepted on every column: on a column that never holds null they
are settled as constants before SQL (false / true), so a client that builds filters from the
catalog never meets a 400 for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import LiveApp, live_app

ROWS = [
    {"workspace_id": "ws_a", "brand_id": "br", "event_id": f"e{i}", "event_type": "purchase",
     "ts": f"2026-01-01T00:0{i}:00Z", "amount": None if i % 3 == 0 else float(i)}
    for i in range(9)
]  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    with live_app(tmp_path_factory.mktemp("nulls")) as app:
        stored = app.client.post("/v1/datasets/agent_events/rows", json=ROWS, headers=app.admin)
        assert stored.json()["accepted"] == len(ROWS)
        yield app


def count(live: LiveApp, condition: dict) -> int:
    body = {"dataset": "agent_events", "filter": condition}
    response = live.client.post("/v1/query", json=body, headers=live.admin)
    assert response.status_code == 200, response.text
    return response.json()["rows"][0]["count"]


def test_null_tests_on_a_never_null_column_are_constants(live: LiveApp) -> None:
    assert count(live, {"field": "event_type", "op": "is_null"}) == 0
    assert count(live, {"field": "event_type", "op": "not_null"}) == len(ROWS)
    either = {
        "or": [
            {"field": "event_type", "op": "is_null"},
            {"field": "amount", "op": "gt", "value": 4},
        ]
    }
    assert count(live, either) == sum(1 for r in ROWS if (r["amount"] or 0) > 4)


def test_they_never_reach_the_sql(live: LiveApp) -> None:
    body = {"dataset": "agent_events", "filter": {"not": {"field": "event_type", "op": "is_null"}}}
    explained = live.client.post("/v1/query/sql", json=body, headers=live.admin).json()
    assert "IS NULL" not in explained["sql"].upper()
    assert explained["query"]["filter"] is None


def test_on_a_nullable_column_they_read_the_rows(live: LiveApp) -> None:
    assert count(live, {"field": "amount", "op": "is_null"}) == sum(
        1 for r in ROWS if r["amount"] is None
    )
    assert count(live, {"field": "amount", "op": "not_null"}) == sum(
        1 for r in ROWS if r["amount"] is not None
    )


def test_the_catalog_offers_them_on_every_column_it_does_not_narrow(live: LiveApp) -> None:
    described = live.client.get("/v1/datasets/agent_events", headers=live.admin).json()
    for column in described["columns"]:
        if column["name"] in ("event_type", "ts", "amount"):
            assert {"is_null", "not_null"} <= set(column["operators"]), column
