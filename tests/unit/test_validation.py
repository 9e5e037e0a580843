"""Every validation error of `POST /v1/query`: status 400, one error shape, exact JSON pointers.

Each case names the JSON pointer(s) of the problem(s) it contains; the answer must list exactly
those paths, in the shape `{"error": {"code", "message", "details": [{"path", "reason"}],
"trace_id"}}`, and must never carry SQL text or a stack trace.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

QUERY = "/v1/query"
WINDOW = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}
ERROR_KEYS = {"code", "message", "details", "trace_id"}
LEAKS = ("SELECT", "Traceback")


def ev(**fields: Any) -> dict[str, Any]:
    """A query on agent_events with the given fields."""
    return {"dataset": "agent_events", **fields}


def leaf(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


def post_query(client: TestClient, headers: dict[str, str], body: Any = None, raw=None):
    if raw is not None:
        response = client.post(
            QUERY, content=raw, headers={**headers, "Content-Type": "application/json"}
        )
    else:
        response = client.post(QUERY, json=body, headers=headers)
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} leaked into a response: {response.text}"
    return response


def assert_error(
    response: Response, paths: list[str], code: str = "invalid_query", reason: str | None = None
) -> list[dict[str, str]]:
    """The common error envelope, with exactly `paths` as the detail pointers."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ERROR_KEYS, error
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["trace_id"], str) and error["trace_id"]
    assert error["trace_id"] == response.headers["x-trace-id"]
    details = error["details"]
    assert isinstance(details, list)
    for detail in details:
        assert set(detail) == {"path", "reason"}, detail
        assert isinstance(detail["path"], str)
        assert isinstance(detail["reason"], str) and detail["reason"]
    assert sorted(d["path"] for d in details) == sorted(paths), details
    if reason is not None:
        assert any(reason in d["reason"] for d in details), details
    return details


