"""Result shapes against the plain-Python oracle of `numbers_support`: top n with the
`__other__` row, array fan-out and array filters on a dataset loaded from a file, and tenant
scope (a scoped key never sees another workspace's rows)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import bearer
from tests.integration.numbers_support import (
    ALL,
    CUT,
    OTHER,
    Env,
    aggregate,
    assert_rows,
    expected,
    group_members,
    keyed,
    leaf,
    local,
    open_env,
    post,
    run,
    select,
    window,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


# ------------------------------------------------------------------------------------------------
# Top n and the __other__ row
# ------------------------------------------------------------------------------------------------


def top_oracle(
    rows: list[dict[str, Any]], body: dict[str, Any], rank: str
) -> tuple[dict[tuple, dict[str, Any]], int]:
    """Expected rows of a `top` query and the number of groups before folding."""
    fields = [g for g in body["group_by"] if isinstance(g, str)]
    ungrouped = {**body, "group_by": fields}
    per_group = expected(rows, ungrouped)
    values = {k: per_group[k][rank] for k in per_group}
    order = sorted(per_group, key=lambda k: (values[k] is None, -(values[k] or 0)))  # nulls last
    n = body["top"]["n"]
    assert per_group[order[n - 1]][rank] != per_group[order[n]][rank], "no tie at the cut"
    keep = set(order[:n])
    members = group_members(rows, body)
    folded: dict[tuple, list[dict[str, Any]]] = {}
    for key, group in members.items():
        field_key, rest = key[: len(fields)], key[len(fields) :]
        if field_key in keep:
            folded.setdefault(key, []).extend(group)
        elif body["top"].get("other", True):
            folded.setdefault((*([OTHER] * len(fields)), *rest), []).extend(group)
    return aggregate(folded, body["measures"]), len(per_group)


def test_top_folds_the_rest_into_other(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["brand_id"],
        "measures": [
            {"op": "count"},
            {"op": "count_distinct", "field": "session_id"},
            {"op": "p50", "field": "duration_ms"},
            {"op": "avg", "field": "amount"},
        ],
        "top": {"n": 2, "other": True},
    }
    want, groups = top_oracle(env.events, body, "count")
    result = run(env, body)
    assert_rows(result["rows"], want, ["brand_id"])
    assert result["meta"]["total_groups"] == groups == 7
    # the other row is computed over the folded rows, not summed from their groups
    plain = expected(env.events, {**body, "top": None})
    top = {k for k in want if k != (OTHER,)}
    summed = sum(v["count_distinct_session_id"] for k, v in plain.items() if k not in top)
    assert want[(OTHER,)]["count_distinct_session_id"] < summed


def test_top_ranks_by_the_first_order_by_measure(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["workspace_id", "event_type"],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount", "as": "revenue"}],
        "order_by": [{"field": "revenue", "dir": "desc"}],
        "top": {"n": 3, "other": True},
    }
    want, groups = top_oracle(env.events, body, "revenue")
    by_count, _ = top_oracle(env.events, body, "count")
    assert set(want) != set(by_count), "ranking by count would pick other groups"
    result = run(env, body)
    assert_rows(result["rows"], want, body["group_by"])
    assert result["meta"]["total_groups"] == groups


def test_top_without_other_drops_the_rest(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["brand_id"],
        "measures": [{"op": "count_distinct", "field": "session_id"}, {"op": "count"}],
        "top": {"n": 3, "other": False},
    }
    want, groups = top_oracle(env.events, body, "count_distinct_session_id")
    result = run(env, body)
    assert len(want) == 3
    assert_rows(result["rows"], want, ["brand_id"])
    assert result["meta"]["total_groups"] == groups


def test_top_keeps_a_null_group_apart_from_other(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": ALL,
        "group_by": ["metadata.channel"],
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
        "top": {"n": 2, "other": True},
    }
    want, _ = top_oracle(env.events, body, "count")
    assert (None,) in want and (OTHER,) in want
    assert_rows(run(env, body)["rows"], want, ["metadata.channel"])


def test_top_with_a_time_bucket_ranks_over_the_whole_window(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": window(local(2026, 9, 28), local(2026, 11, 9)),
        "timezone": "Europe/Paris",
        "group_by": ["brand_id", {"time": "1 week"}],
        "measures": [{"op": "count"}, {"op": "count_distinct", "field": "product_id"}],
        "top": {"n": 2, "other": True},
    }
    want, _ = top_oracle(env.events, body, "count")
    assert_rows(run(env, body)["rows"], want, body["group_by"])


# ------------------------------------------------------------------------------------------------
# Arrays (fan-out) on a dataset added from a file
# ------------------------------------------------------------------------------------------------


TAG_WINDOW = {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}


def test_tagged_rows_cover_every_case(env: Env) -> None:
    kinds = {None if r["tags"] is None else len(r["tags"]) for r in env.tagged}
    assert kinds == {None, 0, 1, 2, 3}


@pytest.mark.parametrize(
    "group_by", [["tags"], ["tags", "workspace_id"], ["workspace_id", "tags", {"time": "1 week"}]]
)
def test_group_by_array_fans_out(env: Env, group_by: list[Any]) -> None:
    body = {
        "dataset": "tagged_events",
        "time": TAG_WINDOW,
        "timezone": "Europe/Paris",
        "group_by": group_by,
        "measures": [
            {"op": "count"},
            {"op": "sum", "field": "amount"},
            {"op": "count_distinct", "field": "workspace_id"},
            {"op": "p75", "field": "amount"},
        ],
    }
    result = run(env, body)
    assert_rows(result["rows"], expected(env.tagged, body), group_by)


def test_array_fan_out_counts(env: Env) -> None:
    body = {
        "dataset": "tagged_events",
        "time": TAG_WINDOW,
        "group_by": ["tags"],
        "measures": [{"op": "count"}],
    }
    got = keyed(run(env, body)["rows"], ["tags"])
    assert set(got) == {("red",), ("green",), ("blue",), ("gold",), (None,)}
    no_tags = [r for r in env.tagged if not r["tags"]]
    assert got[(None,)]["count"] == len(no_tags)
    assert got[("red",)]["count"] == sum(1 for r in env.tagged if r["tags"] and "red" in r["tags"])
    assert sum(r["count"] for r in got.values()) > len(env.tagged)


@pytest.mark.parametrize(
    "node",
    [
        leaf("tags", "has_any", ["red", "gold"]),
        leaf("tags", "has_all", ["red", "blue"]),
        leaf("tags", "has_none", ["red"]),
        {"not": leaf("tags", "has_any", ["green"])},
        leaf("tags", "is_null"),
        leaf("tags", "not_null"),
        {"and": [leaf("tags", "has_any", ["blue"]), leaf("amount", "gt", 50)]},
    ],
    ids=["has_any", "has_all", "has_none", "not_has_any", "is_null", "not_null", "and"],
)
@pytest.mark.parametrize("group_by", [["workspace_id"], ["tags"]])
def test_array_filters(env: Env, node: dict[str, Any], group_by: list[str]) -> None:
    body = {
        "dataset": "tagged_events",
        "time": TAG_WINDOW,
        "filter": node,
        "group_by": group_by,
        "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    }
    kept = select(env.tagged, TAG_WINDOW, node)
    assert 0 < len(kept) < len(env.tagged)
    assert_rows(run(env, body)["rows"], expected(env.tagged, body), group_by)


# ------------------------------------------------------------------------------------------------
# Scope
# ------------------------------------------------------------------------------------------------


def test_scoped_key_never_sees_other_workspaces(env: Env) -> None:
    _, token = env.keys.create("viewer", {"workspace_id": ("ws_a",)}, name="ws-a-viewer")
    viewer = bearer(token)
    count = [{"op": "count"}, {"op": "sum", "field": "amount"}]

    only_b = {
        "dataset": "agent_events",
        "time": ALL,
        "filter": leaf("workspace_id", "eq", "ws_b"),
    }
    assert expected(env.events, {**only_b, "measures": count})[()]["count"] > 0
    rows = run(env, {**only_b, "measures": count}, viewer)["rows"]
    assert sum(r["count"] for r in rows) == 0

    grouped = {"dataset": "agent_events", "time": ALL, "group_by": ["workspace_id"]}
    body = {**grouped, "measures": count}
    result = run(env, body, viewer)
    assert_rows(result["rows"], expected(env.events, body, workspaces=["ws_a"]), ["workspace_id"])

    escape = {
        **body,
        "filter": {"or": [leaf("workspace_id", "eq", "ws_b"), leaf("event_type", "eq", "view")]},
        "group_by": ["workspace_id", "event_type"],
    }
    result = run(env, escape, viewer)
    want = expected(env.events, escape, workspaces=["ws_a"])
    assert set(want) == {("ws_a", "view")}
    assert_rows(result["rows"], want, escape["group_by"])

    narrowed = run(env, {**body, "scope": {"workspace_id": "ws_a"}}, viewer)
    assert_rows(narrowed["rows"], expected(env.events, body, workspaces=["ws_a"]), ["workspace_id"])

    for scope in ({"workspace_id": "ws_b"}, {"workspace_id": ["ws_a", "ws_b"]}):
        response = post(env, {**body, "scope": scope}, viewer)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"


def test_key_scoped_to_a_workspace_and_a_brand(env: Env) -> None:
    scopes = {"workspace_id": ("ws_a",), "brand_id": ("br_a2", "br_a3")}
    _, token = env.keys.create("viewer", scopes, name="two-brands")
    viewer = bearer(token)
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["brand_id"],
        "measures": [{"op": "count"}, {"op": "avg", "field": "amount"}],
    }
    want = expected(
        env.events, {**body, "filter": leaf("brand_id", "in", ["br_a2", "br_a3"])}, ["ws_a"]
    )
    assert_rows(run(env, body, viewer)["rows"], want, ["brand_id"])
    narrow = {**body, "scope": {"brand_id": "br_a3"}}
    assert_rows(run(env, narrow, viewer)["rows"], {("br_a3",): want[("br_a3",)]}, ["brand_id"])
    assert post(env, {**body, "scope": {"brand_id": "br_a1"}}, viewer).status_code == 403


def test_admin_scope_narrows(env: Env) -> None:
    body = {
        "dataset": "agent_events",
        "time": CUT,
        "group_by": ["workspace_id", "brand_id"],
        "measures": [{"op": "count"}, {"op": "p90", "field": "duration_ms"}],
        "scope": {"workspace_id": ["ws_b", "ws_c"]},
    }
    result = run(env, body)
    want = expected(env.events, body, workspaces=["ws_b", "ws_c"])
    assert_rows(result["rows"], want, body["group_by"])


def test_scoped_key_on_a_fan_out_query(env: Env) -> None:
    _, token = env.keys.create("viewer", {"workspace_id": ("ws_b",)}, name="ws-b-viewer")
    body = {
        "dataset": "tagged_events",
        "time": TAG_WINDOW,
        "group_by": ["workspace_id", "tags"],
        "measures": [{"op": "count"}],
    }
    result = run(env, body, bearer(token))
    assert_rows(result["rows"], expected(env.tagged, body, workspaces=["ws_b"]), body["group_by"])
