"""Hostile strings in every string field of the native API that reaches a query.

Each one is either refused with the exact status, error code and JSON pointer of the native
API's error shape, or matched literally: rows whose values ARE the hostile strings are stored
first, and every count is checked against plain Python over those rows. The table must still be
there, whole, at the end; nothing may ever be a 500.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.security.support import event, ingest, open_client

HOSTILE = [
    "'; DROP TABLE agent_events; --",
    '" OR "1"="1',
    "x' OR '1'='1",
    "\\'; SELECT 1; --",
    "$$ || version() || $$",
    "%",
    "_",
    "a%b_c\\",
    "' UNION SELECT * FROM information_schema.tables --",
    "); COPY agent_events TO '/tmp/leak.csv'; --",
    "metadata->>'channel'",
    'ünï\'cødé — 🚀 "quotes"',
    "line\nbreak\ttab\r",
    "nul\x00byte",
    "{{7*7}} ${jndi:ldap://127.0.0.1/x}",
    "*",
    "",
    "x" * 2000,
]
FILLER = ["purchase", "view", "OR", "1=1", "DROP"]
IDS = [f"h{i}" for i in range(len(HOSTILE))]


def stored_rows() -> list[dict[str, Any]]:
    rows = [
        event(i, "ws_a", event_type=h, session_id=f"s{i}", metadata={"channel": h})
        for i, h in enumerate(HOSTILE)
    ]
    rows += [
        event(100 + i, "ws_a", event_type=f, metadata={"channel": f}) for i, f in enumerate(FILLER)
    ]
    rows += [
        event(200 + i, h or "empty-ws", metadata={h or "k": "v"}) for i, h in enumerate(HOSTILE)
    ]
    return rows


ROWS = stored_rows()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with open_client(tmp_path_factory.mktemp("injection") / "data") as client:
        _, token = client.app.state.keys.create("admin", {}, all_tenants=True)
        headers = bearer(token)
        ingest(client, headers, ROWS, "agent_events")
        yield client, headers
        assert total(client, headers) == len(ROWS), "the table is still there, whole"


ERROR_KEYS = {"code", "message", "details", "trace_id"}


def post(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Response:
    """POST /v1/query; the caller asserts the exact status."""
    response = client.post("/v1/query", json=body, headers=headers)
    assert "Traceback" not in response.text
    return response


def total(client: TestClient, headers: dict[str, str], **body: Any) -> int:
    response = post(client, headers, {"dataset": "agent_events", **body})
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    return rows[0]["count"] if rows else 0


def error_of(response: Response, status: int, code: str) -> dict[str, Any]:
    """The native error shape: `{"error": {"code", "message", "details", "trace_id"}}`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["trace_id"], str) and error["trace_id"]
    assert "Traceback" not in response.text
    return error


def refused(response: Response, path: str, code: str = "invalid_query") -> None:
    """A 400 whose one detail points at `path`."""
    error = error_of(response, 400, code)
    assert [d["path"] for d in error["details"]] == [path], error
    assert all(set(d) == {"path", "reason"} and d["reason"] for d in error["details"]), error


def pointer_token(name: str) -> str:
    """A key as one JSON-pointer segment (RFC 6901: `~` is `~0`, `/` is `~1`)."""
    return name.replace("~", "~0").replace("/", "~1")


TEXT_OPS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda value, h: value == h,
    "neq": lambda value, h: value != h,
    "contains": lambda value, h: h in value,
    "not_contains": lambda value, h: h not in value,
    "starts_with": lambda value, h: value.startswith(h),
    "ends_with": lambda value, h: value.endswith(h),
}


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
@pytest.mark.parametrize("field", ["event_type", "metadata.channel"])
def test_filter_values_match_literally(api, field: str, hostile: str) -> None:
    client, headers = api

    def value(row: dict[str, Any]) -> str:
        return row["metadata"]["channel"] if field != "event_type" else row["event_type"]

    present = [r for r in ROWS if field == "event_type" or "channel" in r["metadata"]]
    for op, test in TEXT_OPS.items():
        leaf = {"field": field, "op": op, "value": hostile}
        expected = sum(test(value(r), hostile) for r in present)
        assert total(client, headers, filter=leaf) == expected, (op, hostile)
    listed = {"field": field, "op": "in", "value": [hostile, "no-such-value"]}
    assert total(client, headers, filter=listed) == sum(value(r) == hostile for r in present)
    unlisted = {"field": field, "op": "nin", "value": [hostile, "purchase"]}
    expected = sum(value(r) not in (hostile, "purchase") for r in present)
    assert total(client, headers, filter=unlisted) == expected
    folded = {"field": field, "op": "contains", "value": hostile.upper(), "case_insensitive": True}
    expected = sum(hostile.upper().lower() in value(r).lower() for r in present)
    assert total(client, headers, filter=folded) == expected


