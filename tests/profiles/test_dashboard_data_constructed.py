"""anomaly_candidates and why_not_ranked on small datasets built by hand, with the expected
answers worked out by hand here (the formulas of the spec written with the literal counts).

The clock is 2026-03-15 14:37 UTC; with days = baselineDays = 7 the current window is
03-09..03-15 (today as it stands) and the baseline 03-02..03-08.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.profiles.dashboard_data_decisions import candidate as row
from tests.profiles.dashboard_data_support import TENANT, Env, open_env
from tests.profiles.test_dashboard_data_numbers import same

WHY = "tn_why"
CURRENT = [datetime(2026, 3, 9 + i, 10, tzinfo=UTC) for i in range(7)]
BASELINE = [datetime(2026, 3, 2 + i, 10, tzinfo=UTC) for i in range(7)]
BEFORE = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _interactions(offer: str, channel: str, kind: str, days: list[datetime], n: int) -> list:
    """n rows spread round-robin over `days`."""
    return [
        {"offer_id": offer, "channel_id": channel, "kind": kind, "ts": days[i % len(days)]}
        for i in range(n)
    ]


def _revenue(offer: str, days: list[datetime], values: list[float]) -> list[dict[str, Any]]:
    return [
        {"offer_id": offer, "channel_id": "ch_web", "kind": "conversion", "ts": d, "value": v}
        for d, v in zip(days, values, strict=True)
        if v
    ]


def anomaly_rows() -> dict[str, list[dict[str, Any]]]:
    rows = [
        *_interactions("off_a", "ch_web", "impression", BASELINE, 100),
        *_interactions("off_a", "ch_web", "positive", BASELINE, 50),
        *_interactions("off_a", "ch_web", "impression", CURRENT, 100),
        *_interactions("off_a", "ch_web", "positive", CURRENT, 20),
        *_interactions("off_a", "ch_web", "positive", [BEFORE], 100),
        *_interactions("off_b", "ch_email", "impression", BASELINE, 20),
        *_interactions("off_b", "ch_email", "positive", BASELINE, 2),
        *_interactions("off_b", "ch_email", "impression", CURRENT, 20),
        *_interactions("off_b", "ch_email", "positive", CURRENT, 18),
        *(
            row
            for days in (BASELINE, CURRENT)
            for row in [
                *_interactions("off_e", "ch_app", "impression", days, 40),
                *_interactions("off_f", "ch_app", "impression", days, 40),
                *_interactions("off_f", "ch_app", "positive", days, 40),
            ]
        ),
        *_revenue("off_a", BASELINE, [100, 120, 80, 100, 110, 90, 100]),
        *_revenue("off_a", CURRENT, [200] * 7),
        *_revenue("off_c", BASELINE, [50] * 7),
        *_revenue("off_c", CURRENT, [60] * 7),
        *_revenue("off_d", BASELINE, [50, 0, 50, 50, 50, 50, 50]),
        *_revenue("off_d", CURRENT, [40, 40, 40, 40, 40, 40, 0]),
        *_revenue("off_g", BASELINE, [90, 110, 90, 110, 90, 110, 100]),
        *_revenue("off_g", CURRENT, [135] * 7),
    ]
    interactions = [
        {"id": f"i{n}", "customer_id": f"c{n % 7}", "value": None}
        | row
        | {"ts": (row["ts"] + timedelta(seconds=n)).isoformat()}
        for n, row in enumerate(rows)
    ]
    traces = [
        {"ts": day.isoformat(), "degraded": i < degraded}
        for days, total, degraded in ((BASELINE, 100, 2), (CURRENT, 50, 10))
        for i in range(total)
        for day in [days[i % 7] + timedelta(minutes=i)]
    ]
    return {
        "interactions": interactions,
        "decision_traces": [
            {
                "id": f"t{n}",
                "customer_id": "c1",
                "channel_id": "ch_web",
                "decision_flow_id": "flow_1",
                "winner_offer_id": None,
            }
            | trace
            for n, trace in enumerate(traces)
        ],
    }


# (winner of the trace, outcome of off_x in it, how many such traces)
WHY_TRACES = [
    ("off_b", "outranked", 3),
    ("off_a", "outranked", 3),
    ("off_c", "outranked", 2),
    ("off_d", "outranked", 2),
    ("off_e", "outranked", 1),
    ("off_f", "outranked", 1),
    (None, "outranked", 1),
    ("off_a", "qualification_rejected", 2),
    ("off_b", "contact_policy_blocked", 1),
    ("off_x", "selected", 1),
]


def why_rows() -> dict[str, list[dict[str, Any]]]:
    traces, candidates = [], []
    n = 0
    for winner, outcome, times in WHY_TRACES:
        for _ in range(times):
            n += 1
            at = (CURRENT[n % 7] + timedelta(minutes=n)).isoformat()
            common = {"ts": at, "customer_id": "c1", "channel_id": "ch_web"}
            common["decision_flow_id"] = "flow_1"
            traces.append({"id": f"w{n}", "degraded": False, "winner_offer_id": winner} | common)
            candidates.append(
                {"trace_id": f"w{n}", "offer_id": "off_x", "outcome": outcome} | common
            )
            if winner not in (None, "off_x"):
                won = {"trace_id": f"w{n}", "offer_id": winner, "outcome": "selected"}
                candidates.append(won | common | {"score": 0.9, "rank": 1})
    return {
        "offers": [{"id": o, "name": o.upper(), "status": "active"} for o in ("off_a", "off_x")],
        "decision_traces": traces,
        "decision_candidates": candidates,
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    for env in open_env(tmp_path_factory, None):
        env.ingest(TENANT, anomaly_rows())
        env.ingest(WHY, why_rows())
        yield env


def z_rates(x1: int, n1: int, x2: int, n2: int) -> float:
    p = (x1 + x2) / (n1 + n2)
    return (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))


def sample_sd(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_anomaly_candidates_by_hand(env: Env) -> None:
    off_a_z = z_rates(20, 100, 50, 100)  # about -4.45
    revenue_a_z = (200 - 100) / sample_sd([100, 120, 80, 100, 110, 90, 100])  # about 7.75
    revenue_g_z = (135 - 100) / sample_sd([90, 110, 90, 110, 90, 110, 100])  # 3.5
    d_base = [50, 0, 50, 50, 50, 50, 50]
    d_cur, d_mean = 240 / 7, 300 / 7
    expected = [
        row("revenue", "offer", "off_a", 200.0, 100.0, revenue_a_z, 100.0, "critical"),
        row("acceptance_rate", "channel", "ch_web", 0.2, 0.5, off_a_z, -60.0, "critical"),
        row("acceptance_rate", "offer", "off_a", 0.2, 0.5, off_a_z, -60.0, "critical"),
        row("degraded_scoring_rate", "overall", None, 0.2, 0.02, z_rates(10, 50, 2, 100), 900.0,
            "critical"),
        row("revenue", "offer", "off_g", 135.0, 100.0, revenue_g_z, 35.0, "warning"),
        row("acceptance_rate", "overall", None, 78 / 200, 92 / 200, z_rates(78, 200, 92, 200),
            (78 / 200 - 92 / 200) / (92 / 200) * 100, "info"),
        row("revenue", "offer", "off_d", d_cur, d_mean, (d_cur - d_mean) / sample_sd(d_base),
            (d_cur - d_mean) / d_mean * 100, "info"),
        row("revenue", "offer", "off_c", 60.0, 50.0, None, 20.0, "info"),
    ]  # fmt: skip
    assert abs(expected[3]["zScore"]) < 4 and abs(expected[5]["zScore"]) < 2
    same(env.data(type="anomaly_candidates"), expected)
    same(env.data(type="anomaly_candidates", baselineDays=7), expected)


def test_no_candidate_below_the_volume_guard(env: Env) -> None:
    """off_b and ch_email swing from 10% to 90% acceptance on 20 impressions a window."""
    found = env.data(type="anomaly_candidates")
    assert not [r for r in found if r["scopeId"] in ("off_b", "ch_email")]
    assert not [r for r in found if r["scopeId"] in ("off_e", "off_f", "ch_app")]


def test_a_longer_baseline_moves_the_numbers(env: Env) -> None:
    """With 14 baseline days, 03-01 (100 positives of off_a, no impressions) joins the baseline:
    off_a's baseline acceptance becomes 150 / 100."""
    found = env.data(type="anomaly_candidates", baselineDays=14)
    off_a = next(r for r in found if r["metric"] == "acceptance_rate" and r["scopeId"] == "off_a")
    assert off_a["baseline"] == 1.5 and off_a["current"] == 0.2


def test_why_not_ranked_by_hand(env: Env) -> None:
    answer = env.data(type="why_not_ranked", offerId="off_x", headers={"X-Tenant-Id": WHY})
    assert answer == {
        "offerId": "off_x",
        "offerName": "OFF_X",
        "sampleSize": 17,
        "sampleCap": 10_000,
        "considered": 17,
        "selected": 1,
        "missed": 16,
        "reasons": {"qualification": 2, "contactPolicy": 1, "outranked": 13},
        "beatenBy": [
            {"offerId": "off_a", "offerName": "OFF_A", "count": 3},
            {"offerId": "off_b", "offerName": None, "count": 3},
            {"offerId": "off_c", "offerName": None, "count": 2},
            {"offerId": "off_d", "offerName": None, "count": 2},
            {"offerId": "off_e", "offerName": None, "count": 1},
        ],
    }
