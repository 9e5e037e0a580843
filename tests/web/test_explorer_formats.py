"""The explorer's "External formats" tab: every profile's worked request, sent as shown or as
edited, to that profile's own endpoint, with the raw answer shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tally.profiles import all_profiles
from tests.helpers import bearer
from tests.web.explorer_support import Server, explorer, seeded_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with seeded_server(Path(tmp_path_factory.mktemp("formats")) / "data") as running:
        yield running


def test_each_profile_example_is_sent_to_its_endpoint(server: Server) -> None:
    with explorer(server) as browser:
        page = browser.page
        page.get_by_role("tab", name="External formats").click()
        cards = page.locator("#examples [data-profile]")
        expect(cards).to_have_count(len(all_profiles()))
        names = [cards.nth(i).get_attribute("data-profile") for i in range(cards.count())]
        assert names == [p.name for p in all_profiles()]
        for profile in all_profiles():
            card = page.locator(f'[data-profile="{profile.name}"]')
            card.get_by_role("button", name=f"Send to {profile.name}").click()
            expect(card.locator(".answer-status")).to_contain_text("HTTP 200")
            shown = json.loads(card.locator("pre.raw").text_content() or "")
            assert isinstance(shown, dict) and shown, profile.name
        assert browser.blocked == []


def test_an_edited_example_gets_that_profiles_own_answer(server: Server) -> None:
    """records_statistics with an unknown root: the page shows exactly what the API answers."""
    with explorer(server) as browser:
        page = browser.page
        page.get_by_role("tab", name="External formats").click()
        card = page.locator('[data-profile="records_statistics"]')
        body_box = card.get_by_label("Body (JSON)")
        body = json.loads(body_box.input_value())
        body["root"] = "no_such_root"
        body_box.fill(json.dumps(body))
        path = card.get_by_label("Path").input_value()
        headers = json.loads(card.get_by_label("Headers (JSON)").input_value())
        card.get_by_role("button", name="Send to records_statistics").click()
        direct = httpx.post(
            f"{server.base}{path}", json=body, headers={**headers, **bearer(server.admin)}
        )
        assert direct.status_code >= 400
        expect(card.locator(".answer-status")).to_contain_text(f"HTTP {direct.status_code}")
        shown = json.loads(card.locator("pre.raw").text_content() or "")
        assert _without_trace(shown) == _without_trace(direct.json())


def _without_trace(value):
    """Error bodies carry a per-request trace id; everything else must match."""
    if isinstance(value, dict):
        return {k: _without_trace(v) for k, v in value.items() if "trace" not in k.lower()}
    if isinstance(value, list):
        return [_without_trace(v) for v in value]
    return value
