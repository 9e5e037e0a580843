"""Whether a rollup gives exactly the answer the rows give, decided from the query's algebra.

A rollup row stands for every stored row of one cell (tenant columns, dimensions, grain). An
aggregate over rows equals the same aggregate recombined over cells when every cell is wholly
in or wholly out of each set of rows the query aggregates. So a rollup answers a query when:
  - every field the query reads (groups, filters at any depth, measure filters, the caller's
    row scope) is a rollup dimension or tenant column: a cell then passes or fails as a whole.
    A rollup across tenants keeps no tenant column, so it answers only a caller who reads
    every tenant (`Scope.unrestricted`; a scope listing tenants, even all of them, reads a
    tenant column) and a query that neither filters nor groups by one;
    A JSON key dimension keeps the key's text, so each test of it must be decided by that text
    alone (`DECIDED_BY_TEXT`): 5 and "5", or a missing key and a JSON null, share one text
    and so one cell, which only a test that reads the text keeps exact;
  - every bucket edge inside the window's whole grains falls on a grain boundary: a cell then
    lies in one bucket. Checked on the actual edges in the query's timezone (a day in Asia/
    Kathmandu starts at 18:15 UTC: on a 15-minute grain, on an hourly one not). The rows
    between a ragged window edge and the first whole grain are read from the table
    (`RollupCompiler._rows`), so a window only needs to hold one whole grain;
  - every measure is recombinable from what the rollup stores (count, sum, min, max, avg; a
    distinct count from the field's set of ids, exact, or, when the measure allows `approx`,
    from its HyperLogLog sketch; an approximate percentile from its KLL sketch). An exact
    percentile is answered from the rows.
Nothing else is looked at: not the order of filters, not the operators, not the groups' order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tally.catalog.vocabulary import (
    EQUALITY_OPS,
    NULL_OPS,
    ORDER_OPS,
    TEXT_OPS,
    FilterOp,
    MeasureOp,
)
from tally.query.model import (
    And,
    CompareRange,
    Filter,
    Leaf,
    Measure,
    Query,
    field_groups,
    time_group,
    walk_leaves,
)
from tally.query.scope import Scope
from tally.query.timebuckets import Interval, bucket_start, next_bucket, parse_interval
from tally.rollups.layout import CellKey, RollupTable, StoredSketch

SERVED = (MeasureOp.COUNT, MeasureOp.SUM, MeasureOp.AVG, MeasureOp.MIN, MeasureOp.MAX)
"""The measures a rollup recombines from stored aggregates."""
SKETCHED = (MeasureOp.COUNT_DISTINCT, MeasureOp.PERCENTILE)
"""The measures a rollup answers from a set or a sketch of a field's values, when it keeps one."""
DECIDED_BY_TEXT: frozenset[FilterOp] = frozenset(EQUALITY_OPS + ORDER_OPS + TEXT_OPS + NULL_OPS)
"""The tests of a JSON key that the compiler spells on the key's text alone (`json_text`, or
a number cast from it): what a rollup keeps of a JSON key dimension decides them. Listed here,
not taken from what a JSON key allows, so a test added there that reads more than the text (a
key that exists with a null value) leaves the query to the rows until a rollup keeps that."""


def sketch_for(measure: Measure, layout: RollupTable) -> StoredSketch | None:
    """What a distinct count or percentile is answered from: the field's exact set of ids (for
    an approximate count too, which is then exact), else, when `approx` allows it, its
    HyperLogLog or KLL sketch; None when the rollup keeps none of these."""
    field = measure.field
    if field is None or measure.op not in SKETCHED:
        return None
    if measure.op == MeasureOp.COUNT_DISTINCT:
        exact = layout.sketch("ids", field)
        return exact or (layout.sketch("hll", field) if measure.approx else None)
    return layout.sketch("kll", field) if measure.approx else None


def _tests(query: Query, scope: Scope) -> Iterable[Leaf]:
    """Every test of a field: in the filter, the caller's row scope, the measures' filters."""
    filters: list[Filter | None] = [query.filter, scope.rows, *(m.filter for m in query.measures)]
    return (leaf for node in filters for leaf, _ in walk_leaves(node))


def read_fields(query: Query, scope: Scope) -> set[str]:
    """Every dataset field whose value decides which rows count or where they go (the time
    column is handled as the window and buckets)."""
    fields = {leaf.field for leaf in _tests(query, scope)}
    return fields | set(field_groups(query)) | set(scope.columns)


