"""`/docs` and `/redoc` render with no network but Tally itself, listing every route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server_support import running_server
from tests.web.browser_support import offline_page


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(Path(tmp_path_factory.mktemp("docs")) / "data") as url:
        yield url


def test_swagger_ui_lists_every_route_offline(base: str) -> None:
    document = httpx.get(f"{base}/openapi.json").json()
    operations = [
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    ]
    assert len(operations) >= 18
    with offline_page(base) as browser:
        browser.page.goto(f"{base}/docs")
        browser.page.wait_for_selector(".opblock", timeout=20_000)
        shown = browser.page.eval_on_selector_all(
            ".opblock-summary",
            "nodes => nodes.map(n => [n.querySelector('.opblock-summary-method').textContent,"
            " n.querySelector('.opblock-summary-path').getAttribute('data-path')])",
        )
        assert browser.blocked == []
    assert sorted(tuple(s) for s in shown) == sorted(operations)


def test_redoc_lists_every_operation_offline(base: str) -> None:
    document = httpx.get(f"{base}/openapi.json").json()
    summaries = [op["summary"] for methods in document["paths"].values() for op in methods.values()]
    with offline_page(base) as browser:
        browser.page.goto(f"{base}/redoc")
        browser.page.wait_for_selector(
            'text="Answer an aggregate question"', state="attached", timeout=20_000
        )
        text = browser.page.text_content("body") or ""
        # Redoc's bundle asks cdn.redoc.ly for its "powered by" logo; everything it needs to
        # work is served by Tally.
        assert browser.needed() == []
    missing = [s for s in summaries if s not in text]
    assert missing == []
