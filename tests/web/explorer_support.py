"""A real server with a small deterministic data set, and a browser on the explorer.

The rows are ingested through the real API, so the explorer's answers can be compared with the
API's own answer to the same query.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.server_support import running_server
from tests.web.browser_support import Offline, offline_page

EVENT_TYPES = ("purchase", "add_to_cart", "page_view")
BRANDS = ("br_main", "br_side")
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 14
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass(frozen=True)
class Server:
    base: str
    admin: str
    data_dir: Path

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        """The API's own answer to `body`."""
        response = httpx.post(f"{self.base}/v1/query", json=body, headers=bearer(self.admin))
        response.raise_for_status()
        return response.json()


def seed_rows() -> list[dict[str, Any]]:
    """Two weeks of events: each day, type and brand get a count and amounts that vary with all
    three, so every group and bucket has its own numbers."""
    rows = []
    for day in range(DAYS):
        for t, event_type in enumerate(EVENT_TYPES):
            for b, brand in enumerate(BRANDS):
                for n in range(1 + (day + t + b) % 4):
                    at = START + timedelta(days=day, hours=2 + 3 * n + t, minutes=7 * b)
                    rows.append(
                        {
                            "workspace_id": "ws_demo",
                            "brand_id": brand,
                            "event_id": f"e_{day}_{t}_{b}_{n}",
                            "event_type": event_type,
                            "ts": at.isoformat().replace("+00:00", "Z"),
                            "session_id": f"s_{(day * 7 + n) % 11}",
                            "amount": round(5 + 3.5 * t + 1.25 * n + day * (1 + b), 2),
                            "duration_ms": 100 + 37 * ((day + n * t) % 9),
                            "metadata": {"channel": ("email", "web", "ads")[(day + n) % 3]},
                        }
                    )
    return rows


@contextmanager
def seeded_server(data_dir: Path) -> Iterator[Server]:
    with running_server(data_dir) as base:
        store = KeyStore(data_dir / "keys.sqlite")
        _, admin = store.create("admin", {}, all_tenants=True, name="explorer-test")
        store.close()
        stored = httpx.post(
            f"{base}/v1/datasets/agent_events/rows", json=seed_rows(), headers=bearer(admin)
        )
        assert stored.status_code == 200, stored.text
        yield Server(base, admin, data_dir)


@contextmanager
def explorer(server: Server, **context: Any) -> Iterator[Offline]:
    """A page on the explorer, signed in with the admin key."""
    with offline_page(server.base, **context) as browser:
        browser.page.goto(f"{server.base}/")
        sign_in(browser.page, server.admin)
        yield browser


def sign_in(page: Page, token: str) -> None:
    """Sign in and wait for the first answer: the form shows in the same step that starts the
    first question, so a settled answer means nothing is still in flight."""
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#builder")).to_be_visible()
    expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")
