"""Reloading dataset files in one process, on a real DuckDB file: what is served after a reload,
what is refused and why, and that nothing made for an earlier definition is used again."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.api.reload import Reloaded
from tally.auth.principal import Principal
from tally.catalog import Catalog
from tally.catalog.holder import CatalogHolder
from tally.catalog.loader import load_catalog
from tally.config import Settings
from tally.query.model import Query
from tally.service import Service
from tally.wiring import build_service
from tests.helpers import bearer

ADMIN = Principal("test-admin", "admin", all_tenants=True)
HEAD = """name: paths
tenant_columns: [tenant]
time_column: ts
key_columns: [id]
columns:
  - {name: tenant, type: string, nullable: false}
  - {name: id, type: string, nullable: false}
  - {name: ts, type: timestamp}
  - {name: path, type: string}
"""
ROWS = [
    {"tenant": "t1", "id": f"r{i}", "ts": "2026-11-01T00:00:00Z", "path": path}
    for i, path in enumerate(["a/x/1", "a/y/2", "b/x/3", "b/x/4", "c/z/5"])
]


def segment_column(index: int) -> str:
    return (
        f"  - {{name: part, type: string, derived: {{fn: path_segment, of: path, "
        f"index: {index}}}}}\n"
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "datasets"
    path.mkdir()
    (path / "paths.yaml").write_text(HEAD + segment_column(1))
    return path


@pytest.fixture
def service(tmp_path: Path, folder: Path):
    settings = Settings.from_env(
        data_dir=tmp_path / "data", datasets_dir=folder, cache_enabled=False
    )
    svc = build_service(settings)
    yield svc
    svc.engine.close()


def count_by_part(service: Service) -> dict[str, int]:
    query = Query.model_validate(
        {"dataset": "paths", "group_by": ["part"], "measures": [{"op": "count"}]}
    )
    return {r["part"]: r["count"] for r in service.answers.answer(query, ADMIN).rows}


def expected_by_part(index: int) -> dict[str, int]:
    """Plain Python over the same rows: list_extract is 1-based, negative from the end."""
    counted: dict[str, int] = {}
    for row in ROWS:
        parts = row["path"].split("/")
        part = parts[index - 1] if index > 0 else parts[index]
        counted[part] = counted.get(part, 0) + 1
    return counted


def test_a_changed_definition_is_compiled_anew(service: Service, folder: Path) -> None:
    outcome = service.ingestion.ingest("paths", ROWS, ADMIN, partial=False)
    assert outcome.accepted == len(ROWS)
    assert count_by_part(service) == expected_by_part(1)
    (folder / "paths.yaml").write_text(HEAD + segment_column(2))
    report = service.reloader.reload()
    assert (report.changed, report.problems) == (["paths"], [])
    # Same question, same scope: only the definition of `part` changed, so a statement
    # remembered by question alone would answer with the first segment again.
    assert count_by_part(service) == expected_by_part(2)


def test_added_changed_removed_and_unchanged_are_reported(service: Service, folder: Path):
    builtins = set(Catalog.load(None).names())
    bad = {"tenant": "t1"}
    assert service.ingestion.ingest("paths", [*ROWS, bad], ADMIN, partial=True).accepted == 5
    (folder / "more.yaml").write_text(HEAD.replace("name: paths", "name: more"))
    (folder / "paths.yaml").write_text(HEAD + segment_column(1) + "  - {name: n, type: int}\n")
    report = service.reloader.reload()
    assert (report.added, report.changed, report.removed) == (["more"], ["paths"], [])
    assert set(report.unchanged) == builtins
    assert "n" in {c["name"] for c in service.catalog.require("paths").describe()["columns"]}
    # A batch with a bad row goes through the row validator, which must be the new definition's.
    good = [{**row, "id": f"n{i}", "n": i * 3} for i, row in enumerate(ROWS)]
    outcome = service.ingestion.ingest("paths", [*good, bad], ADMIN, partial=True)
    assert outcome.accepted == len(good)
    assert {r.path for r in outcome.rejected} == {"id"}
    total = Query.model_validate({"dataset": "paths", "measures": [{"op": "sum", "field": "n"}]})
    assert service.answers.answer(total, ADMIN).rows == [{"sum_n": sum(r["n"] for r in good)}]
    stored = service.ingestion.ingest("more", ROWS, ADMIN, partial=False)
    assert stored.accepted == len(ROWS)
    (folder / "more.yaml").unlink()
    report = service.reloader.reload()
    assert (report.added, report.changed, report.removed) == ([], [], ["more"])
    assert "more" not in service.catalog
    # The table of a removed dataset is kept with its rows: removing a file never drops data.
    kept = service.engine.frame('SELECT count(*) AS n FROM "more"', [], 10, False)
    assert kept.first("n") == len(ROWS)


def test_an_invalid_file_keeps_the_previous_definition_and_says_where(
    service: Service, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = service.catalog.require("paths")
    broken = HEAD.replace("type: timestamp", "type: instant").replace("[tenant]", "[tenantx]")
    (folder / "paths.yaml").write_text(broken)
    (folder / "new.yaml").write_text("name: new\ncolumns: [\n")
    with caplog.at_level(logging.WARNING, logger="tally.service.reload"):
        report = service.reloader.reload()
    found = {(p.file, p.pointer) for p in report.problems}
    assert ("paths.yaml", "/columns/2/type") in found
    assert ("new.yaml", "") in found
    assert service.catalog.require("paths") is before
    assert "new" not in service.catalog
    assert "paths" in report.unchanged and report.added == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(report.problems)
    assert {(Path(r.fields["file"]).name, r.fields["field"]) for r in warnings} == {
        (name, field or "/") for name, field in found
    }


def test_a_rollup_that_does_not_fit_is_refused_at_its_field(service: Service, folder: Path) -> None:
    before = service.catalog.require("paths")
    rollups = "rollups:\n  - {name: r, dimensions: [path, nope], measures: [{op: sum}]}\n"
    (folder / "paths.yaml").write_text(HEAD + rollups)
    report = service.reloader.reload()
    assert [(p.file, p.pointer, p.message) for p in report.problems] == [
        ("paths.yaml", "/rollups/0/dimensions/1", "unknown column 'nope'"),
        ("paths.yaml", "/rollups/0/measures/0/op", "sum needs a field"),
    ]
    assert report.as_dict()["problems"][0]["field"] == "/rollups/0/dimensions/1"
    assert service.catalog.require("paths") is before


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda text: text.replace("{name: path, type: string}", "{name: path, type: int}"),
         "/columns/3/type"),
        (lambda text: text.replace("  - {name: ts, type: timestamp}\n", "").replace(
            "time_column: ts\n", "").replace("key_columns: [id]", "key_columns: [path]"),
         "/key_columns"),
    ],
    ids=["column type", "table key"],
)  # fmt: skip
def test_a_change_an_owned_table_cannot_take_is_refused(
    service: Service, folder: Path, edit, field: str
) -> None:
    before = service.catalog.require("paths")
    (folder / "paths.yaml").write_text(edit(HEAD + segment_column(1)))
    report = service.reloader.reload()
    assert field in [p.pointer for p in report.problems]
    assert service.catalog.require("paths") is before


def test_removing_a_column_keeps_it_in_the_table_unless_rows_need_it(service: Service, folder):
    text = HEAD + segment_column(1)
    required = "  - {name: kind, type: string, nullable: false}\n"
    (folder / "paths.yaml").write_text(text + required)
    assert service.reloader.reload().changed == ["paths"]
    (folder / "paths.yaml").write_text(text)
    refused = service.reloader.reload()
    assert refused.changed == []
    assert [(p.pointer, "kind is NOT NULL" in p.message) for p in refused.problems] == [
        ("/columns", True)
    ]
    assert service.catalog.require("paths").has_column("kind")
    without_path = text.replace("  - {name: path, type: string}\n", "")
    (folder / "paths.yaml").write_text(without_path.replace(segment_column(1), "") + required)
    report = service.reloader.reload()
    assert (report.changed, report.problems) == (["paths"], [])
    assert not service.catalog.require("paths").has_column("path")
    stored = service.engine.frame(
        "SELECT count(*) AS n FROM information_schema.columns "
        "WHERE table_name = 'paths' AND column_name = 'path'",
        [],
        10,
        False,
    )
    assert stored.first("n") == 1
    rows = [{"tenant": "t1", "id": "k1", "kind": "a"}, {"tenant": "t1", "id": "k2", "kind": "b"}]
    assert service.ingestion.ingest("paths", rows, ADMIN, partial=False).accepted == 2


def test_a_request_keeps_the_catalog_it_started_with() -> None:
    first, second = Catalog([]), Catalog([])
    holder = CatalogHolder(first)

    async def request() -> tuple[Catalog, Catalog, Catalog]:
        with holder.pinned():
            holder.swap(second)
            in_thread = await anyio.to_thread.run_sync(lambda: holder.current)
            return holder.current, in_thread, holder.latest

    assert anyio.run(request) == (first, first, second)
    assert holder.current is second


def test_load_catalog_reports_every_problem_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "two.yaml").write_text(
        "name: two\ntenant_columns: [t]\ncolumns:\n  - {name: t, type: text}\n  - {name: 9}\n"
    )
    catalog, problems = load_catalog(tmp_path)
    assert "two" not in catalog
    located = [(p.pointer, p.field) for p in problems]
    for index, field in [(0, "type"), (1, "name"), (1, "type")]:
        assert (f"/columns/{index}/{field}", f"columns[{index}].{field}") in located
    assert all(p.file == "two.yaml" and p.message for p in problems)


def test_the_reload_call_is_for_admins_and_answers_its_documented_shape(
    service: Service, folder: Path
) -> None:
    app = create_app(service.settings, service)
    _, viewer = app.state.keys.create("viewer", {}, all_tenants=True)
    _, admin = app.state.keys.create("admin", {}, all_tenants=True)
    (folder / "paths.yaml").write_text(HEAD.replace("type: timestamp", "type: instant"))
    with TestClient(app) as client:
        refused = client.post("/v1/datasets/reload", headers=bearer(viewer))
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        answer = client.post("/v1/datasets/reload", headers=bearer(admin))
    assert answer.status_code == 200
    body = Reloaded.model_validate(answer.json())
    assert [(Path(p.file).name, p.field) for p in body.problems] == [
        ("paths.yaml", "/columns/2/type")
    ]
    assert "paths" in body.unchanged
