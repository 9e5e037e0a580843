"""Engine rows -> named result rows, then the steps that need every bucket of a window.

Aggregation is done by the engine; what is left here is arithmetic on the aggregated rows:
naming columns, the `__other__` label, filling empty buckets, and joining a comparison period.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tally.catalog.vocabulary import ZERO_WHEN_EMPTY
from tally.engines.frame import Frame
from tally.query.model import CompareRange, Query, time_group
from tally.query.ordering import OTHER_KEY, TIME_KEY, order_keys, sort_rows
from tally.query.timebuckets import bucket_sequence, parse_interval
from tally.records import records
from tally.sql.compiled import Compiled, Role


def name_rows(
    compiled: Compiled, frame: Frame, tz: ZoneInfo
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rename internal aliases; return the rows and the totals the SQL counted.

    This costs Python work per result row, so the leading output columns (groups, bucket,
    measures; the totals come after them) are converted a column at a time and made into row
    dicts once: bucket starts, which repeat across groups, become datetimes once per distinct
    bucket.
    """
    roles = {c.alias: c.role for c in compiled.columns}
    renames = {c.alias: c.name for c in compiled.columns}
    if compiled.other_alias is not None:
        renames[compiled.other_alias] = OTHER_KEY
    aliases = [c for c in frame.columns if c in renames]
    keys = [renames[c] for c in aliases]

    def bucket_start(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz)

    convert = {i: bucket_start for i, c in enumerate(aliases) if roles.get(c) is Role.BUCKET}
    columns = frame.value_columns(len(keys), convert)
    for i, alias in enumerate(aliases):
        if alias == compiled.other_alias:
            columns[i] = [bool(v) for v in columns[i]]
        elif type(_first_value(columns[i])) is Decimal:
            # exact sums and decimal group keys as JSON numbers: the nearest double prints as
            # the decimal's digits (300244.8) for up to 15 significant digits
            columns[i] = [None if v is None else float(v) for v in columns[i]]
    rows = records(keys, columns, len(frame))
    if compiled.has_other:
        for row in rows:
            if row[OTHER_KEY]:
                row.update({name: OTHER_KEY for name in compiled.groups})
    totals = {
        "total_rows": _total(frame, compiled.total_rows_alias),
        "total_groups": _total(frame, compiled.total_groups_alias),
    }
    return rows, totals


def _total(frame: Frame, alias: str | None) -> int | None:
    """A count the statement adds to every row (None when it has no such column)."""
    return None if alias is None else frame.first(alias)


def _first_value(values: list[Any]) -> Any:
    """A column's first non-null value: an engine gives every value of a column one type."""
    return next((v for v in values if v is not None), None)


def _key(row: dict[str, Any], groups: list[str]) -> tuple:
    return tuple(row.get(g) for g in groups)


def _zero_filled(query: Query) -> set[str]:
    """The labels `fill: "zero"` sets to 0 in an empty bucket: counts and sums only."""
    if query.fill != "zero":
        return set()
    return {m.as_ or "" for m in query.measures if m.op in ZERO_WHEN_EMPTY}


def fill_buckets(query: Query, rows: list[dict[str, Any]], compiled: Compiled) -> list[dict]:
    """Every bucket of the window for every group key seen, then order, offset and limit."""
    group = time_group(query)
    assert group is not None and query.time is not None
    tz = ZoneInfo(query.timezone)
    iv = parse_interval(group.time)
    buckets = [
        b.astimezone(tz)
        for b in bucket_sequence(query.time.start, query.time.end, iv, tz, group.origin)
    ]
    empty = {m: 0 if m in _zero_filled(query) else None for m in compiled.measures}
    seen = {(_key(r, compiled.groups), r[TIME_KEY]) for r in rows}
    keys = list(dict.fromkeys(_key(r, compiled.groups) for r in rows)) or (
        [tuple(None for _ in compiled.groups)] if not compiled.groups else []
    )
    filled = list(rows)
    for key in keys:
        for bucket in buckets:
            if (key, bucket) not in seen:
                row = dict(zip(compiled.groups, key, strict=True))
                row[TIME_KEY] = bucket
                row.update(empty)
                if compiled.has_other:
                    row[OTHER_KEY] = key[0] == OTHER_KEY
                filled.append(row)
    ordered = sort_rows(filled, order_keys(query))
    return ordered[query.offset : query.offset + (query.limit or len(ordered))]


def bucket_index(query: Query, window: CompareRange) -> dict[datetime, int]:
    group = time_group(query)
    if group is None:
        return {}
    tz = ZoneInfo(query.timezone)
    sequence = bucket_sequence(
        window.start, window.end, parse_interval(group.time), tz, group.origin
    )
    return {b: i for i, b in enumerate(sequence)}


def join_previous(
    query: Query,
    rows: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    compiled: Compiled,
) -> None:
    """Add `<m>_previous`, `<m>_delta`, `<m>_delta_pct`, matching buckets by their position."""
    assert query.time is not None and isinstance(query.compare, CompareRange)
    current_index = bucket_index(query, CompareRange(start=query.time.start, end=query.time.end))
    previous_index = bucket_index(query, query.compare)

    def match_key(row: dict[str, Any], index: dict[datetime, int]) -> tuple:
        position = index.get(row[TIME_KEY].astimezone(UTC)) if compiled.has_time else None
        return (*_key(row, compiled.groups), position)

    earlier = {match_key(r, previous_index): r for r in previous}
    zero_filled = _zero_filled(query)
    for row in rows:
        before = earlier.get(match_key(row, current_index), {})
        for m in compiled.measures:
            now_value, then_value = row.get(m), before.get(m)
            if then_value is None and m in zero_filled:
                then_value = 0
            row[f"{m}_previous"] = then_value
            both = now_value is not None and then_value is not None
            row[f"{m}_delta"] = now_value - then_value if both else None
            row[f"{m}_delta_pct"] = (
                (now_value - then_value) / then_value * 100 if both and then_value != 0 else None
            )
