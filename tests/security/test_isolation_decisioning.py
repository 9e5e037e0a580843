"""Tenant isolation through the decisioning dashboard (profile 004): generated requests of every
type answer the same for a tenant-scoped principal whether or not another tenant's rows (same
ids, other values) are stored beside its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import bearer
from tests.profiles.dashboard_data_support import (
    OFFERS,
    OTHER,
    PATH,
    TENANT,
    Env,
    generate,
    open_env,
)
from tests.security.test_isolation import _close

PLAIN = [
    "summary",
    "funnel",
    "budget_burn",
    "policy_impact",
    "degraded_scoring",
    "decision_traces_summary",
    "attribution_summary",
    "daily_trend",
    "revenue_trend",
    "latency_trend",
    "acceptance_rate",
    "offer_performance",
    "channel_effectiveness",
    "model_metrics_trend",
    "anomaly_candidates",
    "selection_frequency",
]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, ...]]:
    rows = generate(400)
    both_env = open_env(tmp_path_factory, rows)
    only_env = open_env(tmp_path_factory, None)
    both: Env = next(both_env)
    only: Env = next(only_env)
    only.ingest(TENANT, rows)
    tokens = [
        env.keys.create("admin", {"tenant_id": (TENANT,)}, name="tenant-a")[1]
        for env in (both, only)
    ]
    yield both.client, only.client, bearer(tokens[0]), bearer(tokens[1])
    for env in (both_env, only_env):
        env.close()


requests = st.one_of(
    st.builds(lambda t, d: {"type": t, "days": d}, st.sampled_from(PLAIN), st.integers(1, 30)),
    st.builds(
        lambda g, d: {"type": "offer_performance_grouped", "groupBy": g, "days": d},
        st.sampled_from(["channel", "category", "segment"]),
        st.integers(1, 30),
    ),
    st.builds(
        lambda g: {"type": "score_distribution", **({"groupBy": g} if g else {})},
        st.sampled_from([None, "channel", "offer", "category"]),
    ),
    st.builds(
        lambda o, d: {"type": "why_not_ranked", "offerId": o, "days": d},
        st.sampled_from(OFFERS[:6]),
        st.integers(1, 30),
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=requests, header=st.booleans())
def test_dashboard_data_sees_only_its_tenant(worlds, params: dict[str, Any], header: bool) -> None:
    both, only, headers_both, headers_only = worlds
    extra = {"X-Tenant-Id": TENANT} if header else {}
    first = both.get(PATH, params=params, headers={**headers_both, **extra})
    second = only.get(PATH, params=params, headers={**headers_only, **extra})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert _close(first.json(), second.json()), (params, first.json(), second.json())


def test_the_other_tenant_is_forbidden_and_really_differs(worlds) -> None:
    both, _, headers_both, _ = worlds
    response = both.get(
        PATH, params={"type": "summary"}, headers={**headers_both, "X-Tenant-Id": OTHER}
    )
    assert response.status_code == 403
    everyone = bearer(both.app.state.keys.create("admin", {}, all_tenants=True)[1])
    answers = [
        both.get(PATH, params={"type": "offer_performance"}, headers={**everyone, "X-Tenant-Id": t})
        for t in (TENANT, OTHER)
    ]
    assert answers[0].json() != answers[1].json(), "the other tenant's rows would change answers"
