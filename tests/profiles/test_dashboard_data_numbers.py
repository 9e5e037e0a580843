"""Every type of /api/v1/dashboard-data against the plain-Python oracle, over one generated tenant
(a second tenant with the same ids must never leak in): windows of several lengths, segment
filters, every groupBy, filterId, zero-filled days, exact percentiles and the rank distribution.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.profiles import dashboard_data_decisions as decisions
from tests.profiles import dashboard_data_oracle as oracle
from tests.profiles.dashboard_data_support import Env, generate, open_env

TRACES = 800


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory, generate(TRACES))


def same(actual: Any, expected: Any, path: str = "data") -> None:
    """Equal structure and values; floats equal up to summation order."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (path, actual, expected)
        for key in expected:
            same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (path, actual, expected)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), (path, actual, expected)
    else:
        assert actual == expected, (path, actual, expected)


def test_inventory(env: Env) -> None:
    same(env.data(), oracle.summary(env.rows))
    same(env.data(type="summary", days=30), oracle.summary(env.rows))
    same(env.data(type="funnel"), oracle.funnel(env.rows))
    same(env.data(type="budget_burn"), oracle.budget_burn(env.rows))
    same(env.data(type="policy_impact"), oracle.policy_impact(env.rows))


def test_budget_with_nothing_allocated_burns_at_rate_zero(env: Env) -> None:
    burn = {r["offerId"]: r for r in env.data(type="budget_burn")}
    assert burn["off_08"]["allocated"] == 0 and burn["off_08"]["burnRate"] == 0


PER_WINDOW = ["acceptance_rate", "offer_performance", "channel_effectiveness"]
PER_WINDOW += ["daily_trend", "revenue_trend"]


@pytest.mark.parametrize("days", [1, 7, 30, 365])
@pytest.mark.parametrize("kind", PER_WINDOW)
def test_interaction_reports(env: Env, kind: str, days: int) -> None:
    same(env.data(type=kind, days=days), getattr(oracle, kind)(env.rows, days))


@pytest.mark.parametrize("segment", ["seg_vip", "seg_new", "seg_old", "seg_big"])
@pytest.mark.parametrize("kind", PER_WINDOW)
def test_interaction_reports_of_a_segment(env: Env, kind: str, segment: str) -> None:
    expected = getattr(oracle, kind)(env.rows, 30, segment)
    same(env.data(type=kind, days=30, segmentId=segment), expected)
    assert expected != getattr(oracle, kind)(env.rows, 30)


def test_daily_series_have_one_zero_filled_row_per_day(env: Env) -> None:
    """Interactions go back 40 days: the 20 first days of a 60-day window have none."""
    trend = env.data(type="daily_trend", segmentId="seg_vip", days=60)
    assert [r["date"] for r in trend] == oracle.dates(60)
    assert all(r["impressions"] == 0 and r["conversions"] == 0 for r in trend[:19])
    same(trend, oracle.daily_trend(env.rows, 60, "seg_vip"))
    assert len(env.data(type="latency_trend", days=20)) == 20


def test_offer_performance_cuts_at_20_and_completes_with_idle_offers(env: Env) -> None:
    top = env.data(type="offer_performance", days=30)
    assert len(top) == 20 and all(r["impressions"] > 0 for r in top)
    few = env.data(type="offer_performance", days=1, segmentId="seg_vip")
    assert len(few) == 20 and few[-1]["impressions"] == 0
    same(few, oracle.offer_performance(env.rows, 1, "seg_vip"))


@pytest.mark.parametrize("group", ["channel", "category", "segment"])
@pytest.mark.parametrize("segment", [None, "seg_new"])
def test_offer_performance_grouped(env: Env, group: str, segment: str | None) -> None:
    params: dict[str, Any] = {"groupBy": group, "days": 14}
    if segment:
        params["segmentId"] = segment
    expected = oracle.offer_performance_grouped(env.rows, 14, group, segment)
    assert expected
    same(env.data(type="offer_performance_grouped", **params), expected)


def test_offer_performance_grouped_by_channel_by_default(env: Env) -> None:
    expected = oracle.offer_performance_grouped(env.rows, 7, "channel")
    same(env.data(type="offer_performance_grouped"), expected)
    assert {r["channelId"] for r in expected} >= {"ch_ghost", "ch_web"}


def test_uncategorized_offers_group_last(env: Env) -> None:
    rows = env.data(type="offer_performance_grouped", groupBy="category", days=30)
    assert rows[-1]["categoryId"] is None and rows[-1]["categoryName"] is None


@pytest.mark.parametrize("days", [1, 7, 30])
def test_attribution_summary(env: Env, days: int) -> None:
    same(
        env.data(type="attribution_summary", days=days), oracle.attribution_summary(env.rows, days)
    )


