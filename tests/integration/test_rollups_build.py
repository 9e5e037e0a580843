"""A rollup declared over rows already stored answers only once `tally rollups build` has filled
it (run as a user runs it), and HTTP answers say where they came from."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.query.model import Query
from tests.helpers import bearer
from tests.integration.rollup_support import ADMIN, make_rows, open_service, rollup_rows

DAILY = {
    "dataset": "rollev",
    "time": {"start": "2025-03-02T00:00:00+05:45", "end": "2025-03-30T00:00:00+05:45"},
    "timezone": "Asia/Kathmandu",
    "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    "group_by": ["kind", {"time": "1 day"}],
    "cache": "no-cache",
}


def _answer(service: Any, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    result = service.answers.answer(Query.model_validate(body), ADMIN)
    return result.meta["served_from"], result.rows


def test_a_rollup_over_stored_rows_answers_once_built(tmp_path: Path) -> None:
    rows = make_rows(random.Random(5), 3000)
    before = open_service(tmp_path, rollups=False)
    before.ingestion.ingest("rollev", rows, ADMIN, partial=False)
    expected = _answer(before, DAILY)
    before.engine.close()

    declared = open_service(tmp_path)
    assert _answer(declared, DAILY) == expected  # from the rows: the rollup is still empty
    assert rollup_rows(declared, "rollev__rollup__fine") == []
    declared.engine.close()

    env = {**os.environ, "TALLY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120"}
    env["TALLY_DATASETS_DIR"] = str(tmp_path / "datasets")
    built = subprocess.run(
        [sys.executable, "-m", "tally.cli", "rollups", "build", "--dataset", "rollev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert "built 4 rollup(s) of rollev" in built.stdout
    # Tenant by tenant, and the rollup across tenants in one fill.
    assert re.search(r"rollev fine +\S+ 3/3 tenants", built.stdout)
    assert re.search(r"rollev regions_all +\S+ 1/1 tenants", built.stdout)

    after = open_service(tmp_path)
    try:
        served_from, answered = _answer(after, DAILY)
        assert served_from == "fine"
        assert answered == expected[1]
    finally:
        after.engine.close()


def test_http_answers_name_where_they_came_from(tmp_path: Path) -> None:
    service = open_service(tmp_path)
    service.ingestion.ingest("rollev", make_rows(random.Random(6), 500), ADMIN, partial=False)
    app = create_app(service.settings, service)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True, name="rollups")
        headers = bearer(token)
        served = client.post("/v1/query", json=DAILY, headers=headers)
        assert served.status_code == 200, served.text
        assert served.json()["meta"]["served_from"] == "fine"
        distinct = {**DAILY, "measures": [{"op": "count_distinct", "field": "region"}]}
        raw = client.post("/v1/query", json=distinct, headers=headers)
        assert raw.status_code == 200, raw.text
        assert raw.json()["meta"]["served_from"] == "raw"
        explained = client.post("/v1/query/sql", json=DAILY, headers=headers)
        assert explained.json()["served_from"] == "fine"
        assert "rollev__rollup__fine" in explained.json()["sql"]


def _tables(service: Any) -> set[str]:
    _, found = service.engine.execute("SELECT table_name FROM duckdb_tables()", {}, 30)
    return {name for (name,) in found}


def _pending(service: Any) -> list[tuple]:
    sql = 'SELECT * FROM "rollev__rollup__fine__pending" ORDER BY ALL'
    return service.engine.execute(sql, {}, 30)[1]


def test_a_rollup_removed_before_it_was_built_leaves_no_table(tmp_path: Path) -> None:
    """A rollup declared over stored rows gets its tables at once, to be built later; removed
    from the declaration before any build, its tables go with it. Declared again and still
    not built, it is kept as it was, not made anew at each start (a table of it found missing
    is made again)."""
    rows = make_rows(random.Random(6), 400)
    before = open_service(tmp_path, rollups=False)
    before.ingestion.ingest("rollev", rows, ADMIN, partial=False)
    before.engine.close()
    made = {"rollev__rollup__fine", "rollev__rollup__fine__pending", "rollev__ids__note"}

    declared = open_service(tmp_path, compacting=False)
    assert made <= _tables(declared)
    assert declared.rollups.incomplete(declared.catalog.require("rollev"))
    more = make_rows(random.Random(7), 5, ids=range(1000, 1005))
    declared.ingestion.ingest("rollev", more, ADMIN, partial=False)
    pending = _pending(declared)
    assert pending
    declared.engine.close()

    again = open_service(tmp_path, compacting=False)  # still declared, still not built
    assert _pending(again) == pending
    dropped = {"rollev__rollup__fine", "rollev__ids__note"}
    again.engine.transaction([(f'DROP TABLE "{name}"', ()) for name in dropped])
    again.engine.close()

    repaired = open_service(tmp_path, compacting=False)  # a missing table is made again
    assert dropped <= _tables(repaired)
    later = make_rows(random.Random(8), 5, ids=range(2000, 2005))
    assert repaired.ingestion.ingest("rollev", later, ADMIN, partial=False).accepted == 5
    repaired.engine.close()

    removed = open_service(tmp_path, rollups=False)
    try:
        tables = _tables(removed)
        assert not {t for t in tables if t.startswith("rollev__")}, tables
        assert "rollev" in tables
    finally:
        removed.engine.close()
