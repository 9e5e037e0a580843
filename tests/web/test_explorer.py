"""The explorer in a real Chromium against a real server: sign in, build a question with the
controls, compare what the page shows with the API's own answer, share it by URL, and see the
server's refusals where they belong. Every request to another origin is blocked and recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.web.browser_support import offline_page
from tests.web.explorer_support import (
    EVENT_TYPES,
    Server,
    explorer,
    seeded_server,
    sign_in,
)

ASKED = {
    "dataset": "agent_events",
    "time": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-15T00:00:00+00:00"},
    "timezone": "UTC",
    "filter": {"field": "brand_id", "op": "eq", "value": "br_main"},
    "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
    "group_by": ["event_type", {"time": "1 day"}],
}
TABLE_ROWS = """table => {
  const heads = [...table.querySelectorAll('thead th')].map(th => th.textContent);
  return [...table.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
    [...tr.children].map((td, i) => [heads[i], JSON.parse(td.dataset.value)])));
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with seeded_server(Path(tmp_path_factory.mktemp("explorer")) / "data") as running:
        yield running


def run(page: Page) -> None:
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")


def asked(page: Page) -> dict:
    return json.loads(parse_qs(urlparse(page.url).query)["q"][0])


def table(page: Page) -> list[dict]:
    return page.eval_on_selector("#rows table", TABLE_ROWS)


def series(page: Page) -> list[str]:
    paths = page.locator("#chart path.series.current")
    return sorted(paths.nth(i).get_attribute("data-series") for i in range(paths.count()))


def build_daily_question(page: Page) -> None:
    """The grouped, filtered, daily question of ASKED, through the controls only."""
    page.get_by_label("Dataset").select_option("agent_events")
    page.get_by_role("button", name="+ Add measure").click()
    second = page.locator("#measure-rows li").nth(1)
    second.get_by_label("Measure field", exact=True).select_option("amount")
    second.get_by_label("Measure", exact=True).select_option("sum")
    page.get_by_role("button", name="+ Add group").click()
    group = page.locator("#group-rows li").first
    group.get_by_label("Group by field", exact=True).select_option("event_type")
    page.get_by_label("Time bucket").select_option("1 day")
    page.get_by_label("Filter field", exact=True).select_option("brand_id")
    page.get_by_label("Filter operator").select_option("eq")
    page.get_by_label("Filter value").fill("br_main")
    page.get_by_role("button", name="+ Add filter").click()
    page.get_by_label("Between").check()
    page.get_by_label("From", exact=True).fill("2026-01-01T00:00")
    page.get_by_label("to", exact=True).fill("2026-01-15T00:00")


def test_a_question_built_with_the_controls_shows_the_apis_answer(server: Server) -> None:
    with explorer(server) as browser:
        page = browser.page
        build_daily_question(page)
        run(page)
        assert asked(page) == ASKED
        expected = server.query(ASKED)["rows"]
        assert {r["event_type"] for r in expected} == set(EVENT_TYPES)
        assert series(page) == sorted(EVENT_TYPES)
        assert table(page) == expected
        assert page.locator("#chips .chip").all_text_contents() == ["brand_id = br_main×"]
        facts = page.locator("#facts [data-fact=exact]").text_content()
        assert facts == "Exactcount exact · sum_amount exact"
        assert server.admin not in page.url
        assert browser.blocked == []


def test_the_url_reproduces_the_page_and_history_moves_between_questions(server: Server) -> None:
    with explorer(server) as browser:
        page = browser.page
        build_daily_question(page)
        run(page)
        daily_url, daily_rows = page.url, table(page)
        page.reload()
        expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")
        expect(page.locator("#rows table")).to_be_visible()
        assert page.url == daily_url
        assert table(page) == daily_rows
        assert series(page) == sorted(EVENT_TYPES)
        assert page.get_by_label("Time bucket").input_value() == "1 day"
        assert page.locator("#chips .chip").count() == 1

        page.get_by_label("Time bucket").select_option("1 week")
        run(page)
        weekly = asked(page)
        assert weekly["group_by"][-1] == {"time": "1 week"}
        assert table(page) == server.query(weekly)["rows"]

        page.go_back()
        expect(page.get_by_label("Time bucket")).to_have_value("1 day")
        expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")
        assert page.url == daily_url and table(page) == daily_rows
        page.go_forward()
        expect(page.get_by_label("Time bucket")).to_have_value("1 week")


