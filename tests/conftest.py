"""Shared fixtures: a real service on a temporary DuckDB file, real API keys, a test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.auth.keys import KeyStore
from tally.config import Settings
from tally.wiring import build_service
from tests.helpers import bearer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets")


@pytest.fixture
def service(settings: Settings):
    svc = build_service(settings)
    yield svc
    svc.engine.close()


@pytest.fixture
def app(settings: Settings, service):
    return create_app(settings, service)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def keys(app) -> KeyStore:
    return app.state.keys


@pytest.fixture
def admin_headers(keys: KeyStore) -> dict[str, str]:
    """An admin of every tenant."""
    _, token = keys.create("admin", {}, all_tenants=True, name="test-admin")
    return bearer(token)
