"""Helpers of the access tests: apps built from settings overrides, rows, counts over HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.config import Settings
from tally.wiring import build_service

TS = "2026-11-01T10:00:00Z"
WINDOW = {"start": "2026-10-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}


@contextmanager
def open_client(data_dir: Path, **overrides: Any) -> Iterator[TestClient]:
    """A real app on its own DuckDB file, with settings overridden as a deployment would."""
    settings = Settings.from_env(data_dir=data_dir, datasets_dir=data_dir / "datasets", **overrides)
    app = create_app(settings, build_service(settings))
    with TestClient(app) as client:
        yield client


def event(i: int, ws: str = "ws_a", brand: str = "br_1", **fields: Any) -> dict[str, Any]:
    row = {
        "workspace_id": ws,
        "brand_id": brand,
        "event_id": f"evt_{i}",
        "event_type": "purchase",
        "ts": TS,
        "amount": 10.0,
    }
    return {**row, **fields}


def ingest(client: TestClient, headers: dict[str, str], rows: list[dict], dataset: str) -> None:
    response = client.post(f"/v1/datasets/{dataset}/rows", json=rows, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(rows), response.text


def count(client: TestClient, headers: dict[str, str], dataset: str, **extra: Any) -> int:
    """The total count of a dataset as the token sees it (one row, no groups)."""
    body = {"dataset": dataset, "measures": [{"op": "count"}], **extra}
    response = client.post("/v1/query", json=body, headers=headers)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    return rows[0]["count"] if rows else 0


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
