"""Every request rule of `POST /feedback/aggregate`, each with its 422 body in FastAPI's shape,
and the inputs Weave's own request model accepts, which Tally accepts too."""

from __future__ import annotations

from typing import Any

import pytest

DAY_MS = 86_400_000
AFTER = 1_714_521_600_000  # 2024-05-01T00:00:00Z


def body(**extra: Any) -> dict[str, Any]:
    return {"project_id": "team/alpha", "after_ms": AFTER, "before_ms": AFTER + DAY_MS, **extra}


def only_problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and len(detail) == 1, detail
    assert set(detail[0]) == {"loc", "msg", "type"} and detail[0]["msg"]
    return detail[0]


FIELD_RULES = {
    "after_ms negative": ({"after_ms": -1}, ["body", "after_ms"], "greater_than_equal"),
    "before_ms negative": ({"before_ms": -5}, ["body", "before_ms"], "greater_than_equal"),
    "after_ms as words": ({"after_ms": "yesterday"}, ["body", "after_ms"], "int_parsing"),
    "after_ms fractional": ({"after_ms": AFTER + 0.5}, ["body", "after_ms"], "int_from_float"),
    "after_ms as a boolean list": ({"after_ms": [True]}, ["body", "after_ms"], "int_type"),
    "bucket zero": ({"time_bucket_seconds": 0}, ["body", "time_bucket_seconds"], "greater_than"),
    "bucket negative": (
        {"time_bucket_seconds": -60},
        ["body", "time_bucket_seconds"],
        "greater_than",
    ),
    "rating_min above 1": ({"rating_min": 1.5}, ["body", "rating_min"], "less_than_equal"),
    "rating_min below 0": ({"rating_min": -0.1}, ["body", "rating_min"], "greater_than_equal"),
    "rating_max above 1": ({"rating_max": 2}, ["body", "rating_max"], "less_than_equal"),
    "rating_max below 0": ({"rating_max": -1}, ["body", "rating_max"], "greater_than_equal"),
    "span type unknown": (
        {"span_types": ["agent_step"]},
        ["body", "span_types", 0],
        "literal_error",
    ),
    "group_by unknown": ({"group_by": ["payload_dump"]}, ["body", "group_by", 0], "literal_error"),
    "tags not a list": ({"tags": "pii"}, ["body", "tags"], "list_type"),
    "a tag not a string": ({"tags": [7]}, ["body", "tags", 0], "string_type"),
    "project_id not a string": ({"project_id": 7}, ["body", "project_id"], "string_type"),
    "too many distinct tags": (
        {"tags": [f"t{i}" for i in range(1001)]},
        ["body", "tags"],
        "too_long",
    ),
    "too many prefixes": (
        {"feedback_types": [f"kind{i}." for i in range(300)]},
        ["body", "feedback_types"],
        "too_long",
    ),
}


@pytest.mark.parametrize(
    ("extra", "loc", "kind"), list(FIELD_RULES.values()), ids=list(FIELD_RULES)
)
def test_field_rules(client, admin_headers, extra: dict, loc: list, kind: str) -> None:
    response = client.post("/feedback/aggregate", json=body(**extra), headers=admin_headers)
    problem = only_problem(response)
    assert (problem["loc"], problem["type"]) == (loc, kind)


@pytest.mark.parametrize("name", ["project_id", "after_ms", "before_ms"])
def test_required_fields(client, admin_headers, name: str) -> None:
    request = body()
    del request[name]
    problem = only_problem(client.post("/feedback/aggregate", json=request, headers=admin_headers))
    assert (problem["loc"], problem["type"]) == (["body", name], "missing")


def test_every_problem_is_listed(client, admin_headers) -> None:
    request = body(after_ms=-1, rating_max=3, group_by=["nope"], tags="pii")
    response = client.post("/feedback/aggregate", json=request, headers=admin_headers)
    assert response.status_code == 422
    locs = {tuple(p["loc"]) for p in response.json()["detail"]}
    assert locs == {
        ("body", "after_ms"),
        ("body", "rating_max"),
        ("body", "group_by", 0),
        ("body", "tags"),
    }


# What Weave's FeedbackAggregateReq accepts that Tally used to refuse: unknown fields (ignored
# since weave 0.53.4), pydantic's lax coercions, and none of Tally's old limits.
ACCEPTED = {
    "unknown field": {"colour": "red", "wb_user_id": "u1"},
    "after_ms as text": {"after_ms": str(AFTER)},
    "after_ms as a whole float": {"after_ms": float(AFTER)},
    "after_ms in exponent notation": {"after_ms": 1.7145216e12},
    "bucket as text": {"time_bucket_seconds": "3600"},
    "bucket as a whole float": {"time_bucket_seconds": 3600.0},
    "rating as text": {"rating_min": "0.25"},
    "65 items": {"scorer_ids": [f"s{i}" for i in range(65)]},
    "a 257-character string": {"span_agent_names": ["a" * 257]},
    "1000 distinct tags": {"tags": [f"t{i}" for i in range(1000)]},
    "empty project": {"project_id": ""},
    "before_ms past year 9999": {"before_ms": 10**15},
    "a repeated group_by": {"group_by": ["scorer_id", "scorer_id"]},
    "empty prefixes and names": {"feedback_types": ["*"], "monitor_ids": [""], "tags": [""]},
}


