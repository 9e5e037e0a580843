"""Live reload of external datasets and of declared rollups, in one process over real engines.

A Parquet file source is added, changed to expose a new column, pointed at a missing file and
at a missing column (both refused while the previous definition keeps answering), and removed
(its engine is closed); built-in datasets of profiles not served stay out. A rollup declared
by a reloaded file is ensured before the catalog is swapped: over a new, empty table it answers
at once; over stored rows it answers after `Rollups.build` (what `tally rollups build` runs).
Every number is compared with plain Python over the same rows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml

from tally.auth.principal import Principal
from tally.catalog import Catalog
from tally.config import Settings
from tally.errors import TallyError
from tally.query.model import Query
from tally.service import Service
from tally.wiring import build_service
from tests.integration.rollup_support import APPEND, COLUMNS, ROLLUPS, make_rows

ADMIN = Principal("test-admin", "admin", all_tenants=True)
SALES = [
    {"id": f"s{i}", "tenant": t, "region": r, "amount": a}
    for i, (t, r, a) in enumerate([
        ("t1", "eu", 5), ("t1", "us", 7), ("t2", "eu", 11), ("t2", "eu", 13), ("t1", "eu", 17),
    ])
]  # fmt: skip


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(rows)
    with duckdb.connect() as conn:
        conn.register("batch", table)
        conn.execute(f"COPY batch TO '{path}' (FORMAT parquet)")


def sales_file(folder: Path, parquet: Path, columns: list[str]) -> None:
    body = {
        "name": "sales",
        "tenant_columns": ["tenant"],
        "source": {"parquet": {"path": str(parquet)}},
        "columns": [
            {"name": name, "type": "int" if name == "amount" else "string"} for name in columns
        ],
    }
    (folder / "sales.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


def answer(service: Service, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    result = service.answers.answer(Query.model_validate(body), ADMIN)
    return result.meta["served_from"], result.rows


def sums_by(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for row in rows:
        found[row[key]] += row["amount"]
    return dict(found)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "datasets"
    path.mkdir()
    return path


@pytest.fixture
def service(tmp_path: Path, folder: Path):
    settings = Settings.from_env(
        data_dir=tmp_path / "data", datasets_dir=folder, cache_enabled=False, profiles="none"
    )
    svc = build_service(settings)
    yield svc
    svc.close()


def test_an_external_dataset_is_added_changed_refused_and_removed(
    service: Service, folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parquet = tmp_path / "sales.parquet"
    write_parquet(parquet, SALES)
    total = [{"op": "sum", "field": "amount"}]
    by_tenant = {"dataset": "sales", "group_by": ["tenant"], "measures": total}
    by_region = {**by_tenant, "group_by": ["region"]}

    sales_file(folder, parquet, ["id", "tenant", "amount"])
    report = service.reloader.reload()
    assert (report.added, report.problems) == (["sales"], [])
    builtins = set(Catalog.load(None).names())
    assert builtins and not builtins & set(service.catalog.names()), "TALLY_PROFILES=none"
    _, rows = answer(service, by_tenant)
    assert {r["tenant"]: r["sum_amount"] for r in rows} == sums_by(SALES, "tenant")

    sales_file(folder, parquet, ["id", "tenant", "region", "amount"])
    report = service.reloader.reload()
    assert (report.changed, report.problems) == (["sales"], [])
    _, rows = answer(service, by_region)
    assert {r["region"]: r["sum_amount"] for r in rows} == sums_by(SALES, "region")
    serving = service.catalog.require("sales")
    engine = service.readers.of(serving).engine

    sales_file(folder, tmp_path / "missing.parquet", ["id", "tenant", "region", "amount"])
    refused = service.reloader.reload()
    assert refused.changed == []
    assert [(p.file, p.pointer) for p in refused.problems] == [("sales.yaml", "/source/parquet")]
    assert "missing.parquet" in refused.problems[0].message
    assert service.catalog.require("sales") is serving
    _, rows = answer(service, by_region)
    assert {r["region"]: r["sum_amount"] for r in rows} == sums_by(SALES, "region")

    sales_file(folder, parquet, ["id", "tenant", "region", "amount", "channel"])
    refused = service.reloader.reload()
    assert [(p.pointer, p.field) for p in refused.problems] == [
        ("/columns/4/name", "columns[4].name")
    ]
    assert "no column 'channel'" in refused.problems[0].message
    assert service.catalog.require("sales") is serving

    (folder / "sales.yaml").unlink()
    assert service.reloader.reload().removed == ["sales"]
    assert "sales" not in service.catalog
    caplog.clear()
    with pytest.raises(TallyError):
        engine.execute("SELECT 1", {}, 5)
    assert "Connection already closed" in caplog.text, "its engine, used by no dataset, is closed"


def test_a_rollup_declared_by_a_reloaded_file_is_ensured(service: Service, folder: Path) -> None:
    daily = {
        "dataset": "rollev",
        "group_by": ["kind"],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }
    rows = make_rows(random.Random(3), 400)

    def expected(stored: list[dict[str, Any]]) -> dict[Any, tuple[int, int | None]]:
        found: dict[Any, list] = defaultdict(lambda: [0, None])
        for row in stored:
            cell = found[row["kind"]]
            cell[0] += 1
            if row["amount"] is not None:
                cell[1] = row["amount"] + (cell[1] or 0)
        return {k: (v[0], v[1]) for k, v in found.items()}

    def answered() -> tuple[str, dict[Any, tuple[int, int | None]]]:
        """Whether a rollup answered (every one declared fits: the smallest does), and how."""
        served_from, got = answer(service, daily)
        source = "raw" if served_from == "raw" else "a rollup"
        return source, {r["kind"]: (r["count"], r["sum_amount"]) for r in got}

    (folder / "rollev.yaml").write_text(APPEND + COLUMNS + ROLLUPS)
    assert service.reloader.reload().added == ["rollev"]
    assert service.ingestion.ingest("rollev", rows[:200], ADMIN, partial=False).accepted == 200
    assert answered() == ("a rollup", expected(rows[:200])), "a new table's rollup is complete"

    (folder / "rollev.yaml").write_text(APPEND + COLUMNS)
    assert service.reloader.reload().changed == ["rollev"]
    assert service.ingestion.ingest("rollev", rows[200:], ADMIN, partial=False).accepted == 200
    assert answered() == ("raw", expected(rows))

    (folder / "rollev.yaml").write_text(APPEND + COLUMNS + ROLLUPS)
    assert service.reloader.reload().changed == ["rollev"]
    assert answered() == ("raw", expected(rows)), "rows stored while undeclared: not complete"
    service.rollups.build("rollev")
    assert answered() == ("a rollup", expected(rows))
