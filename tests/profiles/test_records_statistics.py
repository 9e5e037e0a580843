"""`POST /v1/records/statistics`: numbers, currency, ordering, scope and the native equivalence.

Every number is compared with `expected`, a plain-Python computation over the same nested
documents that were ingested (see records_statistics_support).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import bearer
from tests.profiles.records_statistics_support import (
    URL,
    Env,
    expected,
    open_env,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


def aggs(*items: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"op": op, "field": field, "alias": alias} for op, field, alias in items]


def assert_rows(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Equal rows; averages only up to float rounding (the engine may add in another order)."""
    assert len(got) == len(want)
    for row, oracle in zip(got, want, strict=True):
        assert list(row) == list(oracle)
        for key, value in oracle.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, rel=1e-12), key
            else:
                assert row[key] == value, key


EVERY_OP = (
    ("count", "*", "n"),
    ("count", "due_date", "with_due_date"),
    ("count_distinct", "customer.name", "customers"),
    ("sum", "grand_total.amount", "billed"),
    ("avg", "grand_total.amount", "average"),
    ("min", "grand_total.amount", "smallest"),
    ("max", "grand_total.amount", "largest"),
    ("sum", "line_count", "lines"),
    ("min", "issue_date", "first_issued"),
    ("max", "paid_at", "last_paid"),
)
CASES = {
    "no group": ("invoices", EVERY_OP, []),
    "one group": ("invoices", EVERY_OP, ["status"]),
    "two groups": ("invoices", EVERY_OP, ["workspace_id", "customer.country"]),
    "nested paths": (
        "invoices",
        (("sum", "tax_total.amount", "tax"), ("count", "*", "n")),
        ["issuer.name", "grand_total.currency"],
    ),
    "transactions": (
        "transactions",
        (
            ("sum", "amount.amount", "total"),
            ("count_distinct", "counterparty.name", "parties"),
            ("min", "booked_at", "first"),
        ),
        ["direction", "reconciled"],
    ),
    "companies": (
        "companies",
        (("avg", "employees", "avg_staff"), ("max", "employees", "max_staff"), ("count", "*", "n")),
        ["country"],
    ),
    "contacts": (
        "contacts",
        (("count_distinct", "email", "emails"), ("count", "company_id", "linked")),
        ["role"],
    ),
    "documents": (
        "documents",
        (("sum", "pages", "pages"), ("avg", "size_bytes", "size"), ("max", "uploaded_at", "last")),
        ["kind", "status"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_numbers_match_an_independent_computation(env: Env, case: str) -> None:
    root, measures, groups = CASES[case]
    body = {"root": root, "aggregations": aggs(*measures), "group_by": groups}
    assert_rows(env.data(body), expected(env.docs[root], measures, groups))


def test_the_seed_example_counts_and_sums_issued_and_paid_invoices(env: Env) -> None:
    body = {
        "root": "invoices",
        "filters": [
            {"field": "status", "operator": "in", "value": ["issued", "paid"], "conjunction": "and"}
        ],
        "aggregations": [
            {"op": "count", "field": "*", "alias": "invoice_count"},
            {"op": "sum", "field": "grand_total.amount", "alias": "total_billed"},
        ],
        "group_by": ["status"],
    }
    want = expected(
        env.docs["invoices"],
        [("count", "*", "invoice_count"), ("sum", "grand_total.amount", "total_billed")],
        ["status"],
        keep=lambda d: d["status"] in ("issued", "paid"),
    )
    assert [r["status"] for r in want] == ["issued", "paid"]
    assert_rows(env.data(body), want)


def test_default_aliases_name_the_op_and_the_path(env: Env) -> None:
    body = {
        "root": "invoices",
        "aggregations": [
            {"op": "count", "field": "*"},
            {"op": "sum", "field": "grand_total.amount"},
            {"op": "count_distinct", "field": "customer.name"},
        ],
    }
    row = env.data(body)[0]
    assert list(row) == ["count_all", "sum_grand_total_amount", "count_distinct_customer_name"]
    assert row["count_all"] == len(env.docs["invoices"])


def test_nested_documents_are_flattened_on_ingestion(env: Env) -> None:
    """The rows went in as `{"grand_total": {"amount", "currency"}}`; the dotted paths read them."""
    doc = env.docs["invoices"][0]
    body = {
        "root": "invoices",
        "whereClause": {"id": {"_eq": doc["id"]}},
        "aggregations": aggs(("max", "grand_total.amount", "amount"), ("max", "issuer.name", "by")),
        "group_by": ["grand_total.currency", "customer.country"],
    }
    assert env.data(body) == [
        {
            "grand_total.currency": doc["grand_total"]["currency"],
            "customer.country": doc["customer"]["country"],
            "amount": doc["grand_total"]["amount"],
            "by": doc["issuer"]["name"],
        }
    ]


def test_order_by_an_alias_then_limit_keeps_the_largest_groups(env: Env) -> None:
    measures = (("sum", "grand_total.amount", "billed"), ("count", "*", "n"))
    body = {
        "root": "invoices",
        "aggregations": aggs(*measures),
        "group_by": ["customer.name"],
        "order_by": [{"field": "billed", "direction": "desc"}],
        "limit": 3,
    }
    want = expected(env.docs["invoices"], measures, ["customer.name"])
    want.sort(key=lambda r: -r["billed"])
    answer = env.ok(body)
    assert_rows(answer["data"], want[:3])
    assert set(answer["meta"]) <= {"currency", "warnings"}


def test_order_by_a_group_descending(env: Env) -> None:
    measures = (("count", "*", "n"),)
    body = {
        "root": "invoices",
        "aggregations": aggs(*measures),
        "group_by": ["status"],
        "order_by": [{"field": "status", "direction": "desc"}],
    }
    want = expected(env.docs["invoices"], measures, ["status"])
    assert_rows(env.data(body), want[::-1])


def test_default_order_is_group_values_ascending_not_the_largest_first(env: Env) -> None:
    measures = (("count", "*", "n"),)
    got = env.data({"root": "invoices", "aggregations": aggs(*measures), "group_by": ["status"]})
    want = expected(env.docs["invoices"], measures, ["status"])
    largest_first = [r["status"] for r in sorted(want, key=lambda r: -r["n"])]
    assert largest_first != sorted(largest_first)
    assert [r["status"] for r in got] == sorted(largest_first)


# ---- meta.currency ----------------------------------------------------------------------------


def money(workspace: str, **extra: Any) -> dict[str, Any]:
    return {
        "root": "invoices",
        "workspaceId": workspace,
        "aggregations": aggs(("sum", "grand_total.amount", "billed")),
        **extra,
    }


def test_currency_is_the_one_code_all_amounts_share(env: Env) -> None:
    meta = env.ok(money("ws_globex"))["meta"]
    assert meta["currency"] == "EUR"
    assert "warnings" not in meta


def test_currency_is_null_with_a_warning_when_amounts_are_mixed(env: Env) -> None:
    meta = env.ok(money("ws_acme"))["meta"]
    assert meta["currency"] is None
    assert any("several currencies" in w for w in meta["warnings"])


def test_currency_follows_the_filters(env: Env) -> None:
    gbp_only = {"whereClause": {"grand_total": {"currency": {"_eq": "GBP"}}}}
    assert env.ok(money("ws_acme", **gbp_only))["meta"]["currency"] == "GBP"


def test_an_amount_without_currency_makes_the_currency_unknown(env: Env) -> None:
    meta = env.ok(money("ws_hooli"))["meta"]
    assert meta["currency"] is None
    assert any("without a currency" in w for w in meta["warnings"])
    counted = money("ws_hooli", aggregations=aggs(("count", "grand_total.amount", "n")))
    assert "currency" not in env.ok(counted)["meta"]


@pytest.mark.parametrize(
    "measures",
    [
        (("count", "*", "n"),),
        (("sum", "line_count", "lines"), ("count_distinct", "grand_total.amount", "amounts")),
    ],
)
def test_currency_is_absent_when_no_money_amount_is_aggregated(env: Env, measures) -> None:
    body = {"root": "invoices", "workspaceId": "ws_acme", "aggregations": aggs(*measures)}
    assert "currency" not in env.ok(body)["meta"]


def test_currency_grouped_by_currency_explains_each_row(env: Env) -> None:
    body = money("ws_acme", group_by=["grand_total.currency"])
    answer = env.ok(body)
    assert answer["meta"]["currency"] is None
    assert "each row holds the currency of its group" in answer["meta"]["warnings"][0]
    want = expected(
        env.docs["invoices"],
        [("sum", "grand_total.amount", "billed")],
        ["grand_total.currency"],
        keep=lambda d: d["workspace_id"] == "ws_acme",
    )
    assert_rows(answer["data"], want)


def test_currency_of_two_money_fields_in_one_currency(env: Env) -> None:
    body = money(
        "ws_globex",
        aggregations=aggs(("max", "tax_total.amount", "t"), ("avg", "grand_total.amount", "g")),
    )
    assert env.ok(body)["meta"]["currency"] == "EUR"


def test_no_matching_amount_has_no_currency(env: Env) -> None:
    body = money("ws_globex", filters=[{"field": "status", "operator": "is_null"}])
    answer = env.ok(body)
    assert answer["data"] == [{"billed": None}]
    assert answer["meta"]["currency"] is None


# ---- the native API asks the same question --------------------------------------------------


def test_the_native_api_gives_the_same_numbers(env: Env) -> None:
    body = {
        "root": "invoices",
        "filters": [
            {
                "field": "status",
                "operator": "in",
                "value": ["paid", "overdue"],
                "conjunction": "or",
            },
            {"field": "customer.name", "operator": "contains", "value": "acme"},
        ],
        "whereClause": {"issuer": {"country": {"_neq": "GB"}}},
        "aggregations": aggs(
            ("count", "*", "n"),
            ("sum", "grand_total.amount", "billed"),
            ("avg", "line_count", "lines"),
            ("count_distinct", "customer.name", "customers"),
        ),
        "group_by": ["workspace_id", "status"],
        "order_by": [{"field": "billed", "direction": "desc"}],
    }
    native = {
        "dataset": "invoices",
        "filter": {
            "and": [
                {
                    "or": [
                        {"field": "status", "op": "in", "value": ["paid", "overdue"]},
                        {
                            "field": "customer.name",
                            "op": "contains",
                            "value": "acme",
                            "case_insensitive": True,
                        },
                    ]
                },
                {"field": "issuer.country", "op": "neq", "value": "GB"},
            ]
        },
        "measures": [
            {"op": "count", "as": "n"},
            {"op": "sum", "field": "grand_total.amount", "as": "billed"},
            {"op": "avg", "field": "line_count", "as": "lines"},
            {"op": "count_distinct", "field": "customer.name", "as": "customers"},
        ],
        "group_by": ["workspace_id", "status"],
        "order_by": [{"field": "billed", "dir": "desc"}],
    }
    response = env.client.post("/v1/query", json=native, headers=env.admin)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert len(rows) > 3
    assert env.data(body) == rows


# ---- scope ----------------------------------------------------------------------------------


def test_rows_are_limited_to_the_principals_workspaces(env: Env) -> None:
    measures = (("count", "*", "n"), ("sum", "grand_total.amount", "billed"))
    body = {"root": "invoices", "aggregations": aggs(*measures), "group_by": ["workspace_id"]}
    got = env.ok(body, env.viewer("ws_acme", "ws_globex"))["data"]
    want = expected(
        env.docs["invoices"],
        measures,
        ["workspace_id"],
        keep=lambda d: d["workspace_id"] in ("ws_acme", "ws_globex"),
    )
    assert [r["workspace_id"] for r in got] == ["ws_acme", "ws_globex"]
    assert_rows(got, want)


def test_workspace_id_narrows_to_one_of_them(env: Env) -> None:
    measures = (("count", "*", "n"), ("max", "grand_total.amount", "largest"))
    body = {"root": "invoices", "workspaceId": "ws_globex", "aggregations": aggs(*measures)}
    answer = env.ok(body, env.viewer("ws_acme", "ws_globex"))
    want = expected(env.docs["invoices"], measures, keep=lambda d: d["workspace_id"] == "ws_globex")
    assert_rows(answer["data"], want)
    assert answer["meta"]["currency"] == "EUR"


def test_a_workspace_the_principal_is_not_a_member_of_is_forbidden(env: Env) -> None:
    body = {
        "root": "invoices",
        "workspaceId": "ws_hooli",
        "aggregations": aggs(("count", "*", "n")),
    }
    response = env.post(body, env.viewer("ws_acme", "ws_globex"))
    assert response.status_code == 403
    payload = response.json()
    assert payload["code"] == "FORBIDDEN"
    assert payload["status"] == 403
    assert payload["title"] == "Forbidden"
    assert payload["details"]["path"] == "workspaceId"
    assert "ws_hooli" in payload["details"]["issue"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer tly_nope_nope"}, {"Authorization": "Basic abc"}],
    ids=["missing", "unknown", "not bearer"],
)
def test_without_a_valid_token_the_answer_is_401(env: Env, headers: dict[str, str]) -> None:
    body = {"root": "invoices", "aggregations": aggs(("count", "*", "n"))}
    response = env.client.post(URL, json=body, headers=headers)
    assert response.status_code == 401
    payload = response.json()
    assert payload["code"] == "UNAUTHORIZED"
    assert payload["status"] == 401
    assert payload["title"] == "Unauthorized"
    assert payload["message"] == "Authentication required."
    assert payload["meta"]["trace_id"] == response.headers["X-Trace-Id"]


def test_authentication_is_checked_before_the_body(env: Env) -> None:
    """401 comes before any reading of the body: a broken body without a token is still 401."""
    response = env.client.post(URL, content=b"{not json", headers=bearer("tly_x_y"))
    assert response.status_code == 401


def test_repeated_questions_are_served_from_the_cache(env: Env) -> None:
    """The cache facts travel in headers: the body keeps the documented `meta` only."""
    body = money("ws_acme", group_by=["status"])
    env.client.app.state.service.cache.clear()
    first = env.post(body)
    second = env.post(body)
    assert first.headers["X-Cache"] == "miss" and second.headers["X-Cache"] == "hit"
    assert second.json() == first.json()
    assert set(second.json()["meta"]) <= {"currency", "warnings"}
