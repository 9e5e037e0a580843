"""NDJSON bodies through `Service.ingest` store what the row validator stores, answer the same
outcome, and reject the same rows with the same reasons.

Two services on their own DuckDB files take the same body: one as ingestion now receives it (an
`NdjsonBody`, fast path first), the other as the rows orjson parses from it with only the row
validator deciding (the columnar fast path switched off). The stored rows are compared with a
plain SQL query on each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tally.auth.principal import Principal
from tally.config import Settings
from tally.errors import TallyError
from tally.ingest import batch as batch_module
from tally.ingest.ndjson import NdjsonBody
from tally.ingest.rows import RowValidator
from tally.service import Service
from tally.wiring import build_service
from tests.ndjson_support import EVERY_TYPE_TOML, PROBLEMS, clean_body, problem_body, reference_rows

ADMIN = Principal("test-admin", "admin", all_tenants=True)
EDITOR_A = Principal("test-editor", "editor", scopes={"tenant": ("t_a",)})


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service]]:
    root = tmp_path_factory.mktemp("ndjson")
    datasets = root / "datasets"
    datasets.mkdir()
    (datasets / "every_type.toml").write_text(EVERY_TYPE_TOML)
    made = [
        build_service(Settings.from_env(data_dir=root / name, datasets_dir=datasets))
        for name in ("fast", "reference")
    ]
    yield made[0], made[1]
    for service in made:
        service.engine.close()


def stored(service: Service, dataset: str, prefix: str) -> list[tuple]:
    sql = f'SELECT * FROM "{dataset}" WHERE starts_with(id, $prefix) ORDER BY id'  # noqa: S608
    columns, rows = service.engine.execute(sql, {"prefix": prefix}, 30)
    assert columns
    return rows


def ingest_both(
    services: tuple[Service, Service],
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    who: Principal = ADMIN,
    partial: bool = True,
    dataset: str = "every_type",
) -> tuple[dict[str, Any], dict[str, Any]]:
    fast, reference = services
    got = fast.ingestion.ingest(dataset, NdjsonBody(data), who, partial)
    with monkeypatch.context() as patch:
        patch.setattr(batch_module, "clean_batch", lambda *args: None)
        expected = reference.ingestion.ingest(dataset, reference_rows(data), who, partial)
    upsert = dataset == "invoices"
    return got.as_dict(upsert), expected.as_dict(upsert)


def _no_row_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("the NDJSON fast path should have taken this batch")

    monkeypatch.setattr(RowValidator, "check", refuse)
    monkeypatch.setattr(batch_module, "clean_batch", refuse)


def test_a_clean_varied_body_stores_the_same_rows(services, monkeypatch) -> None:
    data = clean_body(2000, prefix="clean")
    fast, reference = services
    with monkeypatch.context() as patch:
        _no_row_path(patch)
        got = fast.ingestion.ingest("every_type", NdjsonBody(data), ADMIN, False)
    with monkeypatch.context() as patch:
        patch.setattr(batch_module, "clean_batch", lambda *args: None)
        expected = reference.ingestion.ingest("every_type", reference_rows(data), ADMIN, False)
    assert (
        got.as_dict(False)
        == expected.as_dict(False)
        == {
            "accepted": 2000,
            "duplicates": 0,
            "rejected": [],
        }
    )
    rows = stored(fast, "every_type", "clean")
    assert len(rows) == 2000
    assert rows == stored(reference, "every_type", "clean")
    again = ingest_both(services, monkeypatch, data)
    assert again[0] == again[1] == {"accepted": 0, "duplicates": 2000, "rejected": []}


@pytest.mark.parametrize("partial", [True, False], ids=["partial", "atomic"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_a_problem_line_gets_the_same_answer_as_before(
    services, monkeypatch, name: str, partial: bool
) -> None:
    prefix = f"{'p' if partial else 'a'}{list(PROBLEMS).index(name):03d}-"
    got, expected = ingest_both(services, monkeypatch, problem_body(name, prefix), partial=partial)
    assert got == expected
    assert stored(services[0], "every_type", prefix) == stored(services[1], "every_type", prefix)


def test_rows_outside_the_editors_scope_get_the_same_answer(services, monkeypatch) -> None:
    data = clean_body(12, prefix="scope-")
    got, expected = ingest_both(services, monkeypatch, data, who=EDITOR_A)
    assert got == expected
    assert [r["path"] for r in got["rejected"]] == ["tenant"] * 6
    assert got["accepted"] == 6
    assert stored(services[0], "every_type", "scope-") == stored(
        services[1], "every_type", "scope-"
    )


def test_upserts_keep_the_latest_version_in_a_body(services, monkeypatch) -> None:
    def invoice(i: int, amount: float, status: str = "issued") -> bytes:
        row = {
            "id": f"up-{i}",
            "workspace_id": "ws_a",
            "number": f"N-{i}",
            "status": status,
            "issue_date": "2026-11-01",
            "grand_total.amount": amount,
            "grand_total.currency": "EUR",
        }
        return orjson.dumps(row)

    first = b"\n".join([invoice(1, 10), invoice(2, 20)])
    assert ingest_both(services, monkeypatch, first, dataset="invoices")[0]["accepted"] == 2
    second = b"\n".join([invoice(1, 15, "paid"), invoice(3, 30), invoice(1, 99, "void")])
    with monkeypatch.context() as patch:
        _no_row_path(patch)
        assert (
            NdjsonBody(second).clean_batch(services[0].catalog.require("invoices"), None)
            is not None
        )
    got, expected = ingest_both(services, monkeypatch, second, dataset="invoices")
    assert got == expected
    assert got["updated"] == 1 and got["accepted"] == 1
    rows = stored(services[0], "invoices", "up-")
    assert rows == stored(services[1], "invoices", "up-")
    _, latest = services[0].engine.execute(
        "SELECT id, status, grand_total__amount FROM invoices WHERE starts_with(id, 'up-') "
        "ORDER BY id",
        {},
        30,
    )
    assert latest == [("up-1", "void", 99.0), ("up-2", "issued", 20.0), ("up-3", "issued", 30.0)]


def test_an_empty_body_stores_nothing(services, monkeypatch) -> None:
    got, expected = ingest_both(services, monkeypatch, b"\n \r\n")
    assert got == expected == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_the_row_limit_counts_ndjson_rows(tmp_path: Path) -> None:
    settings = Settings.from_env(data_dir=tmp_path / "data", max_ingest_rows=3)
    service = build_service(settings)
    try:
        body = b"\n\n".join(orjson.dumps({"id": str(i)}) for i in range(4))
        with pytest.raises(TallyError, match="at most 3 rows"):
            service.ingestion.ingest("agent_events", NdjsonBody(body), ADMIN, False)
    finally:
        service.engine.close()
