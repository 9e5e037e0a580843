"""A report's answer as the API's envelope: `{"data": ...}`, or the segment warning.

A segment that is unknown or not materialized is not an error for this API: dashboards get
`{"data": [], "warning": "segment <id> not found or not materialized"}` and show a notice.
"""

from __future__ import annotations

from typing import Any


def envelope(data: Any) -> dict[str, Any]:
    return {"data": data}


def warning(message: str) -> dict[str, Any]:
    return {"data": [], "warning": message}