@pytest.mark.parametrize("days", [1, 7, 10])
def test_latency_trend_exact_percentiles(env: Env, days: int) -> None:
    same(env.data(type="latency_trend", days=days), oracle.latency_trend(env.rows, days))


def test_days_without_runs_have_no_latency(env: Env) -> None:
    """p50 and p99 of no runs are null, not 0 ms; the run count is 0."""
    days = env.data(type="latency_trend", days=60)
    empty = [day for day in days if day["runs"] == 0]
    assert empty and len(empty) < len(days)
    assert all(day["p50"] is None and day["p99"] is None for day in empty)
    assert all(day["p50"] > 0 for day in days if day["runs"])


@pytest.mark.parametrize("model", [None, "mdl_a", "mdl_b", "mdl_unknown"])
def test_model_metrics_trend(env: Env, model: str | None) -> None:
    params = {"modelId": model} if model else {}
    expected = oracle.model_metrics_trend(env.rows, 14, model)
    same(env.data(type="model_metrics_trend", days=14, **params), expected)


def test_model_metrics_trend_defaults_to_the_latest_model(env: Env) -> None:
    assert env.data(type="model_metrics_trend")["modelId"] == "mdl_a"


@pytest.mark.parametrize(
    ("group", "keep"),
    [
        (None, None),
        ("channel", None),
        ("offer", None),
        ("category", None),
        ("channel", "ch_app"),
        ("offer", "off_05"),
        ("category", "cat_b"),
        ("offer", "off_nope"),
    ],
)
def test_score_distribution(env: Env, group: str | None, keep: str | None) -> None:
    params = {k: v for k, v in (("groupBy", group), ("filterId", keep)) if v}
    expected = decisions.score_distribution(env.rows, 7, group, keep)
    same(env.data(type="score_distribution", **params), expected)


def test_score_bins_are_half_open_but_the_last(env: Env) -> None:
    bins = env.data(type="score_distribution", days=30)
    assert [b["bin"] for b in bins][:2] == ["0.0-0.1", "0.1-0.2"]
    scores = [c["score"] for c in oracle.in_window(env.rows["decision_candidates"], 30)]
    assert bins[9]["count"] == sum(1 for s in scores if s is not None and 0.9 <= s <= 1.0)
    assert 1.0 in scores and 0.1 in scores


@pytest.mark.parametrize("days", [1, 7])
def test_degraded_scoring_and_traces_summary(env: Env, days: int) -> None:
    same(env.data(type="degraded_scoring", days=days), decisions.degraded_scoring(env.rows, days))
    expected = decisions.decision_traces_summary(env.rows, days)
    same(env.data(type="decision_traces_summary", days=days), expected)


SELECTION_FILTERS: list[dict[str, str]] = [
    {},
    {"channelId": "ch_web"},
    {"categoryId": "cat_b"},
    {"decisionFlowId": "flow_2"},
    {"segmentId": "seg_vip"},
    {"channelId": "ch_app", "categoryId": "cat_a", "decisionFlowId": "flow_1"},
]


@pytest.mark.parametrize("params", SELECTION_FILTERS)
def test_selection_frequency_below_the_cap(env: Env, params: dict[str, str]) -> None:
    expected = decisions.selection_frequency(env.rows, params)
    assert expected
    same(env.data(type="selection_frequency", **params), expected)


def test_rank_distribution_ignores_ranks_past_10(env: Env) -> None:
    rows = env.data(type="selection_frequency")
    ranks = [c["rank"] for c in oracle.in_window(env.rows["decision_candidates"], 7)]
    assert max(r for r in ranks if r is not None) > 10
    tracked = sum(sum(r["rankDistribution"]) for r in rows)
    assert tracked == sum(1 for r in ranks if r is not None and r <= 10)


@pytest.mark.parametrize("offer", ["off_03", "off_21", "off_ghost"])
@pytest.mark.parametrize("segment", [None, "seg_new"])
def test_why_not_ranked_below_the_cap(env: Env, offer: str, segment: str | None) -> None:
    params = {"segmentId": segment} if segment else {}
    expected = decisions.why_not_ranked(env.rows, offer, 7, segment)
    same(env.data(type="why_not_ranked", offerId=offer, **params), expected)


@pytest.mark.parametrize(("days", "baseline"), [(7, None), (7, 14), (3, 1), (14, 30)])
def test_anomaly_candidates_on_generated_data(env: Env, days: int, baseline: int | None) -> None:
    params = {"baselineDays": baseline} if baseline else {}
    expected = decisions.anomaly_candidates(env.rows, days, baseline)
    assert expected
    same(env.data(type="anomaly_candidates", days=days, **params), expected)
