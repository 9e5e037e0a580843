"""`filters` and `whereClause` of `POST /v1/records/statistics`, against plain-Python predicates.

Each accepted operator is checked by counting the matching documents both ways; each refused one
by its 400 and the path of the offending element.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.profiles.records_statistics_support import Env, get, null_safe, open_env

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


def oracle_count(env: Env, root: str, keep: Callable[[Doc], bool]) -> int:
    return sum(1 for d in env.docs[root] if keep(d))


def rule(field: str, operator: str, value: Any = None, conjunction: str = "and") -> dict:
    out = {"field": field, "operator": operator, "conjunction": conjunction}
    return out if value is None else {**out, "value": value}


def day_of(doc: Doc, path: str) -> str | None:
    value = get(doc, path)
    return value[:10] if value else None


ACCEPTED: list[tuple[str, dict, Callable[[Doc], bool]]] = [
    # text
    ("invoices", rule("customer.name", "contains", "ACME"),
     lambda d: null_safe(d, "customer.name", lambda v: "acme" in v.lower())),
    ("invoices", rule("customer.name", "contains", "50%"),
     lambda d: null_safe(d, "customer.name", lambda v: "50%" in v)),
    ("invoices", rule("customer.name", "eq", "acme labs"),
     lambda d: get(d, "customer.name") == "acme labs"),
    ("invoices", rule("customer.name", "neq", "acme labs"),
     lambda d: null_safe(d, "customer.name", lambda v: v != "acme labs")),
    ("invoices", rule("customer.name", "starts_with", "blue"),
     lambda d: null_safe(d, "customer.name", lambda v: v.lower().startswith("blue"))),
    ("invoices", rule("customer.name", "ends_with", " bv"),
     lambda d: null_safe(d, "customer.name", lambda v: v.lower().endswith(" bv"))),
    ("invoices", rule("customer.name", "is_null"), lambda d: get(d, "customer.name") is None),
    ("invoices", rule("customer.name", "is_not_null"),
     lambda d: get(d, "customer.name") is not None),
    ("invoices", rule("number", "is_null"), lambda d: False),
    # number
    ("invoices", rule("grand_total.amount", "eq", 1451.25),
     lambda d: get(d, "grand_total.amount") == 1451.25),
    ("invoices", rule("line_count", "eq", 10), lambda d: get(d, "line_count") == 10),
    ("invoices", rule("line_count", "neq", 3),
     lambda d: null_safe(d, "line_count", lambda v: v != 3)),
    ("invoices", rule("grand_total.amount", "gt", 1500),
     lambda d: null_safe(d, "grand_total.amount", lambda v: v > 1500)),
    ("invoices", rule("line_count", "gte", 6),
     lambda d: null_safe(d, "line_count", lambda v: v >= 6)),
    ("invoices", rule("grand_total.amount", "lt", 200.5),
     lambda d: null_safe(d, "grand_total.amount", lambda v: v < 200.5)),
    ("invoices", rule("line_count", "lte", 2),
     lambda d: null_safe(d, "line_count", lambda v: v <= 2)),
    ("invoices", rule("grand_total.amount", "is_null"),
     lambda d: get(d, "grand_total.amount") is None),
    ("invoices", rule("line_count", "is_not_null"), lambda d: get(d, "line_count") is not None),
    ("documents", rule("size_bytes", "is_null"), lambda d: False),
    ("documents", rule("size_bytes", "is_not_null"), lambda d: True),
    # date: a date column compares days
    ("invoices", rule("issue_date", "eq", "2026-02-03"), lambda d: d["issue_date"] == "2026-02-03"),
    ("invoices", rule("issue_date", "lt", "2026-02-03"), lambda d: d["issue_date"] < "2026-02-03"),
    ("invoices", rule("issue_date", "gt", "2026-02-03"), lambda d: d["issue_date"] > "2026-02-03"),
    ("invoices", rule("due_date", "is_null"), lambda d: d["due_date"] is None),
    ("invoices", rule("due_date", "is_not_null"), lambda d: d["due_date"] is not None),
    # date: a timestamp given a day compares the whole UTC day
    ("invoices", rule("paid_at", "eq", "2026-01-10"),
     lambda d: day_of(d, "paid_at") == "2026-01-10"),
    ("invoices", rule("paid_at", "lt", "2026-01-10"),
     lambda d: null_safe(d, "paid_at", lambda v: v[:10] < "2026-01-10")),
    ("invoices", rule("paid_at", "gt", "2026-01-10"),
     lambda d: null_safe(d, "paid_at", lambda v: v[:10] > "2026-01-10")),
    ("invoices", rule("paid_at", "eq", "2026-01-10T12:00:00Z"),
     lambda d: d["paid_at"] == "2026-01-10T12:00:00Z"),
    ("invoices", rule("paid_at", "gt", "2026-01-10T12:00:00+01:00"),
     lambda d: null_safe(d, "paid_at", lambda v: v > "2026-01-10T11:00:00Z")),
    ("invoices", rule("paid_at", "is_null"), lambda d: d["paid_at"] is None),
    ("transactions", rule("booked_at", "eq", "2026-01-10"),
     lambda d: d["booked_at"][:10] == "2026-01-10"),
    ("transactions", rule("booked_at", "is_not_null"), lambda d: True),
    # boolean
    ("transactions", rule("reconciled", "eq", True), lambda d: d["reconciled"] is True),
    ("companies", rule("is_customer", "eq", False), lambda d: d["is_customer"] is False),
    # enum
    ("invoices", rule("status", "eq", "paid"), lambda d: d["status"] == "paid"),
    ("invoices", rule("status", "neq", "paid"), lambda d: d["status"] != "paid"),
    ("invoices", rule("status", "in", ["draft", "void"]),
     lambda d: d["status"] in ("draft", "void")),
    ("invoices", rule("status", "is_null"), lambda d: False),
    ("invoices", rule("status", "is_not_null"), lambda d: True),
    ("invoices", rule("customer.country", "neq", "FR"),
     lambda d: null_safe(d, "customer.country", lambda v: v != "FR")),
    ("invoices", rule("customer.country", "is_null"), lambda d: get(d, "customer.country") is None),
    ("invoices", rule("grand_total.currency", "in", ["GBP", "USD"]),
     lambda d: get(d, "grand_total.currency") in ("GBP", "USD")),
    ("transactions", rule("category", "is_not_null"), lambda d: d["category"] is not None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("root", "filter_rule", "keep"),
    ACCEPTED,
    ids=[f"{r}-{f['field']}-{f['operator']}-{f.get('value')}" for r, f, _ in ACCEPTED],
)
def test_accepted_operators_select_the_same_documents(env: Env, root, filter_rule, keep) -> None:
    assert env.count(root, filters=[filter_rule]) == oracle_count(env, root, keep)


def test_the_timestamp_day_cases_are_not_trivial(env: Env) -> None:
    """The edge instants exist, so `eq` on a day really excludes its neighbours' edges."""
    paid = {d["paid_at"] for d in env.docs["invoices"]}
    assert {"2026-01-09T23:59:59Z", "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z"} <= paid
    assert env.count("invoices", filters=[rule("paid_at", "eq", "2026-01-10")]) >= 2


