"""`POST /feedback/aggregate` against the plain-Python oracle of `feedback_aggregate_support`:
every filter family and group_by, epoch-aligned sparse buckets, the one-row rule, paging past
the row cap, and project-level access."""

from __future__ import annotations

from typing import Any

import pytest

from tally.query.limits import Limits
from tests.helpers import bearer
from tests.profiles.feedback_aggregate_support import (
    BASE_MS,
    DATA_END_MS,
    GAP_MS,
    HOUR_MS,
    OTHER_PROJECT,
    PROJECT,
    WINDOW,
    Env,
    created_ms,
    expected,
    group_value,
    open_env,
)

GROUPS = ["scorer_id", "span_agent_name", "span_agent_version", "span_status_code"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory)


def body(**extra: Any) -> dict[str, Any]:
    return {"project_id": PROJECT, "after_ms": WINDOW[0], "before_ms": WINDOW[1], **extra}


CASES: dict[str, dict[str, Any]] = {
    "total": {},
    "hourly": {"time_bucket_seconds": 3600},
    "15-minute": {"time_bucket_seconds": 900},
    "by scorer_id": {"group_by": ["scorer_id"]},
    "by span_agent_name": {"group_by": ["span_agent_name"]},
    "by span_agent_version": {"group_by": ["span_agent_version"]},
    "by span_status_code": {"group_by": ["span_status_code"]},
    "by all four, 6-hourly": {"time_bucket_seconds": 21600, "group_by": GROUPS},
    "feedback_types prefixes": {"feedback_types": ["wandb.runnable.*", "custom"]},
    "feedback_types prefix without star": {"feedback_types": ["wandb.runnable.tox"]},
    "tags any of": {"tags": ["pii", "hallucination"]},
    "rating_min": {"rating_min": 0.5},
    "rating_max": {"rating_max": 0.375},
    "rating band": {"rating_min": 0.25, "rating_max": 0.75},
    "rating full range": {"rating_min": 0, "rating_max": 1},
    "monitor exact": {"monitor_ids": ["mon"]},
    "monitor prefix": {"monitor_ids": ["mon*"]},
    "monitor exact and prefix": {"monitor_ids": ["monday", "monitor_*"]},
    "scorer exact": {"scorer_ids": ["tox"]},
    "scorer prefix": {"scorer_ids": ["tox*"]},
    "scorer exact and prefix": {"scorer_ids": ["relevance", "toxicity_*"]},
    "span_agent_names": {"span_agent_names": ["support", "nobody"]},
    "span_agent_names with the empty name": {"span_agent_names": ["", "research"]},
    "span_types turn": {"span_types": ["agent_turn"]},
    "span_types both": {"span_types": ["agent_turn", "agent_conversation"]},
    "families combined": {
        "time_bucket_seconds": 7200,
        "group_by": ["scorer_id", "span_status_code"],
        "feedback_types": ["wandb."],
        "tags": ["toxicity", "pii"],
        "rating_min": 0.125,
        "scorer_ids": ["tox*", "relevance"],
        "span_types": ["agent_turn", "agent_conversation"],
    },
}


@pytest.mark.parametrize("extra", list(CASES.values()), ids=list(CASES))
def test_matches_python(env: Env, extra: dict[str, Any]) -> None:
    request = body(**extra)
    answer = env.answer(request)
    want = expected(env.rows, request)
    assert answer["buckets"] == want
    assert sum(b["total_count"] for b in want) > 0, "a case that matches nothing proves little"
    assert answer["after_ms"] == request["after_ms"]
    assert answer["before_ms"] == request["before_ms"]
    assert answer["time_bucket_seconds"] == request.get("time_bucket_seconds")


def test_window_edges_are_inclusive_then_exclusive(env: Env) -> None:
    after, before = WINDOW
    edges = {created_ms(r) for r in env.rows if r["project_id"] == PROJECT}
    assert {after - 1, after, before - 1, before} <= edges
    answer = env.answer(body())
    inside = [r for r in env.rows if r["project_id"] == PROJECT and after <= created_ms(r) < before]
    assert answer["buckets"][0]["total_count"] == len(inside)


def test_buckets_align_to_the_epoch_not_to_after_ms(env: Env) -> None:
    size_ms = 3600 * 1000
    assert WINDOW[0] % size_ms != 0
    answer = env.answer(body(time_bucket_seconds=3600))
    starts = [b["time_bucket_start_ms"] for b in answer["buckets"]]
    assert all(start % size_ms == 0 for start in starts)
    assert starts[0] == WINDOW[0] - WINDOW[0] % size_ms < WINDOW[0]
    assert starts == sorted(starts)


