"""Well-formed hostile questions are refused with a 400 and a path, never a 500 or a wrong 200:
instants at the ends of the calendar, buckets wider than any window, offsets beyond int64,
timezones an engine does not know; and `total_groups` is the real number of groups."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import LiveApp, live_app

DAY = [{"time": "1 day"}]
CASES = {
    "a window in year 9999 with fill": (
        {"time": {"start": "9999-12-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"},
         "group_by": DAY, "fill": "zero"},
        "/time/start",
    ),
    "a year-1 window with compare": (
        {"time": {"start": "0001-01-01T00:00:00Z", "end": "0001-02-01T00:00:00Z"},
         "compare": "previous_year"},
        "/time/start",
    ),
    "a year-1 window with the previous period": (
        {"time": {"start": "0001-01-01T00:00:00Z", "end": "0001-01-02T00:00:00Z"},
         "compare": "previous_period", "group_by": DAY},
        "/time/start",
    ),
    "a compare range before 1900": (
        {"time": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
         "compare": {"start": "1800-01-01T00:00:00Z", "end": "1800-01-02T00:00:00Z"}},
        "/compare/start",
    ),
    "an origin in year 1": (
        {"time": {"last": "30d"},
         "group_by": [{"time": "1 week", "origin": "0001-01-01T00:00:00Z"}]},
        "/group_by/0/origin",
    ),
    "999999999 day buckets": ({"time": {"last": "30d"}, "group_by": [{"time": "999999999 day"}]},
                              "/group_by/0/time"),
    "100000 month buckets": ({"time": {"last": "30d"}, "group_by": [{"time": "100000 month"}]},
                             "/group_by/0/time"),
    "9999999999 second buckets": (
        {"time": {"last": "30d"}, "group_by": [{"time": "9999999999 second"}]}, "/group_by/0/time",
    ),
    "11 years in one bucket": ({"time": {"last": "30d"}, "group_by": [{"time": "132 months"}]},
                               "/group_by/0/time"),
    "the localtime zone": ({"time": {"last": "1d"}, "timezone": "localtime"}, "/timezone"),
    "the posixrules zone": ({"timezone": "posixrules"}, "/timezone"),
    "an offset above 2^63": ({"offset": 2**63}, "/offset"),
    "a JSON key in a list of text and numbers": (
        {"filter": {"field": "metadata.channel", "op": "in", "value": ["web", 5]}}, "/filter/value",
    ),
    "a JSON key not in a list of numbers and text": (
        {"filter": {"field": "metadata.channel", "op": "nin", "value": [5, "web"]}},
        "/filter/value",
    ),
    "a JSON key between a number and text": (
        {"filter": {"field": "metadata.channel", "op": "between", "value": [1, "z"]}},
        "/filter/value",
    ),
    "an offset above the limit": ({"offset": 1_000_001}, "/offset"),
}  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    with live_app(tmp_path_factory.mktemp("bounds")) as app:
        rows = [
            {"workspace_id": "ws_a", "brand_id": "br", "event_id": f"e{i}",
             "event_type": f"type_{i:02d}", "ts": "2026-01-01T00:00:00Z",
             "metadata": {"channel": "web"}}
            for i in range(13)
        ]  # fmt: skip
        stored = app.client.post("/v1/datasets/agent_events/rows", json=rows, headers=app.admin)
        assert stored.json()["accepted"] == 13
        yield app


def ask(live: LiveApp, **parts):
    return live.client.post(
        "/v1/query", json={"dataset": "agent_events", **parts}, headers=live.admin
    )


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_question_is_a_400_at_its_field(live: LiveApp, name: str) -> None:
    body, path = CASES[name]
    response = ask(live, **body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert path in [d["path"] for d in error["details"]], error


@pytest.mark.parametrize(
    "body",
    [
        {
            "time": {"start": "1900-01-01T00:00:00Z", "end": "1900-02-01T00:00:00Z"},
            "group_by": DAY,
            "fill": "zero",
        },
        {
            "time": {"start": "2299-12-01T00:00:00Z", "end": "2300-01-01T00:00:00Z"},
            "group_by": [{"time": "1 month"}],
            "fill": "null",
            "compare": "previous_year",
        },
        {"time": {"last": "30d"}, "group_by": [{"time": "120 months"}]},
        {"time": {"last": "1d"}, "timezone": "Asia/Kathmandu", "group_by": [{"time": "1 hour"}]},
        {"offset": 1_000_000},
        {
            "time": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
            "group_by": [{"time": "9999999999 seconds"}],
            "fill": "zero",
        },
    ],
    ids=[
        "1900",
        "2299 to 2300",
        "ten-year buckets",
        "kathmandu",
        "the largest offset",
        "a 317-year fixed bucket over an absolute window",
    ],
)
def test_their_neighbours_inside_the_bounds_are_answered(live: LiveApp, body: dict) -> None:
    response = ask(live, **body)
    assert response.status_code == 200, response.text


def test_total_groups_is_the_real_number_when_the_offset_passes_them_all(live: LiveApp) -> None:
    past = ask(live, group_by=["event_type"], offset=100)
    assert past.status_code == 200
    assert past.json()["rows"] == []
    assert past.json()["meta"]["total_groups"] == 13
    within = ask(live, group_by=["event_type"], offset=10, limit=2)
    assert [r["event_type"] for r in within.json()["rows"]] == ["type_10", "type_11"]
    assert within.json()["meta"]["total_groups"] == 13
