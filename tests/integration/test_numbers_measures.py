"""Measures, field grouping, filters, having and ordering against the plain-Python oracle of
`numbers_support`: every group and every measure value of an answer must match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.numbers_support import (
    ALL,
    CUT,
    WORKSPACES,
    Env,
    assert_rows,
    check,
    expected,
    instant,
    keyed,
    leaf,
    open_env,
    row_key,
    run,
    same,
    select,
    truth,
    window,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


EVERY_MEASURE = [
    {"op": "count"},
    {"op": "count", "field": "amount"},
    {"op": "count", "field": "session_id"},
    {"op": "count", "field": "metadata.channel"},
    {"op": "count_distinct", "field": "session_id"},
    {"op": "count_distinct", "field": "product_id"},
    {"op": "count_distinct", "field": "metadata.channel"},
    {"op": "sum", "field": "amount"},
    {"op": "avg", "field": "amount"},
    {"op": "min", "field": "amount"},
    {"op": "max", "field": "amount"},
    {"op": "sum", "field": "quantity"},
    {"op": "avg", "field": "quantity"},
    {"op": "min", "field": "quantity"},
    {"op": "max", "field": "quantity"},
    {"op": "sum", "field": "duration_ms", "as": "total_duration"},
    {"op": "min", "field": "product_id"},
    {"op": "max", "field": "product_id"},
    {"op": "min", "field": "ts"},
    {"op": "max", "field": "ts"},
    {"op": "sum", "field": "metadata.tier"},
    {"op": "avg", "field": "metadata.tier"},
    {"op": "max", "field": "metadata.tier"},
    {"op": "percentile", "field": "amount", "q": 0.9},
]


# ------------------------------------------------------------------------------------------------
# Measures
# ------------------------------------------------------------------------------------------------


def test_every_measure_over_the_whole_window(env: Env) -> None:
    body = {"dataset": "agent_events", "time": CUT, "measures": EVERY_MEASURE}
    result = check(env, body)
    (row,) = result["rows"]
    # the nulls really are there, so count(field) != count and the test can tell them apart
    assert row["count_amount"] < row["count"]
    assert row["count_metadata.channel"] < row["count"]


def test_every_measure_per_workspace(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["workspace_id"],
        "measures": EVERY_MEASURE,
    }
    result = check(env, body)
    assert len(result["rows"]) == len(WORKSPACES)


def test_measures_of_a_group_with_only_null_values_are_null(env: Env) -> None:
    """Every `search` event has a null amount: count(amount) is 0, sum/avg/min/max/p50 null."""
    body = {
        "dataset": "agent_events",
        "time": ALL,
        "group_by": ["event_type"],
        "measures": [
            {"op": "count"},
            {"op": "count", "field": "amount"},
            {"op": "count_distinct", "field": "amount"},
            {"op": "sum", "field": "amount"},
            {"op": "avg", "field": "amount"},
            {"op": "min", "field": "amount"},
            {"op": "p50", "field": "amount"},
        ],
    }
    result = check(env, body)
    search = keyed(result["rows"], ["event_type"])[("search",)]
    assert search["count"] > 0
    assert search["count_amount"] == 0
    assert search["count_distinct_amount"] == 0
    assert search["sum_amount"] is None and search["avg_amount"] is None
    assert search["min_amount"] is None and search["p50_amount"] is None


def test_percentiles_interpolate_linearly(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": ALL,
        "group_by": ["event_type"],
        "measures": [
            {"op": "percentile", "field": "duration_ms", "q": 0.975},
            {"op": "percentile", "field": "duration_ms", "q": 0.25},
            {"op": "percentile", "field": "duration_ms", "q": 0.9, "as": "ninetieth"},
            {"op": "p50", "field": "duration_ms"},
            {"op": "p75", "field": "duration_ms"},
            {"op": "p90", "field": "duration_ms"},
            {"op": "p95", "field": "duration_ms"},
            {"op": "p99", "field": "duration_ms"},
            {"op": "p90", "field": "quantity"},
            {"op": "p50", "field": "amount"},
        ],
    }
    result = check(env, body)
    labels = {
        "event_type",
        "p97.5_duration_ms",
        "p25_duration_ms",
        "ninetieth",
        "p50_duration_ms",
        "p75_duration_ms",
        "p90_duration_ms",
        "p95_duration_ms",
        "p99_duration_ms",
        "p90_quantity",
        "p50_amount",
    }
    for row in result["rows"]:
        assert set(row) == labels
        assert row["ninetieth"] == pytest.approx(row["p90_duration_ms"])
    # interpolation matters here: the nearest-rank answer is not the right one
    durations = [
        r["duration_ms"]
        for r in select(env.events, ALL, {"field": "event_type", "op": "eq", "value": "view"})
        if r["duration_ms"] is not None
    ]
    nearest = sorted(durations)[round((len(durations) - 1) * 0.975)]
    view = keyed(result["rows"], ["event_type"])[("view",)]
    assert view["p97.5_duration_ms"] != pytest.approx(nearest, rel=1e-12)


def test_percentile_of_a_single_value_and_of_two_values(env: Env) -> None:
    """Small groups, where interpolation between exactly two points is easy to get wrong."""
    body = {
        "dataset": "agent_events",
        "time": window(instant("2026-03-28T23:00:00Z"), instant("2026-03-28T23:00:01Z")),
        "group_by": ["event_id"],
        "measures": [{"op": "p75", "field": "duration_ms"}, {"op": "count"}],
    }
    check(env, body)
    body["group_by"] = []
    body["time"] = window(instant("2026-10-25T00:30:00Z"), instant("2026-10-25T01:30:01Z"))
    body["measures"] = [{"op": "percentile", "field": "duration_ms", "q": q} for q in (0.1, 0.6)]
    check(env, body)


# ------------------------------------------------------------------------------------------------
# Grouping by fields
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "group_by",
    [
        ["brand_id"],
        ["workspace_id", "event_type"],
        ["catalog_id"],
        ["metadata.channel"],
        ["metadata.country", "workspace_id"],
    ],
)
def test_group_by_fields(env: Env, group_by: list[str]) -> None:
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": group_by,
        "measures": [
            {"op": "count"},
            {"op": "count_distinct", "field": "session_id"},
            {"op": "sum", "field": "amount"},
            {"op": "p90", "field": "duration_ms"},
        ],
    }
    check(env, body)


def test_group_by_metadata_key_puts_absent_and_null_keys_in_one_null_group(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": ALL,
        "group_by": ["metadata.channel"],
        "measures": [{"op": "count"}],
    }
    result = check(env, body)
    got = keyed(result["rows"], ["metadata.channel"])
    missing = [r for r in env.events if (r["metadata"] or {}).get("channel") is None]
    assert got[(None,)]["count"] == len(missing)
    # the null group holds absent keys, explicit JSON nulls and rows without metadata
    assert any(r["metadata"] is None for r in missing)
    assert any(r["metadata"] and "channel" in r["metadata"] for r in missing)
    assert any(r["metadata"] and "channel" not in r["metadata"] for r in missing)
    # keys are case-sensitive values: "Email" is its own group
    assert ("Email",) in got and ("email",) in got


# ------------------------------------------------------------------------------------------------
# Filters
# ------------------------------------------------------------------------------------------------


FILTERS = {
    "eq": leaf("event_type", "eq", "purchase"),
    "neq": leaf("event_type", "neq", "view"),
    "neq_nullable": leaf("catalog_id", "neq", "cat_1"),
    "in": leaf("event_type", "in", ["purchase", "add_to_cart"]),
    "nin": leaf("brand_id", "nin", ["br_a1", "br_b1"]),
    "nin_nullable": leaf("catalog_id", "nin", ["cat_2"]),
    "gt": leaf("amount", "gt", 50),
    "gte": leaf("amount", "gte", 50),
    "lt": leaf("amount", "lt", 10),
    "lte": leaf("amount", "lte", 10),
    "eq_float": leaf("amount", "eq", 10),
    "between": leaf("amount", "between", [10, 50]),
    "between_int": leaf("quantity", "between", [2, 4]),
    "gt_int": leaf("quantity", "gt", 3),
    "gt_string": leaf("product_id", "gt", "sku-15"),
    "ts_between": leaf("ts", "between", ["2026-10-10T00:00:00+02:00", "2026-10-20T12:00:00Z"]),
    "ts_lt": leaf("ts", "lt", "2026-10-25T02:30:00+01:00"),
    "ts_eq": leaf("ts", "eq", "2026-03-29T00:00:00+01:00"),
    "ts_neq": leaf("ts", "neq", "2026-10-25T02:30:00+01:00"),
    "between_string": leaf("product_id", "between", ["SKU-1", "Sku-5"]),
    "meta_number_neq": leaf("metadata.tier", "neq", 3),
    "meta_number_lte_float": leaf("metadata.tier", "lte", 2.5),
    "contains": leaf("product_id", "contains", "ku-1"),
    "contains_ci": leaf("product_id", "contains", "KU-1", case_insensitive=True),
    "not_contains": leaf("product_id", "not_contains", "SKU"),
    "not_contains_ci": leaf("product_id", "not_contains", "sku", case_insensitive=True),
    "starts_with": leaf("product_id", "starts_with", "Sku"),
    "starts_with_ci": leaf("product_id", "starts_with", "sKU", case_insensitive=True),
    "ends_with": leaf("event_type", "ends_with", "und"),
    "ends_with_ci": leaf("event_type", "ends_with", "UND", case_insensitive=True),
    "starts_with_ci_type": leaf("event_type", "starts_with", "r", case_insensitive=True),
    "is_null": leaf("amount", "is_null"),
    "not_null": leaf("session_id", "not_null"),
    "is_null_catalog": leaf("catalog_id", "is_null"),
    "meta_eq": leaf("metadata.channel", "eq", "email"),
    "meta_neq": leaf("metadata.channel", "neq", "email"),
    "meta_in": leaf("metadata.country", "in", ["FR", "DE"]),
    "meta_nin": leaf("metadata.country", "nin", ["FR"]),
    "meta_is_null": leaf("metadata.channel", "is_null"),
    "meta_not_null": leaf("metadata.country", "not_null"),
    "meta_contains_ci": leaf("metadata.channel", "contains", "MAI", case_insensitive=True),
    "meta_ends_with": leaf("metadata.channel", "ends_with", "ail"),
    "meta_number_gt": leaf("metadata.tier", "gt", 2),
    "meta_number_between": leaf("metadata.tier", "between", [2, 4]),
    "meta_number_in": leaf("metadata.tier", "in", [1, 5]),
    "not_lt_drops_nulls": {"not": leaf("amount", "lt", 10)},
    "not_eq_drops_nulls": {"not": leaf("metadata.channel", "eq", "ads")},
    "not_in": {"not": leaf("catalog_id", "in", ["cat_1", "cat_3"])},
    "not_is_null": {"not": leaf("amount", "is_null")},
    "and": {
        "and": [
            leaf("event_type", "in", ["purchase", "add_to_cart"]),
            leaf("amount", "gte", 20),
        ]
    },
    "or": {"or": [leaf("event_type", "eq", "search"), leaf("quantity", "eq", 5)]},
    "spec_example": {
        "and": [
            leaf("event_type", "in", ["purchase", "add_to_cart"]),
            {
                "or": [
                    leaf("metadata.channel", "eq", "email"),
                    {"not": leaf("amount", "lt", 10)},
                ]
            },
        ]
    },
    "not_and_with_nulls": {
        "not": {"and": [leaf("amount", "gt", 20), leaf("metadata.channel", "eq", "email")]}
    },
    "not_or_with_nulls": {
        "not": {"or": [leaf("amount", "gt", 100), leaf("metadata.country", "eq", "US")]}
    },
    "deep": {
        "or": [
            {
                "and": [
                    leaf("workspace_id", "eq", "ws_b"),
                    {"not": leaf("product_id", "starts_with", "sku")},
                ]
            },
            {
                "and": [
                    leaf("metadata.tier", "gte", 4),
                    {"or": [leaf("duration_ms", "lt", 300), leaf("catalog_id", "is_null")]},
                ]
            },
        ]
    },
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filter(env: Env, name: str) -> None:
    body = {
        "dataset": "agent_events",
        "time": ALL,
        "filter": FILTERS[name],
        "group_by": ["workspace_id"],
        "measures": [
            {"op": "count"},
            {"op": "sum", "field": "amount"},
            {"op": "count_distinct", "field": "session_id"},
        ],
    }
    kept = select(env.events, ALL, FILTERS[name])
    assert 0 < len(kept) < len(select(env.events, ALL)), "the filter must be selective"
    check(env, body)


@pytest.mark.parametrize(
    ("plain", "insensitive"),
    [
        (FILTERS["contains"], FILTERS["contains_ci"]),
        (FILTERS["starts_with"], FILTERS["starts_with_ci"]),
        (FILTERS["ends_with"], FILTERS["ends_with_ci"]),
    ],
)
def test_text_matching_is_case_sensitive_unless_asked(
    env: Env, plain: dict[str, Any], insensitive: dict[str, Any]
) -> None:
    def count(node: dict[str, Any]) -> int:
        body = {
            "dataset": "agent_events",
            "time": ALL,
            "filter": node,
            "measures": [{"op": "count"}],
        }
        return run(env, body)["rows"][0]["count"]

    loose = {**insensitive, "value": plain["value"]}
    exact = {**plain, "value": insensitive["value"]}
    assert count(loose) == len(select(env.events, ALL, loose))
    assert count(exact) == len(select(env.events, ALL, exact))
    assert count(loose) > count(exact)


def test_not_of_a_comparison_keeps_no_null_rows(env: Env) -> None:
    def count(node: dict[str, Any]) -> int:
        body = {
            "dataset": "agent_events",
            "time": ALL,
            "filter": node,
            "measures": [{"op": "count"}],
        }
        return run(env, body)["rows"][0]["count"]

    below = count(leaf("amount", "lt", 10))
    not_below = count({"not": leaf("amount", "lt", 10)})
    nulls = count(leaf("amount", "is_null"))
    total = len(select(env.events, ALL))
    assert nulls > 0
    assert below + not_below + nulls == total
    assert not_below == len(
        [r for r in select(env.events, ALL) if r["amount"] is not None and r["amount"] >= 10]
    )


# ------------------------------------------------------------------------------------------------
# Having, order_by, limit and offset
# ------------------------------------------------------------------------------------------------


PAIR_MEASURES = [
    {"op": "count"},
    {"op": "avg", "field": "amount", "as": "avg_amt"},
    {"op": "sum", "field": "amount", "as": "revenue"},
]


def test_having_filters_groups_with_null_logic(env: Env) -> None:
    base = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["brand_id", "event_type"],
        "measures": PAIR_MEASURES,
    }
    groups = expected(env.events, base)
    counts = sorted(v["count"] for v in groups.values())
    having = {
        "and": [
            {"field": "count", "op": "gte", "value": counts[len(counts) // 3]},
            {
                "or": [
                    {"field": "revenue", "op": "gt", "value": 5000},
                    {"not": {"field": "avg_amt", "op": "lt", "value": 85}},
                ]
            },
        ]
    }
    want = {k: v for k, v in groups.items() if truth(having, lambda f, v=v: v[f]) is True}
    assert 0 < len(want) < len(groups)
    result = run(env, {**base, "having": having})
    assert_rows(result["rows"], want, base["group_by"])


@pytest.mark.parametrize(
    ("having", "keep"),
    [
        ({"field": "revenue", "op": "is_null"}, lambda v: v["revenue"] is None),
        ({"field": "count", "op": "between", "value": [20, 80]}, lambda v: 20 <= v["count"] <= 80),
        (
            {"field": "avg_amt", "op": "lte", "value": 90.5},
            lambda v: v["avg_amt"] is not None and v["avg_amt"] <= 90.5,
        ),
    ],
    ids=["is_null", "between", "lte"],
)
def test_having_leaves(env: Env, having: dict[str, Any], keep: Callable[[dict], bool]) -> None:
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["brand_id", "event_type"],
        "measures": PAIR_MEASURES,
        "having": having,
    }
    groups = expected(env.events, {**body, "having": None})
    want = {k: v for k, v in groups.items() if keep(v)}
    assert 0 < len(want) < len(groups)
    assert_rows(run(env, body)["rows"], want, body["group_by"])


def _sorted_groups(
    groups: dict[tuple, dict[str, Any]], names: list[str], order: list[tuple[str, bool]]
) -> list[tuple]:
    """Stable sort by each (name, descending) key, last key first; nulls always last."""
    keys = list(groups)

    def value(key: tuple, name: str) -> Any:
        return key[names.index(name)] if name in names else groups[key][name]

    for name, desc in reversed(order):
        present = [k for k in keys if value(k, name) is not None]
        missing = [k for k in keys if value(k, name) is None]
        present.sort(key=lambda k, n=name: value(k, n), reverse=desc)
        keys = present + missing
    return keys


@pytest.mark.parametrize(
    ("order_by", "limit", "offset"),
    [
        ([("revenue", True), ("brand_id", False), ("event_type", False)], 6, 4),
        ([("count", False), ("brand_id", False), ("event_type", False)], 5, 0),
        ([("brand_id", True), ("avg_amt", False), ("event_type", False)], 10, 3),
        ([("revenue", True), ("brand_id", False), ("event_type", False)], 10, 30),
    ],
    ids=["revenue_desc", "count_asc", "brand_desc", "last_page_nulls_last"],
)
def test_order_by_limit_offset(
    env: Env, order_by: list[tuple[str, bool]], limit: int, offset: int
) -> None:
    groups_by = ["brand_id", "event_type"]
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": groups_by,
        "measures": PAIR_MEASURES,
        "order_by": [{"field": f, "dir": "desc" if d else "asc"} for f, d in order_by],
        "limit": limit,
        "offset": offset,
    }
    groups = expected(env.events, body)
    order = _sorted_groups(groups, groups_by, order_by)
    assert len(order) == 35
    page = order[offset : offset + limit]
    rows = run(env, body)["rows"]
    assert [row_key(r, groups_by) for r in rows] == page
    for row in rows:
        for label in ("count", "avg_amt", "revenue"):
            assert same(row[label], groups[row_key(row, groups_by)][label])