def keys_read_as_text(query: Query, scope: Scope, layout: RollupTable) -> bool:
    """Every test of a JSON key dimension is one its stored text decides."""
    texts = layout.text_columns
    return all(t.op in DECIDED_BY_TEXT for t in _tests(query, scope) if t.field in texts)


def derivable(query: Query, layout: RollupTable) -> bool:
    for measure in query.measures:
        if measure.op in SKETCHED and sketch_for(measure, layout) is not None:
            continue
        if measure.op not in SERVED:
            return False
        field = measure.field
        if field is None:
            continue
        if measure.op == MeasureOp.COUNT:
            if field not in layout.rollup.fields:
                return False
        elif not layout.stores("sum" if measure.op == MeasureOp.AVG else str(measure.op), field):
            return False
    return True


def _aligned(instant: datetime, grain_seconds: int) -> bool:
    return instant.microsecond == 0 and int(instant.timestamp()) % grain_seconds == 0


def whole_grains(start: datetime, end: datetime, grain_seconds: int) -> tuple[datetime, datetime]:
    """The part of [start, end) made of whole grains: from the first grain edge at or after
    `start` to the last at or before `end` (empty when it ends before it starts). The rows
    outside it, at a ragged window's edges, are read from the dataset's table."""
    grain = timedelta(seconds=grain_seconds)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + -((epoch - start) // grain) * grain
    last = epoch + ((end - epoch) // grain) * grain
    return first, last


def _bucket_edges(
    start: datetime, end: datetime, iv: Interval, tz: ZoneInfo, origin: datetime | None
) -> Iterable[datetime]:
    """The bucket starts strictly inside [start, end) of a calendar interval."""
    edge = next_bucket(bucket_start(start, iv, tz, origin), iv, tz)
    while edge < end:
        yield edge
        edge = next_bucket(edge, iv, tz)


@functools.lru_cache(maxsize=4096)
def calendar_edges_align(
    start: datetime, end: datetime, iv: Interval, zone: str, origin: datetime | None, grain: int
) -> bool:
    """Every day, week or month edge inside the window is a grain edge. Walked edge by edge
    (a 90-day window of days: about 0.7 ms; 27 years: 75 ms), so remembered: dashboards ask
    the same windows again."""
    edges = _bucket_edges(start, end, iv, ZoneInfo(zone), origin)
    return all(_aligned(edge, grain) for edge in edges)


def _windows(query: Query) -> list[CompareRange] | None:
    """The query's window and compared window (None: a relative compare, never matched)."""
    windows = [query.time] if query.time is not None else []
    if isinstance(query.compare, CompareRange):
        windows.append(query.compare)
    elif query.compare is not None:
        return None
    return windows


def windows_align(query: Query, grain_seconds: int) -> bool:
    """The window (and the compared window) holds a whole grain, and every bucket edge inside
    its whole grains is a grain edge. A query without a window reads every grain whole unless
    it has calendar buckets, whose edges cannot all be checked (answered from the rows)."""
    windows = _windows(query)
    if windows is None:
        return False
    group = time_group(query)
    origin = group.origin if group is not None else None
    try:
        iv = parse_interval(group.time) if group is not None else None
    except ValueError:
        return False
    if iv is not None and iv.fixed:
        if iv.fixed_seconds % grain_seconds or (origin and not _aligned(origin, grain_seconds)):
            return False
    elif iv is not None and not windows:
        return False
    for window in windows:
        if window.start is None or window.end is None:
            return False
        start, end = whole_grains(window.start, window.end, grain_seconds)
        if start >= end:
            return False
        if iv is not None and not iv.fixed:
            if not calendar_edges_align(start, end, iv, query.timezone, origin, grain_seconds):
                return False
    return True


def answers(query: Query, scope: Scope, layout: RollupTable) -> bool:
    """Whether `layout` answers `query` for `scope` exactly (see the module's reasoning)."""
    return (
        (scope.unrestricted or not layout.rollup.across_tenants)
        and read_fields(query, scope) <= layout.columns
        and keys_read_as_text(query, scope, layout)
        and derivable(query, layout)
        and windows_align(query, layout.grain_seconds)
    )


@functools.lru_cache(maxsize=4096)
def calendar_buckets_are_grains(
    start: datetime, end: datetime, iv: Interval, zone: str, origin: datetime | None, grain: int
) -> bool:
    """Every day, week or month bucket meeting [start, end) is one grain: its start is a grain
    edge and the next bucket starts one grain later (a 24-hour grain and days in UTC; not a
    day of 23 or 25 hours in a zone that changes its clocks). Remembered, as the edges are."""
    tz = ZoneInfo(zone)
    edge = bucket_start(start, iv, tz, origin)
    while edge < end:
        following = next_bucket(edge, iv, tz)
        if not _aligned(edge, grain) or (following - edge).total_seconds() != grain:
            return False
        edge = following
    return True


def _buckets_are_grains(query: Query, windows: list[CompareRange], grain_seconds: int) -> bool:
    group = time_group(query)
    if group is None:
        return False
    try:
        iv = parse_interval(group.time)
    except ValueError:
        return False
    origin = group.origin
    if iv.fixed:
        return iv.fixed_seconds == grain_seconds and (
            origin is None or _aligned(origin, grain_seconds)
        )
    return bool(windows) and all(
        w.start is not None
        and w.end is not None
        and calendar_buckets_are_grains(w.start, w.end, iv, query.timezone, origin, grain_seconds)
        for w in windows
    )


def _pinned_by(leaf: Leaf, key: CellKey) -> bool:
    """An equality to one value, which one stored key value at most meets: the value is of the
    column's own type (`coerce_value`) and `=` is the equality that keys the cells (DuckDB's
    GROUP BY and `=` agree, on -0.0 and 0.0 and on NaN too). Not a number tested against a
    JSON key's text: it is compared with the text cast to a number, so 5 meets "5" and "5.0"."""
    if leaf.field != key.field:
        return False
    if leaf.op == FilterOp.EQ:
        value = leaf.value
    elif leaf.op == FilterOp.IN and isinstance(leaf.value, list) and len(leaf.value) == 1:
        value = leaf.value[0]
    else:
        return False
    return isinstance(value, str) if key.json_key is not None else value is not None


def _conjuncts(node: Filter | None) -> Iterable[Filter]:
    """The parts of a filter that every row it keeps meets: it, or each part of its ANDs."""
    if isinstance(node, And):
        for child in node.and_:
            yield from _conjuncts(child)
    elif node is not None:
        yield node


def one_cell_per_group(query: Query, scope: Scope, layout: RollupTable) -> bool:
    """Whether every group of the answer (and so every measure filter's part of it) gathers at
    most one of `layout`'s cells, for a query it answers. Then an exact distinct count is the
    stored cardinality of that cell's set (summed, over none or one row), and the sets are not
    read: a union of several cells' sets counts a value they share once, which no sum of their
    sizes can. It holds when all of these do:
      - no window edge cuts a grain, in the window and a compared one: the rows of a ragged
        edge join as cells of their own (`RollupCompiler._rows`);
      - the query has a time bucket, and every bucket meeting the window is exactly one grain:
        a fixed width equal to the grain from a grain edge, or days (weeks, months) whose every
        start is a grain edge and which last one grain each in the query's timezone (days in
        UTC on a 24-hour grain; a DST day lasts 23 or 25 hours);
      - every key of a cell (tenant columns, dimensions) is grouped by, or pinned to one
        value: by the caller's scope listing one value of it, or by an equality to one value
        that the whole filter requires (`_pinned_by`);
      - no top n: its ranking and its "other" row gather groups.
    A rollup table holds one row per cell; its pending rows (appended since the last
    compaction) are merged per cell before a query counts (`statements.stored_cells`)."""
    windows = _windows(query)
    if windows is None or query.top is not None:
        return False
    grain = layout.grain_seconds
    for window in windows:
        if window.start is None or window.end is None:
            return False
        if whole_grains(window.start, window.end, grain) != (window.start, window.end):
            return False
    if not _buckets_are_grains(query, windows, grain):
        return False
    grouped = set(field_groups(query))
    tests = [node for node in _conjuncts(query.filter) if isinstance(node, Leaf)]
    return all(
        key.field in grouped
        or len(scope.columns.get(key.field, ())) == 1
        or any(_pinned_by(leaf, key) for leaf in tests)
        for key in layout.keys
    )