@pytest.mark.parametrize("field", ["event_type", "metadata.channel"])
def test_group_keys_come_back_exactly(api, field: str) -> None:
    client, headers = api
    body = {"dataset": "agent_events", "group_by": [field], "limit": 1000}
    response = post(client, headers, body)
    assert response.status_code == 200, response.text
    got = {row[field]: row["count"] for row in response.json()["rows"]}
    key = (lambda r: r["metadata"].get("channel")) if field != "event_type" else None
    expected = Counter(key(r) if key else r["event_type"] for r in ROWS)
    assert got == dict(expected)


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_scope_values_are_literal_for_a_request_and_for_a_key(api, hostile: str) -> None:
    client, headers = api
    workspace = hostile or "empty-ws"
    expected = sum(r["workspace_id"] == workspace for r in ROWS)
    assert total(client, headers, scope={"workspace_id": workspace}) == expected == 1
    assert total(client, headers, scope={"workspace_id": [workspace, "ws_none"]}) == 1
    keys: KeyStore = client.app.state.keys
    _, token = keys.create("viewer", {"workspace_id": (workspace,)})
    assert total(client, bearer(token)) == 1
    other = post(
        client, bearer(token), {"dataset": "agent_events", "scope": {"workspace_id": "ws_a"}}
    )
    error = error_of(other, 403, "forbidden")
    assert error["details"] == [] and "ws_a" in error["message"]


def hostile_bodies(h: str) -> list[tuple[dict[str, Any], str]]:
    """Every identifier-like place of a query, each holding the hostile string, with the JSON
    pointer of the one problem the answer must name."""
    ds = "agent_events"
    count = [{"op": "count"}]
    return [
        ({"dataset": ds, "filter": {"field": h, "op": "eq", "value": "x"}}, "/filter/field"),
        ({"dataset": ds, "filter": {"field": f"metadata.{h}", "op": "eq", "value": "x"}},
         "/filter/field"),
        ({"dataset": ds, "filter": {"field": f"amount.{h}", "op": "eq", "value": "x"}},
         "/filter/field"),
        ({"dataset": ds, "filter": {"field": "event_type", "op": h, "value": "x"}}, "/filter/op"),
        ({"dataset": ds, "group_by": [h]}, "/group_by/0"),
        ({"dataset": ds, "group_by": [f"metadata.{h}"]}, "/group_by/0"),
        ({"dataset": ds, "group_by": [{"time": h}], "time": {"last": "7d"}}, "/group_by/0/time"),
        ({"dataset": ds, "measures": [{"op": "sum", "field": h}]}, "/measures/0/field"),
        ({"dataset": ds, "measures": [{"op": "sum", "field": f"metadata.{h}"}]},
         "/measures/0/field"),
        ({"dataset": ds, "measures": [{"op": "count", "as": h}]}, "/measures/0/as"),
        ({"dataset": ds, "measures": [{"op": h}]}, "/measures/0/op"),
        ({"dataset": ds, "measures": count, "order_by": [{"field": h}]}, "/order_by/0/field"),
        ({"dataset": ds, "measures": count, "order_by": [{"field": "count", "dir": h}]},
         "/order_by/0/dir"),
        ({"dataset": ds, "measures": count, "having": {"field": h, "op": "gt", "value": 1}},
         "/having/field"),
        ({"dataset": ds, "scope": {h: "ws_a"}}, f"/scope/{pointer_token(h)}"),
        ({"dataset": ds, "timezone": h}, "/timezone"),
        ({"dataset": ds, "time": {"last": h}}, "/time/last"),
        ({"dataset": ds, "time": {"start": h, "end": "2026-11-02T00:00:00Z"}}, "/time/start"),
        ({"dataset": ds, "compare": h, "time": {"last": "7d"}}, "/compare"),
        ({"dataset": ds, "fill": h}, "/fill"),
        ({"dataset": ds, "cache": h}, "/cache"),
        ({"dataset": ds, h: 1}, f"/{pointer_token(h)}"),
    ]  # fmt: skip


NAMES = [pytest.param(h, id=f"h{i}") for i, h in enumerate(HOSTILE) if h not in ("", "_")]


@pytest.mark.parametrize("hostile", NAMES)
def test_hostile_names_are_refused(api, hostile: str) -> None:
    client, headers = api
    for body, path in hostile_bodies(hostile):
        refused(post(client, headers, body), path)
    # a name longer than a dataset name may be is refused by the model, else by the catalog
    unknown = "invalid_query" if len(hostile) > 64 else "unknown_dataset"
    refused(post(client, headers, {"dataset": hostile}), "/dataset", unknown)
    name = quote(hostile, safe="")
    for response in (
        client.get(f"/v1/datasets/{name}", headers=headers),
        client.post(f"/v1/datasets/{name}/rows", json=[event(999)], headers=headers),
    ):
        assert error_of(response, 404, "not_found")["details"] == []
    preview = client.post(
        "/v1/query/sql", json={"dataset": "agent_events", "group_by": [hostile]}, headers=headers
    )
    refused(preview, "/group_by/0")


def test_the_sql_preview_binds_hostile_values(api) -> None:
    client, headers = api
    hostile = HOSTILE[0]
    body = {
        "dataset": "agent_events",
        "filter": {"field": "event_type", "op": "eq", "value": hostile},
    }
    response = client.post("/v1/query/sql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert hostile not in preview["sql"] and hostile in preview["params"].values()
