"""The Prefer header (RFC 7240) as `POST /v1/query` reads it."""

from __future__ import annotations

import pytest

from tally.api.prefer import Preferences, parse_prefer


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], Preferences(False, None)),
        (["respond-async"], Preferences(True, None)),
        (["respond-async, wait=10"], Preferences(True, 10.0)),
        (["wait=0.5", "Respond-Async"], Preferences(True, 0.5)),
        (['respond-async; foo=bar, wait="3"'], Preferences(True, 3.0)),
        (["respond-async, wait=2, wait=9"], Preferences(True, 2.0)),
        (["return=minimal"], Preferences(False, None)),
        # RFC 7240: a preference the server cannot read is ignored, not refused.
        (["respond-async, wait=soon"], Preferences(True, None)),
        (["respond-async, wait=-1"], Preferences(True, None)),
        (["respond-async, wait=inf"], Preferences(True, None)),
    ],
)
def test_prefer_is_read_per_rfc_7240(headers: list[str], expected: Preferences) -> None:
    assert parse_prefer(headers) == expected


def test_preference_applied_names_what_the_answer_honoured() -> None:
    both = Preferences(True, 0.25)
    assert both.applied(True) == "respond-async, wait=0.25"
    assert both.applied(False) == "wait=0.25"
    assert Preferences(True, None).applied(True) == "respond-async"
