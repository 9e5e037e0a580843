"""The decisioning datasets: entity datasets keep the latest version of each key (a new offer
status changes summary and funnel), event datasets are append-only and idempotent on their keys,
and the native API reads both."""

from __future__ import annotations

from typing import Any

import pytest

from tests.profiles.dashboard_data_support import TENANT, Env, open_env

ENTITIES = {
    "offers": ("id",),
    "creatives": ("id",),
    "channels": ("id",),
    "categories": ("id",),
    "segments": ("id",),
    "segment_members": ("segment_id", "customer_id"),
    "experiments": ("id",),
    "journeys": ("id",),
    "triggers": ("id",),
    "approvals": ("id",),
    "budget_allocations": ("id",),
    "model_features": ("model_id", "feature"),
    "suppressions": ("id",),
}
EVENTS = {
    "interactions": ("id",),
    "decision_traces": ("id",),
    "decision_candidates": ("trace_id", "offer_id"),
    "runs": ("id",),
    "attributions": ("id",),
    "model_metrics": ("model_id", "ts"),
}
OFFERS = [
    {"id": "off_1", "name": "One", "category_id": "cat_a", "status": "active"},
    {"id": "off_2", "name": "Two", "category_id": "cat_a", "status": "active"},
    {"id": "off_3", "name": "Three", "category_id": None, "status": "draft"},
]
CREATIVES = [
    {"id": "cr_1", "offer_id": "off_1", "channel_id": "ch_web", "status": "active"},
    {"id": "cr_2", "offer_id": "off_1", "channel_id": "ch_app", "status": "active"},
]


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory):
    for env in open_env(tmp_path_factory, None):
        env.ingest(TENANT, {"offers": OFFERS, "creatives": CREATIVES})
        yield env


@pytest.mark.parametrize("name", [*ENTITIES, *EVENTS])
def test_catalog_declarations(env: Env, name: str) -> None:
    described = env.client.get(f"/v1/datasets/{name}", headers=env.admin).json()
    assert described["tenant_columns"] == ["tenant_id"]
    assert tuple(described["key_columns"]) == {**ENTITIES, **EVENTS}[name]
    if name in ENTITIES:
        assert described["mode"] == "upsert"
        assert described["time_column"] is None or name == "segments"
    else:
        assert described["mode"] == "append" and described["time_column"] == "ts"


def post(env: Env, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = [{"tenant_id": TENANT, **row} for row in rows]
    response = env.client.post(f"/v1/datasets/{name}/rows", json=body, headers=env.admin)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_new_offer_status_changes_summary_and_funnel(env: Env) -> None:
    assert env.data()["activeOffers"] == 2
    before = env.data(type="funnel")
    assert before == {
        "totalOffers": 3,
        "activeOffers": 2,
        "offersWithCreatives": 1,
        "totalCreatives": 2,
    }
    paused = {**OFFERS[0], "status": "paused"}
    assert post(env, "offers", [paused, OFFERS[2] | {"status": "active"}])["updated"] == 2
    assert env.data()["activeOffers"] == 2
    assert post(env, "offers", [OFFERS[1] | {"status": "archived"}])["updated"] == 1
    assert env.data()["activeOffers"] == 1
    assert env.data(type="funnel") == before | {"activeOffers": 1}
    assert post(env, "creatives", [CREATIVES[1] | {"offer_id": "off_2"}])["updated"] == 1
    assert env.data(type="funnel")["offersWithCreatives"] == 2


def test_offer_names_follow_the_latest_version(env: Env) -> None:
    post(env, "offers", [OFFERS[0] | {"name": "One, renamed"}])
    rows = env.data(type="offer_performance")
    assert {r["offerId"]: r["offerName"] for r in rows}["off_1"] == "One, renamed"


def test_events_are_idempotent_on_their_keys(env: Env) -> None:
    trace = {
        "trace_id": "tr_1",
        "ts": "2026-03-15T10:00:00+00:00",
        "customer_id": "c1",
        "channel_id": "ch_web",
        "decision_flow_id": "flow_1",
        "offer_id": "off_1",
        "outcome": "selected",
        "score": 0.7,
        "rank": 1,
    }
    assert post(env, "decision_candidates", [trace])["accepted"] == 1
    again = post(
        env, "decision_candidates", [trace | {"score": 0.1}, trace | {"offer_id": "off_2"}]
    )
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    metric = {"model_id": "m1", "ts": "2026-03-15T06:00:00+00:00", "auc": 0.7}
    post(env, "model_metrics", [metric])
    assert post(env, "model_metrics", [metric | {"auc": 0.9}])["duplicates"] == 1
    score_bins = env.data(type="score_distribution")
    assert [b["count"] for b in score_bins] == [0, 0, 0, 0, 0, 0, 0, 2, 0, 0]


@pytest.mark.parametrize(("dataset", "count"), [("offers", 3), ("decision_candidates", 0)])
def test_the_native_api_reads_both_kinds(env: Env, dataset: str, count: int) -> None:
    body = {"dataset": dataset, "measures": [{"op": "count"}], "scope": {"tenant_id": TENANT}}
    response = env.client.post("/v1/query", json=body, headers=env.admin)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [{"count": count}]