def test_buckets_are_sparse(env: Env) -> None:
    answer = env.answer(body(time_bucket_seconds=3600))
    starts = {b["time_bucket_start_ms"] for b in answer["buckets"]}
    gap = set(range(GAP_MS[0], GAP_MS[1], HOUR_MS))
    assert len(gap) == 12 and not starts & gap
    assert all(b["total_count"] > 0 for b in answer["buckets"])
    assert answer["buckets"] == expected(env.rows, body(time_bucket_seconds=3600))


def test_rows_are_ordered_by_bucket_then_group(env: Env) -> None:
    request = body(time_bucket_seconds=21600, group_by=["span_agent_name", "span_status_code"])
    status = {"UNSET": 0, "OK": 1, "ERROR": 2}
    keys = [
        (
            b["time_bucket_start_ms"],
            b["group"]["span_agent_name"],
            status[b["group"]["span_status_code"]],
        )
        for b in env.answer(request)["buckets"]
    ]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert any(name == "" for _, name, _ in keys), "a null agent name renders as ''"


def test_status_groups_follow_the_enum_not_the_name(env: Env) -> None:
    """Weave's production store orders span_status_code by its Enum8 number."""
    answer = env.answer(body(group_by=["span_status_code"]))
    assert [b["group"]["span_status_code"] for b in answer["buckets"]] == ["UNSET", "OK", "ERROR"]


def test_the_empty_agent_name_matches_feedback_without_an_agent(env: Env) -> None:
    """In Weave a missing agent name is "", so [""] selects exactly those rows."""
    answer = env.answer(body(span_agent_names=[""]))
    without = [
        row
        for row in env.rows
        if row["project_id"] == PROJECT
        and WINDOW[0] <= created_ms(row) < WINDOW[1]
        and row["span_agent_name"] is None
    ]
    assert len(without) > 50
    assert answer["buckets"][0]["total_count"] == len(without)


def test_a_repeated_group_by_entry_groups_once(env: Env) -> None:
    twice = env.answer(body(group_by=["scorer_id", "span_status_code", "scorer_id"]))
    once = env.answer(body(group_by=["scorer_id", "span_status_code"]))
    assert twice["buckets"] == once["buckets"] and len(once["buckets"]) > 5


def test_repeated_and_covered_items_change_nothing(env: Env) -> None:
    plain = body(feedback_types=["wandb."], tags=["pii"], scorer_ids=["tox*"])
    padded = body(
        feedback_types=["wandb.", "wandb.runnable.*", "wandb.annotation.thumbs", "wandb.*"] * 100,
        tags=["pii"] * 2_000,
        scorer_ids=["tox*", "toxicity*", "tox"] * 300,
    )
    assert env.answer(padded)["buckets"] == env.answer(plain)["buckets"]


def test_rating_bounds_drop_rows_without_the_main_rating(env: Env) -> None:
    def in_window(row: dict[str, Any]) -> bool:
        return row["project_id"] == PROJECT and WINDOW[0] <= created_ms(row) < WINDOW[1]

    rated = [r for r in env.rows if in_window(r) and "_rating_" in (r["ratings"] or {})]
    tag_only = [r for r in env.rows if in_window(r) and r["scorer_tags"] and r not in rated]
    assert tag_only, "the data must hold tagged rows without a _rating_"
    total = env.answer(body(rating_min=0))["buckets"][0]
    assert total["total_count"] == len(rated)
    assert total["rating_counts"]["_rating_"] == len(rated)


def test_object_ids_match_exactly_unless_starred(env: Env) -> None:
    exact = env.answer(body(scorer_ids=["tox"], group_by=["scorer_id"]))["buckets"]
    assert [b["group"]["scorer_id"] for b in exact] == ["tox"]
    starred = env.answer(body(scorer_ids=["tox*"], group_by=["scorer_id"]))["buckets"]
    assert [b["group"]["scorer_id"] for b in starred] == ["tox", "toxicity", "toxicity_v2"]


