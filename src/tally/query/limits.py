"""Every limit a query is held to, in one place, so each is explicit and configurable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_rows: int = 10_000
    default_limit: int = 1_000
    max_buckets: int = 10_000
    max_window_days: int = 3_660
    max_measures: int = 32
    max_groups: int = 8
    max_filter_depth: int = 12
    max_filter_leaves: int = 256