def test_a_refused_question_shows_the_error_and_its_path_by_the_field(server: Server) -> None:
    with explorer(server) as browser:
        page = browser.page
        page.get_by_label("Between").check()
        page.get_by_label("From", exact=True).fill("2026-01-01T00:00")
        page.get_by_label("to", exact=True).fill("2026-01-15T00:00")
        page.get_by_label("Time bucket").select_option("1 minute")
        run(page)
        refused = httpx.post(
            f"{server.base}/v1/query", json=asked(page), headers=bearer(server.admin)
        ).json()["error"]
        (detail,) = refused["details"]
        assert detail["path"] == "/group_by/0/time"
        near = page.locator("#bucket-field .field-error")
        expect(near).to_have_text(f"{detail['reason']} (at {detail['path']})")
        expect(page.locator("#form-error")).to_have_text(refused["message"])
        assert page.get_by_label("Time bucket").get_attribute("aria-invalid") == "true"


def test_a_wrong_key_shows_the_401_message(server: Server) -> None:
    wrong = "tly_wrong_key"
    message = httpx.get(f"{server.base}/v1/datasets", headers=bearer(wrong)).json()["error"]
    with offline_page(server.base) as browser:
        page = browser.page
        page.goto(f"{server.base}/")
        page.get_by_label("API key").fill(wrong)
        page.get_by_label("API key").press("Enter")
        expect(page.locator("#signin-error")).to_have_text(message["message"])
        expect(page.locator("#builder")).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('tally.key')") is None


def test_a_key_revoked_mid_session_shows_the_sign_in_again(server: Server) -> None:
    store = KeyStore(server.data_dir / "keys.sqlite")
    key_id, token = store.create("viewer", {}, all_tenants=True, name="revoked-later")
    with offline_page(server.base) as browser:
        page = browser.page
        page.goto(f"{server.base}/")
        sign_in(page, token)
        assert page.evaluate("sessionStorage.getItem('tally.key')") == token
        assert store.revoke(key_id)
        store.close()
        page.get_by_role("button", name="Run").click()
        expect(page.get_by_label("API key")).to_be_visible()
        expect(page.locator("#signin-error")).to_contain_text("not valid")
        assert page.evaluate("sessionStorage.getItem('tally.key')") is None
        sign_in(page, server.admin)


def test_a_json_key_a_percentile_and_top_n_through_the_controls(server: Server) -> None:
    with explorer(server) as browser:
        page = browser.page
        page.get_by_label("Between").check()
        page.get_by_label("From", exact=True).fill("2026-01-01T00:00")
        page.get_by_label("to", exact=True).fill("2026-01-15T00:00")
        first = page.locator("#measure-rows li").first
        first.get_by_label("Measure field", exact=True).select_option("duration_ms")
        first.get_by_label("Measure", exact=True).select_option("percentile")
        first.get_by_label("q", exact=True).fill("0.9")
        page.get_by_role("button", name="+ Add group").click()
        group = page.locator("#group-rows li").first
        group.get_by_label("Group by field", exact=True).select_option("metadata.*")
        group.get_by_label("Group by field: key of metadata").fill("channel")
        page.get_by_label("Top", exact=True).check()
        page.get_by_label("Number of groups to keep").fill("2")
        run(page)
        question = asked(page)
        assert question["measures"] == [{"op": "percentile", "field": "duration_ms", "q": 0.9}]
        assert question["group_by"] == ["metadata.channel"]
        assert question["top"] == {"n": 2, "other": True}
        expected = server.query(question)["rows"]
        assert [r["metadata.channel"] for r in expected][-1] == "__other__"
        assert table(page) == expected
        bars = page.locator("#chart rect.bar")
        labels = [bars.nth(i).get_attribute("data-series") for i in range(bars.count())]
        assert labels == [r["metadata.channel"] for r in expected[:-1]] + ["other"]


def test_a_money_filter_is_sent_as_its_digits(server: Server) -> None:
    """A decimal field's value goes as the typed text, which the server reads exactly; a
    value that is not a number is refused in the editor."""
    with explorer(server) as browser:
        page = browser.page
        page.get_by_label("Dataset").select_option("agent_events")
        page.get_by_label("Filter field", exact=True).select_option("amount")
        page.get_by_label("Filter operator").select_option("gte")
        page.get_by_label("Filter value").fill("30.10")
        page.get_by_role("button", name="+ Add filter").click()
        page.get_by_label("Between").check()
        page.get_by_label("From", exact=True).fill("2026-01-01T00:00")
        page.get_by_label("to", exact=True).fill("2026-01-15T00:00")
        run(page)
        body = asked(page)
        assert body["filter"] == {"field": "amount", "op": "gte", "value": "30.10"}
        assert table(page) == server.query(body)["rows"]
        assert browser.blocked == []
