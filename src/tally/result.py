"""The answer to a query as profiles receive it: named rows and the facts about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    """Rows keyed by group field names, `time` (an aware datetime in the query's timezone) and
    measure labels; `meta` carries the native API's meta object."""

    rows: list[dict[str, Any]]
    groups: list[str]
    measures: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
