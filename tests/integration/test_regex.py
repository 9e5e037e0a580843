"""The `regex` filter: a search with the common core of RE2 and PostgreSQL's expressions,
checked against Python's `re` over the same rows; patterns outside the core are a 400 at their
path (the engines would read them differently). Every engine gives the same answers:
tests/equivalence runs the regex cases on DuckDB, PostgreSQL and ClickHouse."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tally.query.patterns import check_regex
from tests.helpers import LiveApp, live_app

TYPES = [
    "page_view", "purchase", "Purchase_Refund", "search", "chat_message", "add_to_cart",
    "two\nlines",
]  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    with live_app(tmp_path_factory.mktemp("regex")) as app:
        rows = [
            {"workspace_id": "ws_a", "brand_id": "br", "event_id": f"e{i}", "event_type": t,
             "ts": "2026-01-01T00:00:00Z"}
            for i, t in enumerate(TYPES)
        ]  # fmt: skip
        assert app.client.post(
            "/v1/datasets/agent_events/rows", json=rows, headers=app.admin
        ).json()["accepted"] == len(rows)
        yield app


def matching(live: LiveApp, pattern: str, case_insensitive: bool = False) -> list[str]:
    condition = {"field": "event_type", "op": "regex", "value": pattern}
    body = {
        "dataset": "agent_events",
        "filter": {**condition, "case_insensitive": case_insensitive},
        "group_by": ["event_type"],
        "order_by": [{"field": "event_type"}],
    }
    response = live.client.post("/v1/query", json=body, headers=live.admin)
    assert response.status_code == 200, response.text
    return [row["event_type"] for row in response.json()["rows"]]


@pytest.mark.parametrize(
    "pattern,flags",
    [
        ("^p", 0),
        ("purchase", 0),
        ("purchase", re.IGNORECASE),
        ("_(view|cart)$", 0),
        ("^[a-z]+_[a-z]+$", 0),
        ("\\w+_\\w+_\\w+", 0),
        ("a.{2,3}h", 0),
        ("^(?:chat|search)", 0),
        ("REFUND", re.IGNORECASE),
        ("two.lines", re.DOTALL),
        ("^two.LINES$", re.DOTALL | re.IGNORECASE),
    ],
)
def test_a_regex_matches_what_a_search_matches(live: LiveApp, pattern: str, flags: int) -> None:
    expected = sorted(t for t in TYPES if re.search(pattern, t, flags | re.DOTALL))
    got = matching(live, pattern, case_insensitive=bool(flags & re.IGNORECASE))
    assert got == expected and got


@pytest.mark.parametrize(
    "pattern",
    [
        "\\bword",
        "(a)\\1",
        "(?=x)",
        "(?<!x)y",
        "(?P<n>x)",
        "(?i)x",
        "a++",
        "\\Ax",
        "[",
        "x\\",
        "[[:foo:]]",
        "[[:<:]]a",
        "[[.a.]]",
        "[[=a=]]",
        "a{256}",
        "a{1,1001}",
        "[\\W]",
    ],
)
def test_a_pattern_outside_the_common_core_is_a_400_at_its_value(
    live: LiveApp, pattern: str
) -> None:
    body = {
        "dataset": "agent_events",
        "filter": {"field": "event_type", "op": "regex", "value": pattern},
    }
    response = live.client.post("/v1/query", json=body, headers=live.admin)
    assert response.status_code == 400, response.text
    assert [d["path"] for d in response.json()["error"]["details"]] == ["/filter/value"]


@pytest.mark.parametrize(
    "pattern,spelled",
    [
        ("\\d{3}", "[0-9]{3}"),
        ("^\\w+$", "^[0-9A-Za-z_]+$"),
        ("[[:alpha:]_]+\\S", "[A-Za-z_]+[^ \\t\\n\\r\\f\\v]"),
        ("[]a]", "[\\]a]"),
    ],
)
def test_class_escapes_become_the_ascii_ranges_every_engine_reads_alike(
    pattern: str, spelled: str
) -> None:
    """RE2's classes are ASCII and PostgreSQL's follow Unicode (`\\w` matches `é` there only):
    a pattern is bound with the ranges spelled out, so every engine reads the same thing."""
    assert check_regex(pattern) == spelled
