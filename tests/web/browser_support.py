"""Headless Chromium (Debian's, driven by Playwright) that can reach only the server under test.

Playwright's own browser download does not work here, so the system browser is used; every
request to any other origin is aborted and recorded with its resource type (script, stylesheet,
font, image, fetch...), so a test can tell a page that needs the network from one that merely
asks for a decoration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Offline:
    page: Page
    blocked: list[tuple[str, str]] = field(default_factory=list)

    def needed(self) -> list[str]:
        """Blocked requests for what a page needs to work: code, styles, fonts, data."""
        return [url for url, kind in self.blocked if kind != "image"]


@contextmanager
def offline_page(allowed_origin: str, **context: Any) -> Iterator[Offline]:
    """`context`: Playwright's context options (viewport, color_scheme...)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(**context)
            page = context.new_page()
            found = Offline(page)

            def guard(route: Route) -> None:
                if route.request.url.startswith(allowed_origin):
                    route.continue_()
                else:
                    found.blocked.append((route.request.url, route.request.resource_type))
                    route.abort()

            context.route("**/*", guard)
            yield found
        finally:
            browser.close()
