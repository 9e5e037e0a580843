"""Ingestion over HTTP: idempotent, atomic, scoped, and acknowledged only once committed.

Every check of what is stored goes through `POST /v1/query` right after the ingest answer, so
the tests see exactly what a dashboard would see.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tally.api.app import create_app
from tally.api.body import SPOOL_ABOVE, STALE_SPOOL_S
from tally.auth.keys import KeyStore
from tally.config import Settings
from tests.helpers import bearer

TS = "2026-11-01T10:00:00Z"
NDJSON = {"Content-Type": "application/x-ndjson"}


def event(i: int, ws: str = "ws_a", **fields: Any) -> dict[str, Any]:
    row = {
        "workspace_id": ws,
        "brand_id": "brand_1",
        "event_id": f"evt_{i}",
        "event_type": "purchase",
        "ts": TS,
        "amount": 10.0,
    }
    return {**row, **fields}


def invoice(i: int, ws: str = "ws_a", amount: float = 10.0, **fields: Any) -> dict[str, Any]:
    row = {
        "id": f"inv_{i}",
        "workspace_id": ws,
        "number": f"N-{i}",
        "status": "issued",
        "issue_date": "2026-11-01",
        "grand_total": {"amount": amount, "currency": "USD"},
    }
    return {**row, **fields}


def ingest(
    client: TestClient,
    headers: dict[str, str],
    rows: Any,
    dataset: str = "agent_events",
    partial: bool = False,
) -> Response:
    url = f"/v1/datasets/{dataset}/rows" + ("?partial=true" if partial else "")
    response = client.post(url, json=rows, headers=headers)
    assert "Traceback" not in response.text
    return response


def ingest_raw(
    client: TestClient,
    headers: dict[str, str],
    data: bytes,
    content_type: str,
    dataset: str = "agent_events",
    partial: bool = False,
) -> Response:
    url = f"/v1/datasets/{dataset}/rows" + ("?partial=true" if partial else "")
    return client.post(url, content=data, headers={**headers, "Content-Type": content_type})


def query(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/query", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def count(
    client: TestClient, headers: dict[str, str], dataset: str = "agent_events", **extra: Any
) -> int:
    rows = query(client, headers, {"dataset": dataset, **extra})["rows"]
    assert len(rows) == 1
    return rows[0]["count"]


def assert_rejected_batch(response: Response, rejected: list[tuple[int, str]]) -> list[dict]:
    """400, the native error envelope, and the `rejected` list with (index, path) pairs."""
    assert response.status_code == 400, response.text
    body = response.json()
    error = body["error"]
    assert error["code"] == "rejected_rows"
    assert "nothing was stored" in error["message"]
    assert error["trace_id"] == response.headers["x-trace-id"]
    expected_pointers = [
        "/" + "/".join([str(i), *p.split(".")]) if p else f"/{i}" for i, p in rejected
    ]
    assert [d["path"] for d in error["details"]] == expected_pointers
    assert all(d["reason"] for d in error["details"])
    assert body["accepted"] == 0
    assert [(r["index"], r["path"]) for r in body["rejected"]] == rejected
    assert all(isinstance(r["reason"], str) and r["reason"] for r in body["rejected"])
    return body["rejected"]


@pytest.fixture
def editor_a(keys: KeyStore) -> dict[str, str]:
    _, token = keys.create("editor", {"workspace_id": ("ws_a",)}, name="editor-a")
    return bearer(token)


@pytest.fixture
def viewer_a(keys: KeyStore) -> dict[str, str]:
    _, token = keys.create("viewer", {"workspace_id": ("ws_a",)}, name="viewer-a")
    return bearer(token)


# --- idempotency --------------------------------------------------------------------------------


def test_same_batch_twice_is_stored_once(client: TestClient, admin_headers) -> None:
    batch = [event(1), event(2), event(3)]
    first = ingest(client, admin_headers, batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    second = ingest(client, admin_headers, batch)
    assert second.status_code == 200, second.text
    assert second.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert count(client, admin_headers) == 3


def test_a_stored_id_with_other_values_is_still_a_duplicate(
    client: TestClient, admin_headers
) -> None:
    ingest(client, admin_headers, [event(1, amount=10.0)])
    again = ingest(client, admin_headers, [event(1, amount=99.0), event(2)])
    assert again.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    body = {"dataset": "agent_events", "measures": [{"op": "sum", "field": "amount"}]}
    assert query(client, admin_headers, body)["rows"] == [{"sum_amount": 20.0}]


def test_duplicates_inside_one_batch(client: TestClient, admin_headers) -> None:
    response = ingest(client, admin_headers, [event(1), event(2), event(1), event(1)])
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 2, "rejected": []}
    assert count(client, admin_headers) == 2


def test_the_same_id_in_two_tenants_is_two_rows(client: TestClient, admin_headers) -> None:
    response = ingest(client, admin_headers, [event(1, ws="ws_a"), event(1, ws="ws_b")])
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert count(client, admin_headers) == 2
    assert count(client, admin_headers, scope={"workspace_id": "ws_b"}) == 1


# --- atomic batches -----------------------------------------------------------------------------


def test_a_bad_row_rejects_the_whole_batch(client: TestClient, admin_headers) -> None:
    incomplete = {"workspace_id": "ws_a", "brand_id": "brand_1", "event_id": "evt_9"}
    batch = [event(1), event(2, amount="lots"), event(3), incomplete, event(5, colour="red")]
    response = ingest(client, admin_headers, batch)
    rejected = assert_rejected_batch(
        response, [(1, "amount"), (3, "event_type"), (3, "ts"), (4, "colour")]
    )
    assert rejected[0]["reason"] == 'expected a number or a numeric string like "12.30"'
    assert rejected[3]["reason"] == "unknown field"
    assert count(client, admin_headers) == 0


def test_partial_stores_the_good_rows_and_reports_the_bad(
    client: TestClient, admin_headers
) -> None:
    batch = [event(1), event(2, ts="yesterday"), event(3), "not a row"]
    response = ingest(client, admin_headers, batch, partial=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 0
    assert [(r["index"], r["path"]) for r in body["rejected"]] == [(1, "ts"), (3, "")]
    assert count(client, admin_headers) == 2


def test_partial_with_only_bad_rows_stores_nothing(client: TestClient, admin_headers) -> None:
    response = ingest(client, admin_headers, [event(1, amount="x")], partial=True)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 0
    assert count(client, admin_headers) == 0


def test_body_that_is_not_an_array(client: TestClient, admin_headers) -> None:
    response = ingest(client, admin_headers, event(1))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert count(client, admin_headers) == 0


# --- NDJSON -------------------------------------------------------------------------------------


def _ndjson(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def test_ndjson_with_a_malformed_line_rejects_the_batch(client: TestClient, admin_headers) -> None:
    data = _ndjson(orjson.dumps(event(1)), b'{"event_id": oops', orjson.dumps(event(2)))
    response = ingest_raw(client, admin_headers, data, NDJSON["Content-Type"])
    rejected = assert_rejected_batch(response, [(1, "")])
    assert "JSON" in rejected[0]["reason"]
    assert count(client, admin_headers) == 0


def test_ndjson_sent_as_json_is_refused_with_the_content_type_to_use(
    client: TestClient, admin_headers
) -> None:
    data = _ndjson(orjson.dumps(event(1)), orjson.dumps(event(2)))
    response = ingest_raw(client, admin_headers, data, "application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "application/x-ndjson" in error["message"]
    assert count(client, admin_headers) == 0


def test_rows_in_another_content_type_are_a_415_naming_the_accepted_ones(
    client: TestClient, admin_headers
) -> None:
    response = ingest_raw(client, admin_headers, orjson.dumps([event(1)]), "text/plain")
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"] and "application/x-ndjson" in error["message"]
    assert count(client, admin_headers) == 0


def test_ndjson_partial_reports_the_malformed_line_as_its_row(
    client: TestClient, admin_headers
) -> None:
    data = _ndjson(
        orjson.dumps(event(1)),
        b"",  # blank lines are skipped and do not count as rows
        b"{not json",
        orjson.dumps(event(2)),
        b"[1, 2]",
        orjson.dumps(event(3, amount="x")),
        orjson.dumps(event(4)),
    )
    response = ingest_raw(
        client, admin_headers, data, "application/x-ndjson; charset=utf-8", partial=True
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 3
    assert [(r["index"], r["path"]) for r in body["rejected"]] == [(1, ""), (3, ""), (4, "amount")]
    assert "object" in body["rejected"][1]["reason"]
    assert count(client, admin_headers) == 3


def test_ndjson_without_the_content_type_is_not_ndjson(client: TestClient, admin_headers) -> None:
    data = _ndjson(orjson.dumps(event(1)), orjson.dumps(event(2)))
    response = ingest_raw(client, admin_headers, data, "application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert count(client, admin_headers) == 0


# --- nested records and upserts -----------------------------------------------------------------


def test_nested_records_as_objects_and_as_dotted_keys(client: TestClient, admin_headers) -> None:
    nested = invoice(1, amount=10, issuer={"name": "Acme", "country": "FR"})
    dotted = invoice(2, **{"grand_total.amount": 32.5, "grand_total.currency": "EUR"})
    del dotted["grand_total"]
    dotted["issuer.country"] = "DE"
    response = ingest(client, admin_headers, [nested, dotted], dataset="invoices")
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 0, "updated": 0, "rejected": []}
    body = {
        "dataset": "invoices",
        "group_by": ["grand_total.currency", "issuer.country"],
        "measures": [{"op": "sum", "field": "grand_total.amount"}],
        "order_by": [{"field": "grand_total.currency"}],
    }
    assert query(client, admin_headers, body)["rows"] == [
        {"grand_total.currency": "EUR", "issuer.country": "DE", "sum_grand_total.amount": 32.5},
        {"grand_total.currency": "USD", "issuer.country": "FR", "sum_grand_total.amount": 10.0},
    ]


def test_nested_record_problems_name_the_dotted_path(client: TestClient, admin_headers) -> None:
    bad_amount = invoice(1, grand_total={"amount": "ten", "currency": "USD"})
    bad_key = invoice(2, grand_total={"amount": 1, "currency": "USD", "rate": 2})
    bad_enum = invoice(3, grand_total={"amount": 1, "currency": "XXX"})
    response = ingest(client, admin_headers, [bad_amount, bad_key, bad_enum], dataset="invoices")
    assert_rejected_batch(
        response,
        [(0, "grand_total.amount"), (1, "grand_total.rate"), (2, "grand_total.currency")],
    )
    assert count(client, admin_headers, dataset="invoices") == 0


def test_invoice_without_required_fields(client: TestClient, admin_headers) -> None:
    row = invoice(1)
    for name in ("number", "status", "issue_date"):
        del row[name]
    response = ingest(client, admin_headers, [row, invoice(2, status="lost")], dataset="invoices")
    assert_rejected_batch(
        response, [(0, "number"), (0, "status"), (0, "issue_date"), (1, "status")]
    )
    assert count(client, admin_headers, dataset="invoices") == 0


def _invoice_totals(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    body = {
        "dataset": "invoices",
        "group_by": ["id"],
        "measures": [{"op": "sum", "field": "grand_total.amount", "as": "total"}],
        "order_by": [{"field": "id"}],
    }
    return {r["id"]: r["total"] for r in query(client, headers, body)["rows"]}


def test_upsert_replaces_a_stored_row_and_counts_it_as_updated(
    client: TestClient, admin_headers
) -> None:
    first = ingest(
        client, admin_headers, [invoice(1, amount=10), invoice(2, amount=20)], "invoices"
    )
    assert first.json() == {"accepted": 2, "duplicates": 0, "updated": 0, "rejected": []}
    second = ingest(
        client,
        admin_headers,
        [invoice(1, amount=15, status="paid"), invoice(3, amount=30)],
        "invoices",
    )
    assert second.status_code == 200, second.text
    assert second.json() == {"accepted": 1, "duplicates": 0, "updated": 1, "rejected": []}
    assert _invoice_totals(client, admin_headers) == {"inv_1": 15.0, "inv_2": 20.0, "inv_3": 30.0}
    status = {"dataset": "invoices", "group_by": ["status"], "order_by": [{"field": "status"}]}
    assert query(client, admin_headers, status)["rows"] == [
        {"status": "issued", "count": 2},
        {"status": "paid", "count": 1},
    ]


def test_upsert_of_an_identical_row_is_an_update(client: TestClient, admin_headers) -> None:
    ingest(client, admin_headers, [invoice(1)], "invoices")
    again = ingest(client, admin_headers, [invoice(1)], "invoices")
    assert again.json() == {"accepted": 0, "duplicates": 0, "updated": 1, "rejected": []}
    assert count(client, admin_headers, dataset="invoices") == 1


def test_upsert_keeps_the_latest_version_within_one_batch(
    client: TestClient, admin_headers
) -> None:
    """Two versions of one key in a batch: the later one is the latest, so it is kept."""
    batch = [invoice(1, amount=10), invoice(1, amount=99)]
    response = ingest(client, admin_headers, batch, "invoices")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert _invoice_totals(client, admin_headers) == {"inv_1": 99.0}


def test_append_dataset_answer_has_no_updated_count(client: TestClient, admin_headers) -> None:
    assert "updated" not in ingest(client, admin_headers, [event(1)]).json()


# --- who may write ------------------------------------------------------------------------------


def test_viewer_cannot_ingest(client: TestClient, admin_headers, viewer_a) -> None:
    response = ingest(client, viewer_a, [event(1)])
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    assert count(client, admin_headers) == 0


def test_editor_cannot_write_another_tenants_row(
    client: TestClient, admin_headers, editor_a
) -> None:
    response = ingest(client, editor_a, [event(1, ws="ws_b"), event(2, ws="ws_a")])
    rejected = assert_rejected_batch(response, [(0, "workspace_id")])
    assert "scope" in rejected[0]["reason"]
    assert count(client, admin_headers) == 0


def test_editor_partial_writes_only_its_own_tenant(
    client: TestClient, admin_headers, editor_a, viewer_a
) -> None:
    response = ingest(client, editor_a, [event(1, ws="ws_b"), event(2)], partial=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["path"]) for r in body["rejected"]] == [(0, "workspace_id")]
    assert count(client, admin_headers, scope={"workspace_id": "ws_b"}) == 0
    assert count(client, admin_headers, scope={"workspace_id": "ws_a"}) == 1
    assert count(client, viewer_a) == 1


def test_editor_of_one_tenant_cannot_write_an_upsert_row_of_another(
    client: TestClient, admin_headers, editor_a
) -> None:
    ingest(client, admin_headers, [invoice(1, ws="ws_b", amount=5)], "invoices")
    response = ingest(client, editor_a, [invoice(1, ws="ws_b", amount=500)], "invoices")
    assert_rejected_batch(response, [(0, "workspace_id")])
    totals = _invoice_totals(client, admin_headers)
    assert totals == {"inv_1": 5.0}


def test_no_token_is_401(client: TestClient, admin_headers) -> None:
    response = client.post("/v1/datasets/agent_events/rows", json=[event(1)])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    bad = client.post(
        "/v1/datasets/agent_events/rows", json=[event(1)], headers=bearer("tly_nope_nope")
    )
    assert bad.status_code == 401
    assert count(client, admin_headers) == 0


def test_unknown_dataset_is_404(client: TestClient, admin_headers) -> None:
    response = ingest(client, admin_headers, [event(1)], dataset="nope")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "nope" in error["message"]


# --- limits -------------------------------------------------------------------------------------


@pytest.fixture
def small_app(tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient]]:
    settings = Settings.from_env(
        data_dir=tmp_path / "small",
        datasets_dir=tmp_path / "small-datasets",
        max_body_bytes=1000,
        max_ingest_rows=3,
    )
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield app, test_client


@pytest.fixture
def small(small_app) -> tuple[TestClient, dict[str, str]]:
    app, test_client = small_app
    _, token = app.state.keys.create("admin", {}, all_tenants=True)
    return test_client, bearer(token)


def test_body_over_the_size_limit_is_413(small) -> None:
    client, headers = small
    data = orjson.dumps([event(i) for i in range(12)])
    assert len(data) > 1000
    response = ingest_raw(client, headers, data, "application/json")
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
    assert count(client, headers) == 0
    fits = ingest(client, headers, [event(1)])
    assert fits.status_code == 200, fits.text
    assert count(client, headers) == 1


def post_in_chunks(client: TestClient, headers: dict[str, str], data: bytes, size: int) -> Response:
    """`data` as a JSON body sent in chunks of `size` bytes, without a Content-Length."""

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    response = client.post(
        "/v1/datasets/agent_events/rows",
        content=chunks(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    return response


def test_streamed_body_over_the_size_limit_is_413(small) -> None:
    """Without a Content-Length the limit is enforced while the body streams in."""
    client, headers = small
    response = post_in_chunks(client, headers, orjson.dumps([event(i) for i in range(12)]), 100)
    assert response.status_code == 413, response.text
    assert count(client, headers) == 0


def test_too_many_rows_is_413(small) -> None:
    client, headers = small
    response = ingest(client, headers, [event(i) for i in range(4)])
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
    assert count(client, headers) == 0


# Bodies above SPOOL_ABOVE are spooled to a file as they arrive and read from it
SPOOLING_LIMIT = 3 * SPOOL_ABOVE


@pytest.fixture
def spooling(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    settings = Settings.from_env(
        data_dir=tmp_path / "spooling",
        datasets_dir=tmp_path / "spooling-datasets",
        max_body_bytes=SPOOLING_LIMIT,
    )
    app = create_app(settings)
    with TestClient(app) as test_client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True)
        yield test_client, bearer(token), settings.data_dir / "spool"


def spooled_body(rows: list[dict[str, Any]], content_type: str) -> bytes:
    if content_type == NDJSON["Content-Type"]:
        return b"\n".join(orjson.dumps(row) for row in rows)
    return orjson.dumps(rows)


@pytest.mark.parametrize("content_type", ["application/json", NDJSON["Content-Type"]])
def test_a_spooled_body_is_stored_and_its_file_removed(spooling, content_type: str) -> None:
    client, headers, spool = spooling
    rows = [event(i, amount=float(i)) for i in range(16_000)]
    data = spooled_body(rows, content_type)
    assert SPOOL_ABOVE < len(data) < SPOOLING_LIMIT
    response = ingest_raw(client, headers, data, content_type)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["accepted"] == len(rows)
    assert count(client, headers) == len(rows)
    total = query(
        client, headers, {"dataset": "agent_events", "measures": [{"op": "sum", "field": "amount"}]}
    )
    assert total["rows"][0]["sum_amount"] == sum(row["amount"] for row in rows)
    assert list(spool.iterdir()) == []


@pytest.mark.parametrize("content_type", ["application/json", NDJSON["Content-Type"]])
def test_a_spooled_body_with_bad_rows_names_each_one(spooling, content_type: str) -> None:
    client, headers, spool = spooling
    rows = [event(i) for i in range(16_000)]
    rows[9] = event(9, amount="ten")
    rows[15_001] = event(15_001, event_type=None)
    data = spooled_body(rows, content_type)
    assert len(data) > SPOOL_ABOVE
    response = ingest_raw(client, headers, data, content_type)
    assert_rejected_batch(response, [(9, "amount"), (15_001, "event_type")])
    assert count(client, headers) == 0
    partial = ingest_raw(client, headers, data, content_type, partial=True)
    assert partial.status_code == 200, partial.text[:500]
    assert partial.json()["accepted"] == len(rows) - 2
    assert count(client, headers) == len(rows) - 2
    assert list(spool.iterdir()) == []


def test_a_spooled_ndjson_body_with_a_line_that_is_not_json(spooling) -> None:
    """DuckDB's reader stops at the line; the line is that row's problem all the same."""
    client, headers, _ = spooling
    lines = [orjson.dumps(event(i)) for i in range(16_000)]
    lines[15_990] = b'{"workspace_id": oops'
    data = b"\n".join(lines)
    assert len(data) > SPOOL_ABOVE
    response = ingest_raw(client, headers, data, NDJSON["Content-Type"])
    assert_rejected_batch(response, [(15_990, "")])
    partial = ingest_raw(client, headers, data, NDJSON["Content-Type"], partial=True)
    assert partial.status_code == 200, partial.text[:500]
    assert partial.json()["accepted"] == len(lines) - 1
    assert count(client, headers) == len(lines) - 1


def test_spool_files_a_killed_server_left_are_removed(spooling) -> None:
    client, headers, spool = spooling
    spool.mkdir(parents=True)
    left, live = spool / "body-left", spool / "body-live"
    left.write_bytes(b"[")
    live.write_bytes(b"[")
    hours_ago = time.time() - 2 * STALE_SPOOL_S
    os.utime(left, (hours_ago, hours_ago))
    data = spooled_body([event(i) for i in range(16_000)], "application/json")
    response = ingest_raw(client, headers, data, "application/json")
    assert response.status_code == 200, response.text[:500]
    assert sorted(spool.iterdir()) == [live]


def test_a_large_body_over_the_limit_is_413_and_leaves_no_file(spooling) -> None:
    client, headers, spool = spooling
    data = orjson.dumps([event(i) for i in range(30_000)])
    assert len(data) > SPOOLING_LIMIT
    response = post_in_chunks(client, headers, data, 65_536)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
    assert not spool.exists() or list(spool.iterdir()) == []
    assert count(client, headers) == 0


# --- acknowledged only once committed -----------------------------------------------------------


def test_every_acknowledged_batch_is_visible_to_the_next_query(
    client: TestClient, admin_headers, viewer_a
) -> None:
    assert count(client, admin_headers) == 0
    assert count(client, viewer_a) == 0
    stored = 0
    for batch_no in range(4):
        size = 5 + batch_no
        batch = [
            event(100 * batch_no + i, ts=f"2026-11-0{batch_no + 1}T0{i}:00:00Z")
            for i in range(size)
        ]
        response = ingest(client, admin_headers, batch)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == size
        stored += size
        # the very next query, on the same (possibly cached) question, sees the batch
        assert count(client, admin_headers) == stored
        assert count(client, viewer_a) == stored
        newest = query(client, admin_headers, {"dataset": "agent_events"})["meta"]["watermark"]
        assert newest == f"2026-11-0{batch_no + 1}T0{size - 1}:00:00Z"


def test_a_rejected_batch_does_not_touch_what_is_stored(client: TestClient, admin_headers) -> None:
    ingest(client, admin_headers, [event(1), event(2)])
    assert count(client, admin_headers) == 2
    response = ingest(client, admin_headers, [event(3), event(4, amount=[1])])
    assert response.status_code == 400
    assert count(client, admin_headers) == 2
    totals = {
        "dataset": "agent_events",
        "group_by": ["event_id"],
        "order_by": [{"field": "event_id"}],
    }
    assert [r["event_id"] for r in query(client, admin_headers, totals)["rows"]] == [
        "evt_1",
        "evt_2",
    ]


def test_a_null_nested_record_stores_its_fields_as_null(client, admin_headers) -> None:
    row = {
        "workspace_id": "ws_a",
        "id": "tx_null_counterparty",
        "booked_at": "2026-01-05T10:00:00Z",
        "amount": {"amount": 12.5, "currency": "EUR"},
        "direction": "debit",
        "category": None,
        "counterparty": None,
        "account_id": "acc_1",
        "reconciled": False,
    }
    stored = client.post("/v1/datasets/transactions/rows", json=[row], headers=admin_headers)
    assert stored.status_code == 200, stored.text
    query = {
        "dataset": "transactions",
        "filter": {"field": "counterparty.name", "op": "is_null"},
        "measures": [{"op": "count"}],
    }
    answer = client.post("/v1/query", json=query, headers=admin_headers).json()
    assert answer["rows"][0]["count"] == 1
