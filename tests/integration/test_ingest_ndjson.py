"""NDJSON bodies through `Service.ingest` store what the row validator stores, answer the same
outcome, and reject the same rows with the same reasons.

Two services on their own DuckDB files take the same body: one as ingestion now receives it (an
`NdjsonBody`, fast path first), the other as the rows orjson parses from it with only the row
validator deciding (the columnar fast path switched off). The stored rows are compared with a
plain SQL query on each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from tally.api.body import parse_rows
from tally.auth.principal import Principal
from tally.config import Settings
from tally.errors import TallyError
from tally.ingest import checked as checked_module
from tally.ingest import json_lines
from tally.ingest.ndjson import NdjsonBody
from tally.ingest.rows import RowValidator
from tally.ingest.spooled import SpooledRows
from tally.service import Service
from tally.wiring import build_service
from tests.ndjson_support import (
    EVERY_TYPE_TOML,
    PROBLEMS,
    base,
    clean_body,
    problem_body,
    reference_rows,
)

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
        patch.setattr(checked_module, "clean_batch", lambda *args: None)
        expected = reference.ingestion.ingest(dataset, reference_rows(data), who, partial)
    upsert = dataset == "invoices"
    return got.as_dict(upsert), expected.as_dict(upsert)


def _no_row_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("the NDJSON fast path should have taken this batch")

    monkeypatch.setattr(RowValidator, "check", refuse)
    monkeypatch.setattr(checked_module, "clean_batch", refuse)


def test_a_clean_varied_body_stores_the_same_rows(services, monkeypatch) -> None:
    data = clean_body(2000, prefix="clean")
    fast, reference = services
    with monkeypatch.context() as patch:
        _no_row_path(patch)
        got = fast.ingestion.ingest("every_type", NdjsonBody(data), ADMIN, False)
    with monkeypatch.context() as patch:
        patch.setattr(checked_module, "clean_batch", lambda *args: None)
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


# Bodies above 1 MiB reach ingestion as a file (`SpooledRows`), NDJSON or a JSON array, read by
# DuckDB's reader a slice at a time; small slices here stand for a large body.
def spooled(path: Path, data: bytes, ndjson: bool) -> SpooledRows:
    path.write_bytes(data)
    content_type = "application/x-ndjson" if ndjson else "application/json"
    return SpooledRows(path, ndjson, partial(parse_rows, content_type=content_type))


def as_array(data: bytes) -> bytes:
    """The rows of an NDJSON body as a JSON array (a line that is not JSON spoils the array)."""
    return b"[" + b",\n".join(line for line in data.splitlines() if line.strip()) + b"]"


def answer(ingest: Callable[[], Any]) -> Any:
    """An outcome as the API answers it, or the error it answers instead."""
    try:
        return ingest().as_dict(False)
    except TallyError as error:
        return (error.status, error.code, error.message)


def ingest_spooled_both(
    services: tuple[Service, Service],
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    data: bytes,
    ndjson: bool,
) -> tuple[Any, Any]:
    """The answers of the file path and of the row validator alone to the same body."""
    fast, reference = services
    monkeypatch.setattr(json_lines, "SLICE_RECORDS", 4)
    got = answer(
        lambda: fast.ingestion.ingest("every_type", spooled(path, data, ndjson), ADMIN, True)
    )
    with monkeypatch.context() as patch:
        patch.setattr(checked_module, "clean_batch", lambda *args: None)
        expected = answer(
            lambda: reference.ingestion.ingest(
                "every_type",
                reference_rows(data) if ndjson else parse_rows(data, "application/json"),
                ADMIN,
                True,
            )
        )
    return got, expected


@pytest.mark.parametrize("ndjson", [True, False], ids=["ndjson", "array"])
def test_a_clean_spooled_body_takes_the_file_path_slice_by_slice(
    services, monkeypatch, tmp_path: Path, ndjson: bool
) -> None:
    prefix = f"spool-{'n' if ndjson else 'a'}-"
    data = clean_body(700, prefix=prefix).replace(b" \t\x0b\x0c", b" \t")
    data = data if ndjson else as_array(data)
    with monkeypatch.context() as patch:
        _no_row_path(patch)
        patch.setattr(json_lines, "SLICE_RECORDS", 64)
        body = spooled(tmp_path / "body", data, ndjson)
        got = services[0].ingestion.ingest("every_type", body, ADMIN, False)
    with monkeypatch.context() as patch:
        patch.setattr(checked_module, "clean_batch", lambda *args: None)
        expected = services[1].ingestion.ingest(
            "every_type", reference_rows(data) if ndjson else orjson.loads(data), ADMIN, False
        )
    assert (
        got.as_dict(False)
        == expected.as_dict(False)
        == {"accepted": 700, "duplicates": 0, "rejected": []}
    )
    rows = stored(services[0], "every_type", prefix)
    assert len(rows) == 700
    assert rows == stored(services[1], "every_type", prefix)


@pytest.mark.parametrize("ndjson", [True, False], ids=["ndjson", "array"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_a_problem_row_in_a_spooled_body_gets_the_same_answer(
    services, monkeypatch, tmp_path: Path, name: str, ndjson: bool
) -> None:
    prefix = f"s{'n' if ndjson else 'a'}{list(PROBLEMS).index(name):03d}-"
    data = problem_body(name, prefix)
    data = data if ndjson else as_array(data)
    got, expected = ingest_spooled_both(services, monkeypatch, tmp_path / "body", data, ndjson)
    assert got == expected
    assert stored(services[0], "every_type", prefix) == stored(services[1], "every_type", prefix)


ONE = orjson.dumps(base(id="whole-1"))
TWO = orjson.dumps(base(id="whole-2"))
# What DuckDB's reader takes between records and orjson does not, or the other way round
WHOLE_BODIES = {
    "array with a byte order mark": (b"\xef\xbb\xbf[" + ONE + b"," + TWO + b"]", False),
    "array with a form feed between rows": (b"[" + ONE + b",\x0c" + TWO + b"]", False),
    "array with a vertical tab after it": (b"[" + ONE + b"," + TWO + b"]\x0b", False),
    "array with a trailing comma": (b"[" + ONE + b"," + TWO + b",]", False),
    "array followed by another": (b"[" + ONE + b"][" + TWO + b"]", False),
    "array followed by garbage": (b"[" + ONE + b"," + TWO + b"] x", False),
    "an object, not an array": (ONE, False),
    "an array of arrays": (b"[[" + ONE + b"],[" + TWO + b"]]", False),
    "an empty array": (b" [ ] ", False),
    "CRLF spacing in an array": (b"[\r\n" + ONE + b",\r\n" + TWO + b"\r\n]\r\n", False),
    "NDJSON with a byte order mark": (b"\xef\xbb\xbf" + ONE + b"\n" + TWO, True),
    "NDJSON with a lone carriage return": (ONE + b"\r" + TWO, True),
    "NDJSON sent as a JSON array": (ONE + b"\n" + TWO, False),
}


@pytest.mark.parametrize("name", list(WHOLE_BODIES))
def test_a_spooled_body_reads_as_orjson_reads_it(services, monkeypatch, tmp_path, name) -> None:
    data, ndjson = WHOLE_BODIES[name]
    prefix = f"w{list(WHOLE_BODIES).index(name):02d}-"
    data = data.replace(b'"whole-', f'"{prefix}'.encode())
    got, expected = ingest_spooled_both(services, monkeypatch, tmp_path / "body", data, ndjson)
    assert got == expected
    assert stored(services[0], "every_type", prefix) == stored(services[1], "every_type", prefix)


def test_the_row_limit_counts_the_records_of_a_spooled_body(tmp_path: Path) -> None:
    settings = Settings.from_env(data_dir=tmp_path / "data", max_ingest_rows=3)
    service = build_service(settings)
    try:
        rows = b",\n".join(orjson.dumps({"id": str(i)}) for i in range(4))
        for data, ndjson in ((b"[" + rows + b"]", False), (rows.replace(b",", b"\n"), True)):
            with pytest.raises(TallyError, match="at most 3 rows"):
                service.ingestion.ingest(
                    "agent_events", spooled(tmp_path / "body", data, ndjson), ADMIN, False
                )
    finally:
        service.engine.close()


def checks_by_slice(
    services, monkeypatch, path: Path, ndjson: bool, prefix: str, bad: dict[int, bytes]
) -> tuple[Any, list[int]]:
    """The answer to 64 clean rows with the `bad` lines replaced (the same as the row validator's
    alone), and the indices the row validator checked for the spooled body."""
    lines = clean_body(64, prefix=prefix).replace(b" \t\x0b\x0c", b"").split(b"\n")
    lines = [line for line in lines if line.strip()]
    for index, line in bad.items():
        lines[index] = line
    data = b"\n".join(lines) if ndjson else as_array(b"\n".join(lines))
    checked: list[int] = []
    original = RowValidator.check

    def counted(self: RowValidator, index: int, raw: Any) -> Any:
        checked.append(index)
        return original(self, index, raw)

    with monkeypatch.context() as patch:
        patch.setattr(RowValidator, "check", counted)
        got, expected = ingest_spooled_both(services, monkeypatch, path, data, ndjson)
    assert got == expected
    assert stored(services[0], "every_type", prefix) == stored(services[1], "every_type", prefix)
    rows = sum(1 for line in lines if line.strip())
    return got, checked[: len(checked) - rows]  # the reference checks every row after


@pytest.mark.parametrize("ndjson", [True, False], ids=["ndjson", "array"])
def test_only_the_slices_with_problems_go_through_the_row_validator(
    services, monkeypatch, tmp_path: Path, ndjson: bool
) -> None:
    prefix = f"slices-{'n' if ndjson else 'a'}-"
    bad = {i: orjson.dumps(base(id=f"{prefix}bad{i}", n="not a number")) for i in (5, 37, 38)}
    got, checked = checks_by_slice(services, monkeypatch, tmp_path / "b", ndjson, prefix, bad)
    assert [(r["index"], r["path"]) for r in got["rejected"]] == [(5, "n"), (37, "n"), (38, "n")]
    assert got["accepted"] == 61
    assert sorted(checked) == [*range(4, 8), *range(36, 40)]


def test_a_line_that_is_not_json_costs_the_row_validator_its_slice_only(
    services, monkeypatch, tmp_path: Path
) -> None:
    """DuckDB refuses the whole file; its lines are sliced in Python instead."""
    bad = {37: b'{"tenant": oops', 50: b"   "}
    got, checked = checks_by_slice(services, monkeypatch, tmp_path / "b", True, "unread-", bad)
    assert [(r["index"], r["path"]) for r in got["rejected"]] == [(37, "")]
    assert got["accepted"] == 62
    assert sorted(checked) == [*range(36, 40)]