def test_an_unspellable_bucket_size_is_still_epoch_aligned(env: Env) -> None:
    """1 000 003 s is above the IR's six-digit seconds and no whole number of minutes."""
    seconds = 1_000_003
    boundary = (BASE_MS // (seconds * 1000) + 1) * seconds * 1000
    assert BASE_MS < boundary < DATA_END_MS
    request = body(after_ms=BASE_MS + 1, before_ms=DATA_END_MS, time_bucket_seconds=seconds)
    answer = env.answer(request)
    assert answer["buckets"] == expected(env.rows, request)
    assert [b["time_bucket_start_ms"] for b in answer["buckets"]] == [
        boundary - seconds * 1000,
        boundary,
    ]


def test_a_bucket_longer_than_the_ir_can_spell_starts_at_the_epoch(env: Env) -> None:
    """Weave takes any bucket size; one of 10**12 s holds every row of the window at 0."""
    answer = env.answer(body(time_bucket_seconds=10**12))
    assert answer["time_bucket_seconds"] == 10**12
    assert [b["time_bucket_start_ms"] for b in answer["buckets"]] == [0]
    assert answer["buckets"][0]["total_count"] == env.answer(body())["buckets"][0]["total_count"]


def test_one_row_when_nothing_matches(env: Env) -> None:
    answer = env.answer(body(tags=["no-such-tag"]))
    assert answer["buckets"] == [
        {
            "time_bucket_start_ms": None,
            "group": {},
            "total_count": 0,
            "scored_count": 0,
            "tag_counts": {},
            "rating_counts": {},
            "rating_sums": {},
        }
    ]
    assert env.answer(body(tags=["no-such-tag"], time_bucket_seconds=3600))["buckets"] == []
    assert env.answer(body(tags=["no-such-tag"], group_by=["scorer_id"]))["buckets"] == []


def test_an_all_time_total_may_span_more_than_31_days(env: Env) -> None:
    request = {"project_id": PROJECT, "after_ms": 0, "before_ms": DATA_END_MS + 400 * 86_400_000}
    answer = env.answer(request)
    assert answer["buckets"] == expected(env.rows, request)
    assert answer["buckets"][0]["total_count"] == sum(r["project_id"] == PROJECT for r in env.rows)


@pytest.mark.parametrize("before_ms", [2**53 - 1, 1e17, "253402300800000"])
def test_a_bound_past_year_9999_means_until_forever(env: Env, before_ms: Any) -> None:
    """Weave has no upper bound on before_ms; JavaScript clients send MAX_SAFE_INTEGER."""
    answer = env.answer({"project_id": PROJECT, "after_ms": 0, "before_ms": before_ms})
    assert answer["before_ms"] == int(before_ms)
    assert answer["buckets"][0]["total_count"] == sum(r["project_id"] == PROJECT for r in env.rows)


def test_a_project_outside_the_token_scope_is_403(env: Env) -> None:
    _, token = env.keys.create("viewer", {"project_id": (PROJECT,)}, name="alpha-viewer")
    own = env.post(body(group_by=["scorer_id"]), bearer(token))
    assert own.status_code == 200
    assert own.json()["buckets"] == expected(env.rows, body(group_by=["scorer_id"]))
    other = env.post(body(project_id=OTHER_PROJECT), bearer(token))
    assert other.status_code == 403
    assert isinstance(other.json()["detail"], str) and OTHER_PROJECT in other.json()["detail"]


def test_a_token_without_project_scope_is_403(env: Env) -> None:
    _, token = env.keys.create("viewer", {"workspace_id": ("ws_1",)}, name="no-projects")
    response = env.post(body(), bearer(token))
    assert response.status_code == 403
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token"), {"Authorization": "Basic x"}])
def test_without_a_valid_token_401(env: Env, headers: dict[str, str]) -> None:
    response = env.client.post("/feedback/aggregate", json=body(), headers=headers)
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def test_rendered_group_values_are_strings(env: Env) -> None:
    answer = env.answer(body(group_by=GROUPS))
    for bucket in answer["buckets"]:
        assert list(bucket["group"]) == GROUPS
        assert all(isinstance(v, str) for v in bucket["group"].values())
    seen = {tuple(b["group"].values()) for b in answer["buckets"]}
    rows = [r for r in env.rows if r["project_id"] == PROJECT]
    assert seen == {
        tuple(group_value(r, g) for g in GROUPS)
        for r in rows
        if WINDOW[0] <= created_ms(r) < WINDOW[1]
    }


@pytest.fixture(scope="module")
def small_pages(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory, Limits(max_rows=7, default_limit=7))


def test_answers_past_the_row_cap_are_read_page_by_page(small_pages: Env) -> None:
    request = body(time_bucket_seconds=21600, group_by=GROUPS)
    want = expected(small_pages.rows, request)
    assert len(want) > 7 * 5
    assert small_pages.answer(request)["buckets"] == want
