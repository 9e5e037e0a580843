"""The small event dataset the rollup unit tests declare rollups over: tenant, id and time
columns, then each test's own columns and rollups."""

from __future__ import annotations

from typing import Any

from tally.catalog.model import Dataset


def events(
    columns: dict[str, str], rollups: list[dict[str, Any]] | None = None, **more: Any
) -> Dataset:
    """Dataset `ev` with tenant, id and ts, then `columns` (name -> type)."""
    head = {"tenant": "string", "id": "string", "ts": "timestamp"}
    return Dataset.model_validate(
        {
            "name": "ev",
            "tenant_columns": ["tenant"],
            "time_column": "ts",
            "columns": [{"name": n, "type": t} for n, t in {**head, **columns}.items()],
            "rollups": rollups or [],
            **more,
        }
    )
