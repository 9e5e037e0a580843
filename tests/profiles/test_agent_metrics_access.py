"""Profile 001 access: row-level rules below admin, tenants, the 401/403/500 envelope, and the
10,000-point limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import bearer
from tests.profiles.agent_metrics_support import (
    PATH,
    Env,
    assert_points,
    body,
    distinct_conversations,
    expected,
    ingest,
    open_env,
    select,
    visible_to,
)

BIG = "tn_big"
MAX_POINTS = 10_000
ALICE = "alice@acme.io"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    for opened in open_env(tmp_path_factory):
        ingest(opened.client, opened.admin, distinct_conversations(BIG, MAX_POINTS + 1))
        yield opened


QUERIES: list[tuple[dict[str, Any], tuple[int, bool] | None]] = [
    (body(), None),
    (body(groupBy=["userEmail"], aggregations=[{"type": "p90", "column": "latencyMs"}]), None),
    (body(groupBy=["virtualAccount"]), None),
    (body(groupBy=["team", "agentName"]), None),
    (
        body(filters=[{"fieldName": "userEmail", "operator": "EQUAL", "value": "carol@acme.io"}]),
        None,
    ),
    (
        body(
            filters=[
                {"fieldName": "team", "operator": "ARRAY_HAS_ANY", "value": ["finance", "sales"]}
            ]
        ),
        None,
    ),
    (
        body(filters=[{"fieldName": "team", "operator": "ARRAY_HAS_NONE", "value": ["support"]}]),
        None,
    ),
    (
        body(
            "timeseries",
            interval="1 day",
            groupBy=["userEmail"],
            aggregations=[{"type": "countDistinct", "column": "conversationID"}],
        ),
        (86_400, False),
    ),
]


@pytest.mark.parametrize(("request_body", "bucket"), QUERIES)
def test_a_viewer_sees_its_own_rows_and_its_teams_rows_only(
    env: Env, request_body: dict[str, Any], bucket: tuple[int, bool] | None
) -> None:
    teams = ("support",)
    viewer = env.token("viewer", ("tn_a",), subject=ALICE, teams=teams)
    visible = visible_to(ALICE, teams)
    rows = select(env.rows, request_body, ("tn_a",), visible)
    points = env.points(request_body, viewer)
    wanted = expected(rows, request_body, bucket)
    if not wanted and not request_body.get("groupBy") and request_body["type"] == "distribution":
        wanted = [{"total": 0}]
    assert_points(points, wanted, request_body)
    slugs = {p.get("createdBySubjectSlug") for p in points} - {None}
    assert slugs <= {ALICE, "bob@acme.io", "erin@acme.io", "va-support-sync"}


def test_the_row_rule_is_own_subject_or_any_shared_team(env: Env) -> None:
    viewer = env.token("viewer", ("tn_a",), subject=ALICE, teams=("support",))
    points = env.points(body(groupBy=["userEmail", "team"]), viewer)
    seen = {(p["createdBySubjectSlug"], p["team"]) for p in points}
    # Alice's own rows (team platform), and Bob's in both his teams; never Carol or Dave.
    assert seen == {
        (ALICE, "platform"),
        ("bob@acme.io", "support"),
        ("bob@acme.io", "platform"),
        ("erin@acme.io", "support"),
    }


def test_a_viewer_without_a_subject_sees_its_teams_rows(env: Env) -> None:
    viewer = env.token("viewer", ("tn_a",), teams=("finance",))
    (point,) = env.points(body(groupBy=["virtualAccount"]), viewer)
    assert point["createdBySubjectSlug"] == "va-billing"
    assert point["total"] == len(select(env.rows, body(), ("tn_a",), visible_to("-", ("finance",))))


def test_a_tenant_admin_sees_the_whole_tenant_and_nothing_else(env: Env) -> None:
    admin = env.token("admin", ("tn_a",), subject=ALICE, teams=("support",))
    request = body(groupBy=["userEmail"])
    assert_points(
        env.points(request, admin), expected(select(env.rows, request, ("tn_a",)), request), request
    )
    response = env.post(body(), {**admin, "X-Tenant-Id": "tn_b"})
    assert response.status_code == 403
    assert response.json() == {
        "statusCode": 403,
        "message": "tenant_id tn_b is outside this token's scope",
    }


def test_a_token_of_several_tenants_reads_them_all_unless_the_header_narrows(env: Env) -> None:
    viewer = env.token("viewer", ("tn_a", "tn_b"), subject=ALICE, teams=())
    visible = visible_to(ALICE, ())
    both = len(select(env.rows, body(), ("tn_a", "tn_b"), visible))
    only_b = len(select(env.rows, body(), ("tn_b",), visible))
    assert env.points(body(), viewer) == [{"total": both}]
    assert env.points(body(), {**viewer, "X-Tenant-Id": "tn_b"}) == [{"total": only_b}]
    assert 0 < only_b < both


def test_an_all_tenants_admin_narrows_with_the_header(env: Env) -> None:
    narrowed = {**env.admin, "X-Tenant-Id": "tn_b, tn_a"}
    assert env.points(body(), narrowed) == [{"total": len(select(env.rows, body()))}]


def test_no_token_or_a_bad_one_is_401_in_the_profile_shape(env: Env) -> None:
    for headers in ({}, bearer("tly_nope_nope")):
        response = env.client.post(PATH, json=body(), headers=headers)
        assert response.status_code == 401
        assert set(response.json()) == {"statusCode", "message"}
        assert response.json()["statusCode"] == 401


def test_a_token_without_a_tenant_is_403(env: Env) -> None:
    _, token = env.keys.create("viewer", {"workspace_id": ("ws_a",)})
    response = env.post(body(), bearer(token))
    assert response.status_code == 403
    assert response.json() == {
        "statusCode": 403,
        "message": "this token has no access to agent_metrics",
    }


def test_an_unexpected_failure_is_a_bare_500(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(env.service.answers, "answer_async", broken)
    response = env.post(body())
    assert response.status_code == 500
    assert response.json() == {"statusCode": 500, "message": "something went wrong on our side"}


def test_more_than_ten_thousand_points_is_400(env: Env) -> None:
    big = {**env.admin, "X-Tenant-Id": BIG}
    too_many = body(groupBy=["conversationID"])
    response = env.post(too_many, big)
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": "Invalid query",
        "details": [
            "The query returns more than 10000 data points: use a coarser interval or fewer "
            "groupBy fields"
        ],
    }
    weekly = body("timeseries", interval="1 week", groupBy=["conversationID"])
    assert env.post(weekly, big).status_code == 400
    one_less = body(
        groupBy=["conversationID"],
        filters=[{"fieldName": "conversationID", "operator": "NOT_IN", "value": ["c0"]}],
    )
    points = env.points(one_less, big)
    assert len(points) == MAX_POINTS
    assert all(p["total"] == 1 for p in points)


def test_answers_are_cached_per_scope(env: Env) -> None:
    request = body(groupBy=["agentFramework"], startTs="2026-04-14T00:00:00Z")
    viewer = env.token("viewer", ("tn_a",), subject=ALICE, teams=("support",))
    first = env.post(request)
    again = env.post(request)
    as_viewer = env.post(request, viewer)
    assert [r.headers["X-Tally-Cache"] for r in (first, again, as_viewer)] == [
        "miss",
        "hit",
        "miss",
    ]
    assert first.json() == again.json()
    viewer_total = sum(p["total"] for p in as_viewer.json()["data"]["dataPoints"])
    assert viewer_total == len(
        select(env.rows, request, ("tn_a",), visible_to(ALICE, ("support",)))
    )