REFUSED = [
    ("invoices", "customer.name", ("gt", "in", "like", "is_empty", "between", "gte")),
    ("invoices", "grand_total.amount", ("contains", "in", "starts_with", "is_empty")),
    ("invoices", "issue_date", ("gte", "lte", "neq", "in", "contains")),
    ("invoices", "paid_at", ("gte", "neq", "between")),
    ("transactions", "reconciled", ("neq", "is_null", "is_not_null", "in", "gt")),
    ("invoices", "status", ("contains", "gt", "starts_with", "nin", "lt")),
    ("invoices", "line_count", ("foo", "EQ", "not_null")),
]


@pytest.mark.parametrize(
    ("root", "field", "operator"),
    [(root, field, op) for root, field, ops in REFUSED for op in ops],
)
def test_operators_outside_the_type_are_refused(env: Env, root, field, operator) -> None:
    body = {
        "root": root,
        "filters": [rule("id", "is_not_null"), rule(field, operator, "x")],
        "aggregations": [{"op": "count", "field": "*"}],
    }
    payload = env.error(body)
    assert payload["code"] == "BAD_REQUEST"
    assert payload["details"]["path"] == "filters[1].operator"
    assert repr(operator) in payload["details"]["issue"]


BAD_VALUES = [
    (rule("customer.name", "is_null", "x"), "takes no value"),
    (rule("status", "is_not_null", "paid"), "takes no value"),
    (rule("status", "in", "paid"), "array"),
    (rule("status", "in", []), "array"),
    (rule("status", "eq", "lost"), "not one of"),
    (rule("status", "in", ["paid", "lost"]), "not one of"),
    (rule("line_count", "gt", "5"), "integer"),
    (rule("grand_total.amount", "eq", True), "number"),
    (rule("issue_date", "eq", "yesterday"), "date"),
    (rule("issue_date", "gt", "2026-02-30"), "date"),
    (rule("paid_at", "eq", "2026-01-10T10:00:00"), "timestamp"),
    (rule("paid_at", "eq", "2026-02-30"), "calendar date"),
    (rule("customer.name", "contains", 5), "string"),
    (rule("customer.name", "eq"), "needs a value"),
]