# (id, body, expected paths, a fragment of the reason)
CASES: list[tuple[str, dict[str, Any], list[str], str]] = [
    # structure: closed models, unknown fields rejected wherever they are
    ("unknown-top-level-field", ev(bogus=1), ["/bogus"], "unknown field"),
    (
        "unknown-field-in-filter-leaf",
        ev(filter=leaf("amount", "eq", 1, x=1)),
        ["/filter/x"],
        "unknown field",
    ),
    (
        "unknown-field-in-nested-filter-leaf",
        ev(filter={"and": [leaf("amount", "eq", 1), {"or": [leaf("amount", "eq", 1, x=1)]}]}),
        ["/filter/and/1/or/0/x"],
        "unknown field",
    ),
    (
        "unknown-field-in-measure",
        ev(measures=[{"op": "count"}, {"op": "sum", "field": "amount", "x": 1}]),
        ["/measures/1/x"],
        "unknown field",
    ),
    ("unknown-field-in-time", ev(time={**WINDOW, "x": 1}), ["/time/x"], "unknown field"),
    (
        "unknown-field-in-order-by",
        ev(order_by=[{"field": "count", "x": 1}]),
        ["/order_by/0/x"],
        "unknown field",
    ),
    (
        "unknown-field-in-time-bucket",
        ev(time=WINDOW, group_by=[{"time": "1 day", "x": 1}]),
        ["/group_by/0/x"],
        "unknown field",
    ),
    (
        "unknown-field-in-top",
        ev(group_by=["event_type"], top={"n": 2, "x": 1}),
        ["/top/x"],
        "unknown field",
    ),
    ("missing-dataset", {}, ["/dataset"], "required"),
    ("dataset-not-a-string", {"dataset": 5}, ["/dataset"], "string"),
    ("unknown-filter-operator", ev(filter=leaf("amount", "glob", 1)), ["/filter/op"], "eq"),
    ("leaf-without-field", ev(filter={"op": "eq", "value": 1}), ["/filter/field"], "required"),
    ("empty-and", ev(filter={"and": []}), ["/filter/and"], "at least 1"),
    (
        "unknown-measure-op",
        ev(measures=[{"op": "median", "field": "amount"}]),
        ["/measures/0/op"],
        "count",
    ),
    ("no-measures", ev(measures=[]), ["/measures"], "at least 1"),
    ("limit-zero", ev(limit=0), ["/limit"], "greater than or equal to 1"),
    ("bad-order-dir", ev(order_by=[{"field": "count", "dir": "up"}]), ["/order_by/0/dir"], "asc"),
    ("top-n-zero", ev(group_by=["event_type"], top={"n": 0}), ["/top/n"], "greater than"),
    (
        "bad-compare-name",
        ev(time=WINDOW, compare="previous_decade"),
        ["/compare"],
        "previous_period",
    ),
    # unknown names
    (
        "unknown-column-in-nested-filter",
        ev(filter={"and": [leaf("amount", "eq", 1), {"or": [leaf("nope", "eq", 1)]}]}),
        ["/filter/and/1/or/0/field"],
        "unknown field 'nope'",
    ),
    (
        "unknown-column-under-not",
        ev(filter={"not": leaf("nope", "eq", 1)}),
        ["/filter/not/field"],
        "unknown field 'nope'",
    ),
    ("unknown-group-field", ev(group_by=["nope"]), ["/group_by/0"], "unknown field 'nope'"),
    (
        "unknown-measure-field",
        ev(measures=[{"op": "sum", "field": "nope"}]),
        ["/measures/0/field"],
        "unknown field 'nope'",
    ),
    (
        "json-column-without-key",
        ev(filter=leaf("metadata", "eq", "x")),
        ["/filter/field"],
        "metadata.<key>",
    ),
    (
        "bad-metadata-key",
        ev(filter=leaf("metadata.bad key!", "eq", "x")),
        ["/filter/field"],
        "invalid key",
    ),
    (
        "bad-metadata-key-in-group-by",
        ev(group_by=["metadata.bad key!"]),
        ["/group_by/0"],
        "invalid key",
    ),
    # operators a column does not accept
    (
        "contains-on-float",
        ev(filter=leaf("amount", "contains", "x")),
        ["/filter/op"],
        "'contains' is not allowed",
    ),
    (
        "has-any-on-string",
        ev(filter=leaf("event_type", "has_any", ["x"])),
        ["/filter/op"],
        "'has_any' is not allowed",
    ),
    (
        "contains-on-timestamp",
        ev(filter=leaf("ts", "contains", "2026")),
        ["/filter/op"],
        "'contains' is not allowed",
    ),
    # values of the wrong type or shape
    ("string-for-float", ev(filter=leaf("amount", "eq", "x")), ["/filter/value"], "number"),
    ("bool-for-float", ev(filter=leaf("amount", "eq", True)), ["/filter/value"], "number"),
    ("number-for-string", ev(filter=leaf("event_type", "eq", 3)), ["/filter/value"], "string"),
    (
        "number-for-text-op",
        ev(filter=leaf("event_type", "contains", 5)),
        ["/filter/value"],
        "string",
    ),
    ("float-for-int", ev(filter=leaf("quantity", "eq", 1.5)), ["/filter/value"], "integer"),
    ("missing-value", ev(filter=leaf("amount", "eq")), ["/filter/value"], "single value"),
    (
        "list-for-eq",
        ev(filter=leaf("metadata.channel", "eq", ["x"])),
        ["/filter/value"],
        "single value",
    ),
    (
        "non-list-for-in",
        ev(filter=leaf("event_type", "in", "x")),
        ["/filter/value"],
        "non-empty array",
    ),
    (
        "empty-list-for-in",
        ev(filter=leaf("event_type", "in", [])),
        ["/filter/value"],
        "non-empty array",
    ),
    (
        "mixed-list-for-in",
        ev(filter=leaf("amount", "in", [1, "x"])),
        ["/filter/value"],
        "number",
    ),
    (
        "between-one-value",
        ev(filter=leaf("amount", "between", [1])),
        ["/filter/value"],
        "[min, max]",
    ),
    (
        "between-three-values",
        ev(filter=leaf("amount", "between", [1, 2, 3])),
        ["/filter/value"],
        "[min, max]",
    ),
    (
        "between-scalar",
        ev(filter=leaf("amount", "between", 5)),
        ["/filter/value"],
        "[min, max]",
    ),
    (
        "value-for-is-null",
        ev(filter=leaf("amount", "is_null", 3)),
        ["/filter/value"],
        "takes no value",
    ),
    (
        "value-for-not-null",
        ev(filter=leaf("amount", "not_null", 0)),
        ["/filter/value"],
        "takes no value",
    ),
    ("bad-timestamp", ev(filter=leaf("ts", "gt", "yesterday")), ["/filter/value"], "ISO 8601"),
    (
        "timestamp-without-timezone",
        ev(filter=leaf("ts", "gt", "2026-11-01T00:00:00")),
        ["/filter/value"],
        "timezone",
    ),
    (
        "bad-date",
        {"dataset": "invoices", "filter": leaf("issue_date", "eq", "2026-13-01")},
        ["/filter/value"],
        "YYYY-MM-DD",
    ),
    (
        "enum-value-not-in-enum",
        {"dataset": "invoices", "filter": leaf("status", "eq", "bogus")},
        ["/filter/value"],
        "'bogus' is not one of",
    ),
    (
        "enum-value-not-in-enum-in-list",
        {"dataset": "invoices", "filter": leaf("status", "in", ["paid", "bogus"])},
        ["/filter/value"],
        "'bogus' is not one of",
    ),
    # measures
    (
        "percentile-without-q",
        ev(measures=[{"op": "percentile", "field": "amount"}]),
        ["/measures/0/q"],
        "needs q",
    ),
    (
        "q-above-one",
        ev(measures=[{"op": "percentile", "field": "amount", "q": 1.5}]),
        ["/measures/0/q"],
        "less than 1",
    ),
    (
        "q-equal-one",
        ev(measures=[{"op": "percentile", "field": "amount", "q": 1}]),
        ["/measures/0/q"],
        "less than 1",
    ),
    (
        "q-zero",
        ev(measures=[{"op": "percentile", "field": "amount", "q": 0}]),
        ["/measures/0/q"],
        "greater than 0",
    ),
    (
        "q-on-sum",
        ev(measures=[{"op": "sum", "field": "amount", "q": 0.5}]),
        ["/measures/0/q"],
        "percentile only",
    ),
    (
        "sum-on-string",
        ev(measures=[{"op": "sum", "field": "event_type"}]),
        ["/measures/0/op"],
        "sum is not available",
    ),
    (
        "p99-on-string",
        ev(measures=[{"op": "p99", "field": "event_type"}]),
        ["/measures/0/op"],
        "p99 is not available",
    ),
    (
        "count-distinct-without-field",
        ev(measures=[{"op": "count_distinct"}]),
        ["/measures/0/field"],
        "needs a field",
    ),
    (
        "duplicate-default-measure-names",
        ev(measures=[{"op": "count"}, {"op": "count"}]),
        ["/measures/1/as"],
        "'count'",
    ),
    (
        "duplicate-explicit-measure-names",
        ev(measures=[{"op": "count", "as": "x"}, {"op": "sum", "field": "amount", "as": "x"}]),
        ["/measures/1/as"],
        "'x'",
    ),
    (
        "shorthand-and-percentile-same-label",
        ev(
            measures=[
                {"op": "p99", "field": "amount"},
                {"op": "percentile", "field": "amount", "q": 0.99},
            ]
        ),
        ["/measures/1/as"],
        "p99_amount",
    ),
    (
        "measure-named-like-a-group",
        ev(measures=[{"op": "count", "as": "event_type"}], group_by=["event_type"]),
        ["/measures/0/as"],
        "also a group name",
    ),
    # groups and time
    (
        "two-time-buckets",
        ev(time=WINDOW, group_by=[{"time": "1 day"}, {"time": "1 hour"}]),
        ["/group_by/1"],
        "at most one time bucket",
    ),
    (
        "grouped-twice",
        ev(group_by=["event_type", "event_type"]),
        ["/group_by/1"],
        "grouped twice",
    ),
    ("unknown-timezone", ev(timezone="Mars/Olympus"), ["/timezone"], "unknown timezone"),
    (
        "bad-interval",
        ev(time=WINDOW, group_by=[{"time": "3 fortnights"}]),
        ["/group_by/0/time"],
        "pattern",
    ),
    ("bad-last", ev(time={"last": "30y"}), ["/time/last"], "pattern"),
    ("time-with-only-start", ev(time={"start": WINDOW["start"]}), ["/time"], "start and end"),
    (
        "time-with-last-and-start",
        ev(time={"last": "7d", "start": WINDOW["start"]}),
        ["/time"],
        "either last",
    ),
    (
        "end-before-start",
        ev(time={"start": WINDOW["end"], "end": WINDOW["start"]}),
        ["/time"],
        "end must be after start",
    ),
    (
        "end-equal-start",
        ev(time={"start": WINDOW["end"], "end": WINDOW["end"]}),
        ["/time"],
        "end must be after start",
    ),
    (
        "naive-time-bound",
        ev(time={"start": "2026-11-01T00:00:00", "end": WINDOW["end"]}),
        ["/time/start"],
        "timezone",
    ),
    (
        "window-too-long",
        ev(time={"start": "2000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
        ["/time"],
        "longer than",
    ),
    (
        "too-many-buckets",
        ev(time=WINDOW, group_by=[{"time": "1 second"}]),
        ["/group_by/0/time"],
        "buckets",
    ),
    (
        "time-bucket-without-window",
        ev(group_by=[{"time": "1 day"}]),
        ["/time"],
        "needs a time window",
    ),
    ("fill-without-time-bucket", ev(time=WINDOW, fill="zero"), ["/fill"], "needs a time bucket"),
    (
        "fill-without-bucket-or-window",
        ev(fill="zero"),
        ["/time", "/fill"],
        "needs a time",
    ),
    (
        "compare-without-time-window",
        ev(compare="previous_period"),
        ["/time"],
        "compare needs a time window",
    ),
    # having, order, top, limit, scope
    (
        "having-on-non-measure",
        ev(having=leaf("amount", "gt", 1)),
        ["/having/field"],
        "not a measure",
    ),
    (
        "having-on-non-measure-nested",
        ev(having={"and": [leaf("count", "gt", 1), leaf("nope", "gt", 1)]}),
        ["/having/and/1/field"],
        "not a measure",
    ),
    (
        "having-text-operator",
        ev(having=leaf("count", "contains", 1)),
        ["/having/op"],
        "not allowed in having",
    ),
    (
        "having-non-numeric-value",
        ev(having=leaf("count", "gt", "x")),
        ["/having/value"],
        "expected a number",
    ),
    (
        "having-between-one-value",
        ev(having=leaf("count", "between", [1])),
        ["/having/value"],
        "[min, max]",
    ),
    (
        "order-by-unknown-name",
        ev(order_by=[{"field": "count"}, {"field": "nope"}]),
        ["/order_by/1/field"],
        "neither a measure nor a group",
    ),
    ("top-without-group-by", ev(top={"n": 3}), ["/top"], "group_by"),
    (
        "top-with-only-time-bucket",
        ev(time=WINDOW, group_by=[{"time": "1 day"}], top={"n": 3}),
        ["/top"],
        "group_by",
    ),
    ("limit-above-max-rows", ev(limit=10_001), ["/limit"], "at most 10000"),
    (
        "scope-on-non-tenant-column",
        ev(scope={"event_type": "x"}),
        ["/scope/event_type"],
        "not a scope column",
    ),
]


@pytest.mark.parametrize(
    ("body", "paths", "reason"),
    [pytest.param(body, paths, reason, id=name) for name, body, paths, reason in CASES],
)
def test_invalid_query_is_a_400_with_exact_paths(
    client: TestClient,
    admin_headers: dict[str, str],
    body: dict[str, Any],
    paths: list[str],
    reason: str,
) -> None:
    response = post_query(client, admin_headers, body)
    assert_error(response, paths, reason=reason)


def test_case_ids_are_unique() -> None:
    names = [name for name, *_ in CASES]
    assert len(names) == len(set(names))


def test_unknown_dataset_is_reported_at_dataset(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = post_query(client, admin_headers, {"dataset": "nope", "limit": 5})
    details = assert_error(response, ["/dataset"], code="unknown_dataset")
    assert "nope" in details[0]["reason"]


def test_valid_queries_next_to_the_cases_are_accepted(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """The neighbours of the error cases pass, so each case fails for its own reason only."""
    bodies = [
        ev(filter={"and": [leaf("amount", "eq", 1), {"or": [leaf("amount", "eq", 2)]}]}),
        ev(filter=leaf("amount", "is_null")),
        ev(filter=leaf("event_type", "contains", "x")),
        ev(filter=leaf("event_type", "in", ["a", "b"])),
        ev(filter=leaf("amount", "between", [1, 2])),
        ev(filter=leaf("ts", "gt", "2026-11-01T00:00:00+01:00")),
        ev(filter=leaf("metadata.channel", "eq", "email")),
        {"dataset": "invoices", "filter": leaf("status", "in", ["paid", "void"])},
        ev(
            measures=[
                {"op": "percentile", "field": "amount", "q": 0.5},
                {"op": "p99", "field": "amount"},
            ]
        ),
        ev(measures=[{"op": "count"}, {"op": "count", "as": "n"}]),
        ev(time=WINDOW, group_by=[{"time": "1 day"}], fill="zero", compare="previous_period"),
        ev(
            measures=[{"op": "count"}], having=leaf("count", "gt", 1), order_by=[{"field": "count"}]
        ),
        ev(group_by=["event_type"], top={"n": 3}, limit=10_000),
        ev(scope={"workspace_id": "ws_a"}),
    ]
    for body in bodies:
        response = post_query(client, admin_headers, body)
        assert response.status_code == 200, (body, response.text)


def test_semantic_problems_are_all_reported_at_once(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = ev(
        filter={"and": [leaf("nope", "eq", 1), leaf("amount", "contains", "x")]},
        measures=[{"op": "sum", "field": "event_type"}, {"op": "percentile", "field": "amount"}],
        group_by=["ghost"],
        order_by=[{"field": "zzz"}],
        fill="zero",
        limit=20_000,
    )
    response = post_query(client, admin_headers, body)
    assert_error(
        response,
        [
            "/filter/and/0/field",
            "/filter/and/1/op",
            "/measures/0/op",
            "/measures/1/q",
            "/group_by/0",
            "/time",
            "/fill",
            "/order_by/0/field",
            "/limit",
        ],
    )
    assert response.json()["error"]["message"] == "9 problems in the query"


def test_structural_problems_are_all_reported_at_once(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = ev(
        bogus=1,
        limit=0,
        timezone="Mars/Olympus",
        measures=[{"op": "median"}, {"op": "count", "x": 1}],
        order_by=[{"field": "count", "dir": "up"}],
        filter={"or": [leaf("amount", "glob", 1), leaf("amount", "eq", 1, y=2)]},
    )
    response = post_query(client, admin_headers, body)
    assert_error(
        response,
        [
            "/bogus",
            "/limit",
            "/timezone",
            "/measures/0/op",
            "/measures/1/x",
            "/order_by/0/dir",
            "/filter/or/0/op",
            "/filter/or/1/y",
        ],
    )


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"dataset": "agent_events"', b"", b"   ", b"\xff\xfe\x00"],
    ids=["garbage", "truncated", "empty", "blank", "not-utf8"],
)
def test_body_that_is_not_json(
    client: TestClient, admin_headers: dict[str, str], raw: bytes
) -> None:
    response = post_query(client, admin_headers, raw=raw)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert isinstance(error["message"], str) and error["message"]
    assert error["trace_id"] == response.headers["x-trace-id"]


@pytest.mark.parametrize(
    "raw",
    [b"[1, 2]", b'"agent_events"', b"5", b"null", b"true"],
    ids=["array", "string", "number", "null", "bool"],
)
def test_body_that_is_not_an_object(
    client: TestClient, admin_headers: dict[str, str], raw: bytes
) -> None:
    response = post_query(client, admin_headers, raw=raw)
    details = assert_error(response, [""])
    assert "object" in details[0]["reason"]


def test_error_shape_is_the_same_when_there_is_no_path(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """One error shape: `details` is always a list, empty when no part of the body is at fault."""
    response = post_query(client, admin_headers, raw=b"{not json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS, error
    assert error["details"] == []


def test_trace_ids_differ_between_requests(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    first = post_query(client, admin_headers, ev(bogus=1)).json()["error"]["trace_id"]
    second = post_query(client, admin_headers, ev(bogus=1)).json()["error"]["trace_id"]
    assert first != second
