"""Every limit a query is held to, in one place, so each is explicit and configurable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# Every instant a query names (window, compare range, bucket origin) lies in this range: the
# one every engine stores (ClickHouse's DateTime64 is the narrowest), far from the years where
# calendar arithmetic (a previous year, the next bucket) leaves what Python can represent.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2300, 1, 1, tzinfo=UTC)


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
    max_offset: int = 1_000_000