@pytest.mark.parametrize(("filter_rule", "reason"), BAD_VALUES)
def test_values_that_do_not_fit_are_refused(env: Env, filter_rule: dict, reason: str) -> None:
    body = {
        "root": "invoices",
        "filters": [filter_rule],
        "aggregations": [{"op": "count", "field": "*"}],
    }
    payload = env.error(body)
    assert payload["code"] == "BAD_REQUEST"
    assert payload["details"]["path"] == "filters[0].value"
    assert reason in payload["details"]["issue"]


def test_boolean_eq_takes_a_boolean(env: Env) -> None:
    body = {
        "root": "transactions",
        "filters": [rule("reconciled", "eq", "true")],
        "aggregations": [{"op": "count", "field": "*"}],
    }
    assert env.error(body)["details"]["path"] == "filters[0].value"


def test_unknown_filter_fields_are_refused_with_their_path(env: Env) -> None:
    body = {
        "root": "invoices",
        "filters": [rule("status", "eq", "paid"), rule("grand_total", "gt", 5)],
        "aggregations": [{"op": "count", "field": "*"}],
    }
    payload = env.error(body)
    assert payload["details"]["path"] == "filters[1].field"
    assert "grand_total.amount" in payload["details"]["issue"]


# ---- and / or precedence --------------------------------------------------------------------

A = ("status", "eq", "paid")
B = ("grand_total.amount", "gt", 1500)
C = ("customer.country", "eq", "FR")


def a(d: Doc) -> bool:
    return d["status"] == "paid"


def b(d: Doc) -> bool:
    return null_safe(d, "grand_total.amount", lambda v: v > 1500)


def c(d: Doc) -> bool:
    return get(d, "customer.country") == "FR"


def test_and_binds_tighter_than_or(env: Env) -> None:
    """`a and b or c` is `(a AND b) OR c`, and the data tells the two readings apart."""
    filters = [rule(*A, "and"), rule(*B, "or"), rule(*C)]
    want = oracle_count(env, "invoices", lambda d: (a(d) and b(d)) or c(d))
    other_reading = oracle_count(env, "invoices", lambda d: a(d) and (b(d) or c(d)))
    assert want != other_reading
    assert env.count("invoices", filters=filters) == want


def test_or_then_and_groups_the_and_on_the_right(env: Env) -> None:
    """`a or b and c` is `a OR (b AND c)`."""
    filters = [rule(*A, "or"), rule(*B, "and"), rule(*C)]
    want = oracle_count(env, "invoices", lambda d: a(d) or (b(d) and c(d)))
    assert want != oracle_count(env, "invoices", lambda d: (a(d) or b(d)) and c(d))
    assert env.count("invoices", filters=filters) == want


def test_the_last_conjunction_joins_nothing(env: Env) -> None:
    filters = [rule(*A, "and"), rule(*B, "or")]
    assert env.count("invoices", filters=filters) == oracle_count(
        env, "invoices", lambda d: a(d) and b(d)
    )


def test_constant_rules_keep_their_place_in_the_expression(env: Env) -> None:
    """`status is_null` is false for a required field: `false and b or c` is just `c`."""
    filters = [rule("status", "is_null", conjunction="and"), rule(*B, "or"), rule(*C)]
    assert env.count("invoices", filters=filters) == oracle_count(env, "invoices", c)
    always = [rule("status", "is_not_null", conjunction="or"), rule(*C)]
    assert env.count("invoices", filters=always) == len(env.docs["invoices"])


# ---- whereClause ----------------------------------------------------------------------------

