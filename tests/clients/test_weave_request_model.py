"""Profile 003 parses a body exactly as Weave's own `FeedbackAggregateReq` does: the same bodies
are accepted, with the same values after pydantic's coercions, and the same are refused.

Bodies are generated from the fields of the model plus unknown ones, each with values of every
JSON kind: numbers as text, whole and fractional floats, booleans, nulls, empty strings, lists of
mixed items, long lists and long strings (well inside Tally's own bounds, which `bounds.py`
documents and `test_feedback_aggregate_validation.py` tests).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tally.errors import TallyError
from tally.profiles.feedback_aggregate.profile import parse
from tally.query.limits import Limits
from tests.clients.weave_support import weave_module

AFTER = 1_714_521_600_000
DAY_MS = 86_400_000

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 60, 3600, AFTER, AFTER + DAY_MS, AFTER + 40 * DAY_MS, 2**53 - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.25, 3600.0, 1.7e12, float(AFTER), AFTER + 0.5]),
    st.text(max_size=6),
    st.sampled_from(["", "3600", "1704067200000", " 60 ", "1e3", "0.5", "true", "scorer_id"]),
)
items = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", "*", "wandb.*", "agent_turn", "agent_conversation", "span_status_code"]),
    st.sampled_from(["scorer_id", "span_agent_name", "span_agent_version", "UNSET"]),
    st.integers(),
    st.none(),
    st.booleans(),
)
values = st.one_of(
    scalars, st.lists(items, max_size=80), st.dictionaries(st.text(max_size=3), scalars, max_size=2)
)
FIELDS = [
    "project_id", "after_ms", "before_ms", "time_bucket_seconds", "feedback_types", "tags",
    "rating_min", "rating_max", "monitor_ids", "scorer_ids", "span_agent_names", "span_types",
    "group_by",
]  # fmt: skip
GOOD = {"project_id": "team/alpha", "after_ms": AFTER, "before_ms": AFTER + DAY_MS}
bodies = st.builds(
    lambda base, changed, unknown: {**base, **changed, **unknown},
    st.sampled_from([GOOD, {}, {"project_id": "p"}]),
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=5),
    st.dictionaries(st.sampled_from(["colour", "wb_user_id", "limit", "id"]), values, max_size=2),
)


def tally_reading(body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return parse(body, Limits()).model_dump()
    except TallyError:
        return None


def weave_reading(body: dict[str, Any]) -> dict[str, Any] | None:
    tsi = weave_module("weave.shared.trace_server_interface")
    try:
        return tsi.FeedbackAggregateReq.model_validate(body).model_dump()
    except ValidationError:
        return None


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies)
def test_tally_reads_every_body_as_weave_does(body: dict[str, Any]) -> None:
    assert tally_reading(body) == weave_reading(body)


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD, "after_ms": "1714521600000", "time_bucket_seconds": "3600"},
        {**GOOD, "after_ms": 1.7145216e12, "before_ms": float(AFTER + DAY_MS)},
        {**GOOD, "unknown": {"nested": [1, 2]}},
        {**GOOD, "project_id": "", "tags": ["x" * 1000] * 100},
        {**GOOD, "group_by": ["scorer_id", "scorer_id"]},
        {**GOOD, "before_ms": 2**53 - 1},
    ],
    ids=["numeric strings", "whole floats", "unknown field", "no limits", "repeat", "far future"],
)
def test_the_issues_examples_are_read_as_weave_reads_them(body: dict[str, Any]) -> None:
    weave = weave_reading(body)
    assert weave is not None
    assert tally_reading(body) == weave
