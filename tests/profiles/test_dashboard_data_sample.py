"""selection_frequency and why_not_ranked over more than 10,000 traces: the sample is exactly the
10,000 most recent traces of the window by (ts, id), though traces stamped on a 10-minute
grid share their ts (the 10,000th one included); filters choose traces before the cut."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.profiles import dashboard_data_decisions as decisions
from tests.profiles import dashboard_data_oracle as oracle
from tests.profiles.dashboard_data_support import Env, Rows, generate, open_env
from tests.profiles.test_dashboard_data_numbers import same

TRACES = 14_000


def tie_at_the_cut(rows: Rows) -> Rows:
    """Give the traces just after the 10,000th of the week its ts (and their candidates too)."""
    ordered = sorted(
        oracle.in_window(rows["decision_traces"], 7), key=lambda t: (t["ts"], t["id"]), reverse=True
    )
    cut = ordered[decisions.CAP - 1]["ts"]
    moved = {t["id"] for t in ordered[decisions.CAP : decisions.CAP + 3]}
    for row in [*rows["decision_traces"], *rows["decision_candidates"]]:
        if row.get("id", row.get("trace_id")) in moved:
            row["ts"] = cut
    return rows


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    yield from open_env(tmp_path_factory, tie_at_the_cut(generate(TRACES)))


def test_the_data_needs_a_cut_inside_a_shared_ts(env: Env) -> None:
    traces = oracle.in_window(env.rows["decision_traces"], 7)
    assert len(traces) > decisions.CAP
    ordered = sorted(traces, key=lambda t: (t["ts"], t["id"]), reverse=True)
    cut = ordered[decisions.CAP - 1]
    assert ordered[decisions.CAP]["ts"] == cut["ts"]


@pytest.mark.parametrize(
    "params",
    [{}, {"channelId": "ch_web"}, {"categoryId": "cat_c"}, {"decisionFlowId": "flow_3"}],
)
def test_selection_frequency_over_the_sample(env: Env, params: dict[str, str]) -> None:
    expected = decisions.selection_frequency(env.rows, params)
    same(env.data(type="selection_frequency", **params), expected)


def test_the_sample_is_not_the_window(env: Env) -> None:
    everything = Counter(
        c["offer_id"]
        for c in oracle.in_window(env.rows["decision_candidates"], 7)
        if c["outcome"] == "selected"
    )
    sampled = {r["offerId"]: r["selected"] for r in env.data(type="selection_frequency")}
    assert sum(sampled.values()) < sum(everything.values())


@pytest.mark.parametrize("offer", ["off_01", "off_17", "off_28"])
def test_why_not_ranked_over_the_sample(env: Env, offer: str) -> None:
    answer = env.data(type="why_not_ranked", offerId=offer)
    same(answer, decisions.why_not_ranked(env.rows, offer, 7))
    assert answer["sampleSize"] == answer["sampleCap"] == 10_000


def test_every_miss_is_attributed_once(env: Env) -> None:
    answer = env.data(type="why_not_ranked", offerId="off_09", days=3)
    reasons = answer["reasons"]
    assert answer["missed"] == answer["considered"] - answer["selected"] > 0
    assert sum(reasons.values()) == answer["missed"]
    assert sum(b["count"] for b in answer["beatenBy"]) <= reasons["outranked"]
    same(answer, decisions.why_not_ranked(env.rows, "off_09", 3))


def test_a_small_window_is_sampled_whole(env: Env) -> None:
    answer = env.data(type="why_not_ranked", offerId="off_02", days=1)
    assert answer["sampleSize"] == len(oracle.in_window(env.rows["decision_traces"], 1))
    same(answer, decisions.why_not_ranked(env.rows, "off_02", 1))


def test_a_segment_chooses_traces_before_the_cut(env: Env) -> None:
    answer = env.data(type="why_not_ranked", offerId="off_05", segmentId="seg_new")
    same(answer, decisions.why_not_ranked(env.rows, "off_05", 7, "seg_new"))
    assert 0 < answer["sampleSize"] < 10_000
