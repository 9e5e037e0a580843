"""Profile 002 as its documentation states it: the whole Hasura comparison set in `whereClause`
(checked against Python over the same documents), workspace fields compared with `eq` only, and
`meta` and numbers exactly as the documented example shows them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.profiles.records_statistics_support import Env, get, open_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


def like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    translated = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{translated}$", flags | re.DOTALL)


def keep(op: str, value: str) -> Any:
    """The Python meaning of each operator, for invoices' customer.name (nulls never match)."""
    tests = {
        "_like": lambda s: bool(like(value).match(s)),
        "_nlike": lambda s: not like(value).match(s),
        "_ilike": lambda s: bool(like(value, re.IGNORECASE).match(s)),
        "_nilike": lambda s: not like(value, re.IGNORECASE).match(s),
        "_regex": lambda s: bool(re.search(value, s)),
        "_nregex": lambda s: not re.search(value, s),
        "_iregex": lambda s: bool(re.search(value, s, re.IGNORECASE)),
        "_niregex": lambda s: not re.search(value, s, re.IGNORECASE),
    }
    return lambda doc: (
        get(doc, "customer.name") is not None and tests[op](get(doc, "customer.name"))
    )


def customers(env: Env, where: dict) -> int:
    body = {
        "root": "invoices",
        "whereClause": where,
        "aggregations": [{"op": "count", "field": "*", "alias": "n"}],
    }
    return env.data(body)[0]["n"]


@pytest.mark.parametrize(
    "op,value",
    [
        ("_like", "Acme%"), ("_nlike", "Acme%"), ("_ilike", "acme%"), ("_nilike", "acme%"),
        ("_like", "Under_Score%"), ("_regex", "^Zeta 50"), ("_nregex", "(Ltd|BV)$"),
        ("_iregex", "^acme"), ("_niregex", "harbor"), ("_regex", "\\d{3}"),
    ],
)  # fmt: skip
def test_each_text_operator_keeps_what_python_keeps(env: Env, op: str, value: str) -> None:
    got = customers(env, {"customer": {"name": {op: value}}})
    want = sum(1 for doc in env.docs["invoices"] if keep(op, value)(doc))
    assert got == want and 0 < got < len(env.docs["invoices"])


@pytest.mark.parametrize(
    "pattern,pythonic",
    [("Acme%", "^Acme.*$"), ("(Acme|Blue) %", "^(Acme|Blue) .*$"),
     ("Zeta 50\\% Off", "^Zeta 50% Off$"), ("%[0-9]{3}%", "^.*[0-9]{3}.*$"),
     ("Under_Score BV", "^Under.Score BV$")],
)  # fmt: skip
def test_similar_to_matches_the_whole_text(env: Env, pattern: str, pythonic: str) -> None:
    wanted = [
        d for d in env.docs["invoices"] if re.match(pythonic, get(d, "customer.name") or "\n")
    ]
    assert customers(env, {"customer": {"name": {"_similar": pattern}}}) == len(wanted)
    nonnull = [d for d in env.docs["invoices"] if get(d, "customer.name") is not None]
    assert customers(env, {"customer": {"name": {"_nsimilar": pattern}}}) == len(nonnull) - len(
        wanted
    )


def test_a_pattern_the_engines_would_read_differently_names_its_operator(env: Env) -> None:
    body = {
        "root": "invoices",
        "whereClause": {"customer": {"name": {"_regex": "\\bAcme"}}},
        "aggregations": [{"op": "count", "field": "*"}],
    }
    error = env.error(body)
    assert error["details"]["path"] == "whereClause.customer.name._regex"


@pytest.mark.parametrize(
    "body_part",
    [
        {"whereClause": {"workspace_id": {"_like": "ws_%"}}},
        {"whereClause": {"workspace_id": {"_neq": "ws_acme"}}},
        {"filters": [{"field": "workspace_id", "operator": "contains", "value": "ws"}]},
    ],
)
def test_a_workspace_field_takes_eq_only(env: Env, body_part: dict) -> None:
    body = {"root": "invoices", "aggregations": [{"op": "count", "field": "*"}], **body_part}
    error = env.error(body)
    assert "workspace_id" in error["details"]["issue"] or "eq" in error["details"]["issue"]


def test_a_workspace_field_compared_with_eq_is_answered(env: Env) -> None:
    want = sum(1 for d in env.docs["invoices"] if d["workspace_id"] == "ws_acme")
    assert customers(env, {"workspace_id": {"_eq": "ws_acme"}}) == want
    body = {
        "root": "invoices",
        "filters": [{"field": "workspace_id", "operator": "eq", "value": "ws_acme"}],
        "aggregations": [{"op": "count", "field": "*", "alias": "n"}],
    }
    assert env.data(body)[0]["n"] == want


def test_meta_and_numbers_are_as_documented(env: Env) -> None:
    body = {
        "root": "invoices",
        "workspaceId": "ws_globex",
        "aggregations": [
            {"op": "count", "field": "*", "alias": "invoice_count"},
            {"op": "sum", "field": "grand_total.amount", "alias": "total_billed"},
            {"op": "sum", "field": "line_count", "alias": "lines"},
        ],
    }
    response = env.post(body)
    assert response.status_code == 200
    payload = response.json()
    assert payload["meta"] == {"currency": "EUR"}
    row = payload["data"][0]
    docs = [d for d in env.docs["invoices"] if d["workspace_id"] == "ws_globex"]
    billed = sum(get(d, "grand_total.amount") or 0 for d in docs)
    assert row["total_billed"] == billed
    assert row["lines"] == sum(d.get("line_count") or 0 for d in docs)
    assert type(row["lines"]) is int
    if billed == int(billed):
        assert type(row["total_billed"]) is int
    no_money = env.ok({"root": "invoices", "aggregations": [{"op": "count", "field": "*"}]})
    assert no_money["meta"] == {}


def test_a_whole_money_sum_has_no_fraction(env: Env) -> None:
    docs = env.docs["invoices"]
    whole = next(
        d["number"] for d in docs
        if (get(d, "grand_total.amount") or 0.5) == int(get(d, "grand_total.amount") or 0.5)
    )  # fmt: skip
    body = {
        "root": "invoices",
        "whereClause": {"number": {"_eq": whole}},
        "aggregations": [{"op": "sum", "field": "grand_total.amount", "alias": "billed"}],
    }
    response = env.post(body)
    assert response.status_code == 200
    assert '"billed":' in response.text and not re.search(r'"billed":-?\d+\.0\b', response.text)
    assert type(response.json()["data"][0]["billed"]) is int