@pytest.mark.parametrize("extra", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_what_weave_accepts_is_accepted(client, admin_headers, extra: dict) -> None:
    response = client.post("/feedback/aggregate", json=body(**extra), headers=admin_headers)
    assert response.status_code == 200, response.text


def test_coerced_numbers_answer_as_the_numbers_they_spell(client, admin_headers) -> None:
    spelled = body(after_ms=str(AFTER), before_ms=float(AFTER + DAY_MS), time_bucket_seconds="3600")
    response = client.post("/feedback/aggregate", json=spelled, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "after_ms": AFTER,
        "before_ms": AFTER + DAY_MS,
        "time_bucket_seconds": 3600,
        "buckets": [],
    }


@pytest.mark.parametrize("before", [AFTER, AFTER - 1])
def test_before_must_follow_after(client, admin_headers, before: int) -> None:
    response = client.post(
        "/feedback/aggregate", json=body(before_ms=before), headers=admin_headers
    )
    problem = only_problem(response)
    assert (problem["loc"], problem["type"]) == (["body", "before_ms"], "value_error")


OVER_31_DAYS = {"after_ms": 0, "before_ms": 32 * DAY_MS}


@pytest.mark.parametrize(
    "extra",
    [
        {"time_bucket_seconds": 86_400},
        {"group_by": ["scorer_id"]},
        {"feedback_types": ["wandb."]},
        {"tags": ["pii"]},
        {"rating_min": 0.5},
        {"rating_max": 0.5},
        {"monitor_ids": ["mon"]},
        {"scorer_ids": ["tox"]},
        {"span_agent_names": ["support"]},
        {"span_types": ["agent_turn"]},
    ],
)
def test_more_than_31_days_only_for_a_bare_total(client, admin_headers, extra: dict) -> None:
    request = body(**OVER_31_DAYS, **extra)
    problem = only_problem(client.post("/feedback/aggregate", json=request, headers=admin_headers))
    assert (problem["loc"], problem["type"]) == (["body", "before_ms"], "value_error")
    assert "31 days" in problem["msg"]


@pytest.mark.parametrize(
    "extra",
    [
        OVER_31_DAYS,
        {**OVER_31_DAYS, "tags": [], "group_by": [], "time_bucket_seconds": None},
        {"after_ms": 0, "before_ms": 31 * DAY_MS, "time_bucket_seconds": 86_400 * 7},
        {"after_ms": 0, "before_ms": 31 * DAY_MS, "group_by": ["scorer_id"], "tags": ["x"]},
    ],
)
def test_allowed_windows(client, admin_headers, extra: dict) -> None:
    response = client.post("/feedback/aggregate", json=body(**extra), headers=admin_headers)
    assert response.status_code == 200, response.text


def test_at_most_256_buckets(client, admin_headers) -> None:
    exactly = body(before_ms=AFTER + 256 * 3_600_000, time_bucket_seconds=3600)
    assert (
        client.post("/feedback/aggregate", json=exactly, headers=admin_headers).status_code == 200
    )
    over = body(before_ms=AFTER + 256 * 3_600_000 + 1, time_bucket_seconds=3600)
    problem = only_problem(client.post("/feedback/aggregate", json=over, headers=admin_headers))
    assert (problem["loc"], problem["type"]) == (["body", "time_bucket_seconds"], "value_error")
    # One day of 5-minute buckets is 288.
    five = body(time_bucket_seconds=300)
    assert only_problem(client.post("/feedback/aggregate", json=five, headers=admin_headers))


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"{not json", "json_invalid"), (b"[1, 2]", "model_attributes_type"), (b"", "json_invalid")],
)
def test_a_body_that_is_not_an_object_is_422(client, admin_headers, content: bytes, kind: str):
    headers = {**admin_headers, "Content-Type": "application/json"}
    response = client.post("/feedback/aggregate", content=content, headers=headers)
    problem = only_problem(response)
    assert (problem["loc"], problem["type"]) == (["body"], kind)


def test_null_bucket_and_bounds_are_accepted(client, admin_headers) -> None:
    request = body(time_bucket_seconds=None, rating_min=None, rating_max=None)
    response = client.post("/feedback/aggregate", json=request, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["buckets"][0]["time_bucket_start_ms"] is None


def test_401_comes_before_body_validation(client) -> None:
    response = client.post("/feedback/aggregate", json={"bogus": True})
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)
