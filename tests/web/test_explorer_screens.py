"""How the explorer looks and what it costs: screenshots (a time series and bars, light and dark,
and a phone) written to docs/screenshots/ for reviewers, the themes following the system
setting, no sideways scrolling on a phone, a label on every control, keyboard use, and the
bytes a first load transfers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from playwright.sync_api import Page, Request, expect

from tests.web.browser_support import offline_page
from tests.web.explorer_support import SCREENSHOTS, Server, explorer, seeded_server, sign_in

WINDOW = {"start": "2026-01-01T00:00:00+01:00", "end": "2026-01-15T00:00:00+01:00"}
DAILY = {
    "dataset": "agent_events",
    "time": {"start": "2026-01-08T00:00:00+01:00", "end": "2026-01-15T00:00:00+01:00"},
    "timezone": "Europe/Paris",
    "measures": [{"op": "sum", "field": "amount", "as": "revenue"}, {"op": "count"}],
    "group_by": ["event_type", {"time": "1 day"}],
    "fill": "zero",
    "compare": "previous_period",
}
BARS = {
    "dataset": "agent_events",
    "time": WINDOW,
    "measures": [{"op": "count"}, {"op": "p95", "field": "duration_ms"}],
    "group_by": ["event_type", "brand_id"],
}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BUDGET = 150_000
# The body's background as a luminance in [0, 1].
LUMINANCE = """() => {
  const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}"""
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 80))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with seeded_server(Path(tmp_path_factory.mktemp("screens")) / "data") as running:
        yield running


def show(page: Page, server: Server, query: dict) -> None:
    page.goto(f"{server.base}/?q={quote(json.dumps(query))}")
    expect(page.locator("#rows table")).to_be_visible()
    expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_in_the_systems_theme(server: Server, scheme: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with explorer(server, viewport=DESKTOP, color_scheme=scheme) as browser:
        page = browser.page
        show(page, server, DAILY)
        expect(page.locator("#chart path.series.current")).to_have_count(3)
        expect(page.locator("#chart path.series.previous")).to_have_count(3)
        box = page.locator("#chart svg").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 60)
        expect(page.locator("#chart .tip")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / f"explorer-timeseries-{scheme}.png", full_page=True)
        luminance = page.evaluate(LUMINANCE)
        assert luminance > 0.8 if scheme == "light" else luminance < 0.2
        show(page, server, BARS)
        expect(page.locator("#chart rect.bar")).to_have_count(6)
        page.screenshot(path=SCREENSHOTS / f"explorer-bars-{scheme}.png", full_page=True)
        assert browser.blocked == []


def test_a_phone_width_never_scrolls_sideways(server: Server) -> None:
    with explorer(server, viewport=PHONE, is_mobile=True, has_touch=True) as browser:
        page = browser.page
        show(page, server, DAILY)
        overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0
        page.screenshot(path=SCREENSHOTS / "explorer-phone-light.png", full_page=True)


def test_every_control_is_labelled_and_the_keyboard_reaches_everything(server: Server) -> None:
    with offline_page(server.base, viewport=DESKTOP) as browser:
        page = browser.page
        page.goto(f"{server.base}/?q={quote(json.dumps(DAILY))}")
        expect(page.get_by_label("API key")).to_be_focused()
        assert page.evaluate(UNLABELLED) == []
        page.keyboard.type(server.admin)
        page.keyboard.press("Enter")
        expect(page.locator("#rows table")).to_be_visible()
        assert page.evaluate(UNLABELLED) == []
        page.get_by_role("tab", name="Ask a question").focus()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_role("tab", name="External formats")).to_have_attribute(
            "aria-selected", "true"
        )
        expect(page.locator("#examples [data-profile]").first).to_be_visible()
        assert page.evaluate(UNLABELLED) == []
        page.keyboard.press("ArrowLeft")
        page.locator("#chart svg").focus()
        page.keyboard.press("ArrowRight")
        expect(page.locator("#chart .tip")).to_contain_text("2026-01-08T00:00:00+01:00")


def test_a_first_load_transfers_less_than_150_kb(server: Server) -> None:
    loaded: dict[str, int] = {}

    def count(request: Request) -> None:
        path = urlparse(request.url).path
        if not path.startswith("/v1/"):
            sizes = request.sizes()
            loaded[path] = sizes["responseHeadersSize"] + sizes["responseBodySize"]

    with offline_page(server.base) as browser:
        browser.page.on("requestfinished", count)
        browser.page.goto(f"{server.base}/?q={quote(json.dumps(DAILY))}")
        sign_in(browser.page, server.admin)
        expect(browser.page.locator("#rows table")).to_be_visible()
    shipped = {f"/web/{item.name}" for item in files("tally").joinpath("web").iterdir()}
    assert set(loaded) == {"/"} | (shipped - {"/web/index.html"})
    assert sum(loaded.values()) < BUDGET, loaded