WHERE: list[tuple[str, dict, Callable[[Doc], bool]]] = [
    ("eq", {"status": {"_eq": "void"}}, lambda d: d["status"] == "void"),
    ("neq", {"customer": {"country": {"_neq": "FR"}}},
     lambda d: null_safe(d, "customer.country", lambda v: v != "FR")),
    ("gt", {"grand_total": {"amount": {"_gt": 2000}}},
     lambda d: null_safe(d, "grand_total.amount", lambda v: v > 2000)),
    ("gte", {"line_count": {"_gte": 7}}, lambda d: null_safe(d, "line_count", lambda v: v >= 7)),
    ("lt", {"issue_date": {"_lt": "2026-01-20"}}, lambda d: d["issue_date"] < "2026-01-20"),
    ("lte", {"paid_at": {"_lte": "2026-01-10T00:00:00Z"}},
     lambda d: null_safe(d, "paid_at", lambda v: v <= "2026-01-10T00:00:00Z")),
    ("timestamp vs date", {"paid_at": {"_gte": "2026-01-10", "_lt": "2026-01-11"}},
     lambda d: day_of(d, "paid_at") == "2026-01-10"),
    ("in", {"issuer": {"name": {"_in": ["Acme Ltd", "Globex SAS"]}}},
     lambda d: d["issuer"]["name"] in ("Acme Ltd", "Globex SAS")),
    ("nin", {"status": {"_nin": ["paid", "draft"]}},
     lambda d: d["status"] not in ("paid", "draft")),
    ("is_null true", {"customer": {"name": {"_is_null": True}}},
     lambda d: get(d, "customer.name") is None),
    ("is_null false", {"due_date": {"_is_null": False}}, lambda d: d["due_date"] is not None),
    ("is_null on required", {"status": {"_is_null": True}}, lambda d: False),
    ("like", {"customer": {"name": {"_like": "Zeta 50%"}}},
     lambda d: null_safe(d, "customer.name", lambda v: v.startswith("Zeta 50"))),
    ("like is case-sensitive", {"customer": {"name": {"_like": "acme%"}}},
     lambda d: null_safe(d, "customer.name", lambda v: v.startswith("acme"))),
    ("like underscore", {"customer": {"name": {"_like": "Under_Score%"}}},
     lambda d: null_safe(d, "customer.name", lambda v: v[:5] == "Under" and v[6:11] == "Score")),
    ("ilike", {"issuer": {"name": {"_ilike": "%acme%"}}},
     lambda d: "acme" in d["issuer"]["name"].lower()),
    ("dotted key", {"customer.name": {"_ilike": "%harbor%"}},
     lambda d: null_safe(d, "customer.name", lambda v: "harbor" in v.lower())),
    ("two operators", {"grand_total": {"amount": {"_gte": 500, "_lt": 1000}}},
     lambda d: null_safe(d, "grand_total.amount", lambda v: 500 <= v < 1000)),
    ("two fields", {"status": {"_eq": "paid"}, "grand_total": {"currency": {"_eq": "EUR"}}},
     lambda d: d["status"] == "paid" and d["grand_total"]["currency"] == "EUR"),
    ("and", {"_and": [{"status": {"_eq": "paid"}}, {"line_count": {"_gt": 3}}]},
     lambda d: d["status"] == "paid" and null_safe(d, "line_count", lambda v: v > 3)),
    ("or", {"_or": [{"status": {"_eq": "void"}}, {"customer": {"country": {"_eq": "NL"}}}]},
     lambda d: d["status"] == "void" or get(d, "customer.country") == "NL"),
    ("not", {"_not": {"status": {"_in": ["paid", "void"]}}},
     lambda d: d["status"] not in ("paid", "void")),
    ("nested", {"_or": [
        {"_and": [{"status": {"_eq": "paid"}}, {"_not": {"issuer": {"country": {"_eq": "US"}}}}]},
        {"_not": {"_or": [{"line_count": {"_lt": 10}}, {"line_count": {"_is_null": True}}]}},
    ]},
     lambda d: (d["status"] == "paid" and d["issuer"]["country"] != "US")
     or not (d["line_count"] is None or d["line_count"] < 10)),
    ("or inside a nested object",
     {"customer": {"_or": [{"country": {"_eq": "DE"}}, {"name": {"_eq": "Orion Foods"}}]}},
     lambda d: get(d, "customer.country") == "DE" or get(d, "customer.name") == "Orion Foods"),
    ("empty object", {}, lambda d: True),
    ("empty and", {"_and": []}, lambda d: True),
    ("empty or", {"_or": []}, lambda d: False),
    ("not of nothing", {"_not": {}}, lambda d: False),
    ("not null-safe", {"_not": {"grand_total": {"amount": {"_lt": 1000}}}},
     lambda d: null_safe(d, "grand_total.amount", lambda v: not v < 1000)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "where", "keep"), WHERE, ids=[w[0] for w in WHERE])
