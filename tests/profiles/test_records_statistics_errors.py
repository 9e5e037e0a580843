"""The error envelope of `POST /v1/records/statistics` and the path of every refused element."""

from __future__ import annotations

from typing import Any

import pytest

from tests.profiles.records_statistics_support import URL, Env, open_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


COUNT = {"op": "count", "field": "*"}


def body(**fields: Any) -> dict[str, Any]:
    return {"root": "invoices", "aggregations": [COUNT], **fields}


def test_the_envelope_of_a_bad_request(env: Env) -> None:
    payload = env.error(body(aggregations=[COUNT, {"op": "sum", "field": "grand_total.amout"}]))
    assert list(payload) == ["code", "status", "title", "message", "details", "meta"]
    assert payload["code"] == "BAD_REQUEST"
    assert payload["status"] == 400
    assert payload["title"] == "Bad Request"
    assert payload["message"] == "Invalid root, field, or aggregation."
    assert payload["details"]["path"] == "aggregations[1].field"
    assert "grand_total.amout" in payload["details"]["issue"]
    assert list(payload["meta"]) == ["trace_id"]


BAD_REQUESTS = [
    ("unknown root", {"root": "invoicez"}, "root", "unknown root"),
    ("not a records root", {"root": "agent_events"}, "root", "unknown root"),
    ("unknown op", {"aggregations": [{"op": "median", "field": "line_count"}]},
     "aggregations[0].op", "unknown op"),
    ("star with sum", {"aggregations": [{"op": "sum", "field": "*"}]},
     "aggregations[0].field", "count only"),
    ("star with count_distinct", {"aggregations": [{"op": "count_distinct", "field": "*"}]},
     "aggregations[0].field", "count only"),
    ("sum of text", {"aggregations": [COUNT, {"op": "sum", "field": "customer.name"}]},
     "aggregations[1].op", "(text)"),
    ("avg of a date", {"aggregations": [{"op": "avg", "field": "issue_date"}]},
     "aggregations[0].op", "(date)"),
    ("sum of an enum", {"aggregations": [{"op": "sum", "field": "status"}]},
     "aggregations[0].op", "(enum)"),
    ("object field", {"aggregations": [{"op": "sum", "field": "grand_total"}]},
     "aggregations[0].field", "grand_total.amount"),
    ("duplicate alias", {"aggregations": [
        {"op": "count", "field": "*", "alias": "x"},
        {"op": "max", "field": "line_count", "alias": "x"}]},
     "aggregations[1].alias", "two aggregations"),
    ("duplicate default alias", {"aggregations": [COUNT, COUNT]},
     "aggregations[1].alias", "'count_all'"),
    ("explicit alias equal to a default", {"aggregations": [
        {"op": "sum", "field": "line_count"},
        {"op": "count", "field": "*", "alias": "sum_line_count"}]},
     "aggregations[1].alias", "two aggregations"),
    ("alias equal to a group", {"group_by": ["status"], "aggregations": [
        {"op": "count", "field": "*", "alias": "status"}]},
     "aggregations[0].alias", "group_by"),
    ("alias with a space", {"aggregations": [{"op": "count", "field": "*", "alias": "all rows"}]},
     "aggregations[0].alias", "letters"),
    ("unknown group", {"group_by": ["status", "stage"]}, "group_by[1]", "unknown field"),
    ("group twice", {"group_by": ["status", "status"]}, "group_by[1]", "twice"),
    ("group by an object", {"group_by": ["customer"]}, "group_by[0]", "customer.name"),
    ("order by an unknown name", {"group_by": ["status"], "order_by": [{"field": "count"}]},
     "order_by[0].field", "neither"),
    ("order by a field not grouped", {"order_by": [{"field": "status"}]},
     "order_by[0].field", "neither"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "fields", "path", "reason"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_requests_name_the_offending_element(env: Env, case, fields, path, reason) -> None:
    payload = env.error(body(**fields))
    assert payload["code"] == "BAD_REQUEST"
    assert payload["details"]["path"] == path
    assert reason in payload["details"]["issue"]


SCHEMA_ERRORS = [
    ("unknown key", {"dataset": "invoices"}, "dataset"),
    ("root missing", {"root": None}, "root"),
    ("no aggregations", {"aggregations": []}, "aggregations"),
    ("aggregation without field", {"aggregations": [{"op": "count"}]}, "aggregations[0].field"),
    ("unknown aggregation key", {"aggregations": [{**COUNT, "as": "n"}]}, "aggregations[0].as"),
    ("limit zero", {"limit": 0}, "limit"),
    ("limit too large", {"limit": 10_001}, "limit"),
    ("limit as a string", {"limit": "10"}, "limit"),
    ("conjunction", {"filters": [{"field": "status", "operator": "eq", "value": "paid",
                                  "conjunction": "xor"}]}, "filters[0].conjunction"),
    ("filter without operator", {"filters": [{"field": "status"}]}, "filters[0].operator"),
    ("direction", {"group_by": ["status"], "order_by": [{"field": "status", "direction": "up"}]},
     "order_by[0].direction"),
    ("group_by not a list", {"group_by": "status"}, "group_by"),
    ("workspaceId not a string", {"workspaceId": 7}, "workspaceId"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "fields", "path"), SCHEMA_ERRORS, ids=[c[0] for c in SCHEMA_ERRORS]
)
def test_misshapen_bodies_are_schema_errors(env: Env, case, fields, path) -> None:
    request = {k: v for k, v in body(**fields).items() if v is not None}
    payload = env.error(request)
    assert payload["code"] == "SCHEMA_VALIDATION_ERROR"
    assert payload["title"] == "Bad Request"
    assert payload["details"]["path"] == path


def test_a_body_that_is_not_an_object_is_a_schema_error(env: Env) -> None:
    payload = env.error([body()])
    assert payload["code"] == "SCHEMA_VALIDATION_ERROR"
    assert payload["details"]["path"] == "body"


@pytest.mark.parametrize("raw", [b'{"root": ', b"", b"not json"])
def test_invalid_json(env: Env, raw: bytes) -> None:
    response = env.client.post(
        URL, content=raw, headers={**env.admin, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "INVALID_JSON"
    assert payload["status"] == 400
    assert payload["message"] == "The request body is not valid JSON."


def test_the_limit_caps_the_groups(env: Env) -> None:
    answer = env.ok(body(group_by=["customer.name"], limit=2))
    assert len(answer["data"]) == 2
    everything = env.ok(body(group_by=["customer.name"], limit=10_000))
    assert len(everything["data"]) > 2
    assert answer["data"] == everything["data"][:2]


def test_values_are_data_never_sql(env: Env) -> None:
    where = {"customer": {"name": {"_eq": "x'; DROP TABLE invoices; --"}}}
    assert env.count("invoices", whereClause=where) == 0
    assert env.count("invoices") == len(env.docs["invoices"])
    payload = env.error(body(whereClause={"status": {"_eq": "'; SELECT 1; --"}}))
    assert payload["details"]["issue"].endswith("is not one of draft, issued, paid, overdue, void")
    assert '"src"' not in str(payload) and "WITH " not in str(payload)
