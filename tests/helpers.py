"""Small helpers the test modules share."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.auth.keys import KeyStore
from tally.config import Settings
from tally.service import Service
from tally.wiring import build_service


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(token: str, user: str = "api") -> dict[str, str]:
    """The token as the password of HTTP Basic, as W&B's SDKs send their API key."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


@dataclass
class LiveApp:
    client: TestClient
    admin: dict[str, str]
    keys: KeyStore
    service: Service


@contextmanager
def live_app(
    root: Path, clock: Callable[[], datetime] | None = None, **overrides: Any
) -> Iterator[LiveApp]:
    """A real service on a fresh DuckDB file under `root`, its app, and an all-tenant admin."""
    overrides.setdefault("datasets_dir", root / "datasets")
    settings = Settings.from_env(data_dir=root / "data", **overrides)
    service = build_service(settings)
    if clock is not None:
        service.clock = clock
    app = create_app(settings, service)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True, name="test-admin")
        yield LiveApp(client, bearer(token), app.state.keys, service)
    service.engine.close()