def test_where_clause_selects_the_same_documents(env: Env, name, where, keep) -> None:
    want = oracle_count(env, "invoices", keep)
    assert env.count("invoices", whereClause=where) == want


def test_where_clause_on_a_boolean_and_a_timestamp_root(env: Env) -> None:
    where = {"reconciled": {"_eq": False}, "booked_at": {"_gte": "2026-02-01T00:00:00Z"}}
    keep = lambda d: not d["reconciled"] and d["booked_at"] >= "2026-02-01T00:00:00Z"  # noqa: E731
    assert env.count("transactions", whereClause=where) == oracle_count(env, "transactions", keep)


def test_where_clause_is_anded_with_filters(env: Env) -> None:
    filters = [rule(*A, "or"), rule(*C)]
    where = {"grand_total": {"currency": {"_eq": "EUR"}}}
    want = oracle_count(
        env, "invoices", lambda d: (a(d) or c(d)) and d["grand_total"]["currency"] == "EUR"
    )
    assert env.count("invoices", filters=filters, whereClause=where) == want


WHERE_ERRORS = [
    ({"statuz": {"_eq": "paid"}}, "whereClause.statuz", "unknown field"),
    ({"status": {"_gtx": "paid"}}, "whereClause.status._gtx", "unknown operator"),
    ({"line_count": {"_like": "1%"}}, "whereClause.line_count._like", "not available"),
    ({"status": {"_eq": "lost"}}, "whereClause.status._eq", "not one of"),
    ({"status": {"_in": "paid"}}, "whereClause.status._in", "array"),
    ({"status": {"_is_null": "yes"}}, "whereClause.status._is_null", "true or false"),
    ({"status": "paid"}, "whereClause.status", "expected an object"),
    ({"_and": {"status": {"_eq": "paid"}}}, "whereClause._and", "array"),
    ({"_or": [{"status": {"_eq": "paid"}}, 3]}, "whereClause._or[1]", "expected an object"),
    ({"_eq": "paid"}, "whereClause._eq", "not allowed here"),
    ({"issuer": {"nam": {"_eq": "x"}}}, "whereClause.issuer.nam", "unknown field"),
    ({"grand_total": {"_eq": 5}}, "whereClause.grand_total._eq", "not allowed here"),
    ({"_not": {"_and": [{"paid_at": {"_gt": "soon"}}]}}, "whereClause._not._and[0].paid_at._gt",
     "timestamp"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("where", "path", "reason"), WHERE_ERRORS, ids=[e[1] for e in WHERE_ERRORS]
)
def test_where_clause_errors_name_the_element(env: Env, where, path: str, reason: str) -> None:
    body = {
        "root": "invoices",
        "whereClause": where,
        "aggregations": [{"op": "count", "field": "*"}],
    }
    payload = env.error(body)
    assert payload["code"] == "BAD_REQUEST"
    assert payload["details"]["path"] == path
    assert reason in payload["details"]["issue"]


def test_where_clause_refuses_order_comparisons_on_booleans(env: Env) -> None:
    body = {
        "root": "transactions",
        "whereClause": {"_or": [{"reconciled": {"_eq": True}}, {"reconciled": {"_gt": False}}]},
        "aggregations": [{"op": "count", "field": "*"}],
    }
    payload = env.error(body)
    assert payload["details"]["path"] == "whereClause._or[1].reconciled._gt"
    assert "not available on 'reconciled' (boolean)" in payload["details"]["issue"]


def test_where_clause_that_is_not_an_object_is_a_schema_error(env: Env) -> None:
    body = {"root": "invoices", "whereClause": [1], "aggregations": [{"op": "count", "field": "*"}]}
    payload = env.error(body)
    assert payload["code"] == "SCHEMA_VALIDATION_ERROR"
    assert payload["details"]["path"] == "whereClause"


def test_every_problem_is_listed(env: Env) -> None:
    body = {
        "root": "invoices",
        "filters": [rule("status", "gt", "paid")],
        "whereClause": {"line_count": {"_like": "x"}},
        "aggregations": [{"op": "sum", "field": "status"}],
    }
    payload = env.error(body)
    paths = [e["path"] for e in payload["details"]["errors"]]
    assert paths == ["filters[0].operator", "whereClause.line_count._like", "aggregations[0].op"]
