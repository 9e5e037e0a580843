"""Semantic validation of a parsed query against the catalog: every problem, with its path.

Parsing already guaranteed the shape; this step answers "does this dataset have that field, does
that field accept that operator and value, do these parts of the query fit together".
"""

from __future__ import annotations

from datetime import datetime

from tally.catalog.model import Dataset
from tally.catalog.vocabulary import (
    HAVING_OPS,
    NULL_OPS,
    NUMERIC_MEASURES,
    FilterOp,
    MeasureOp,
    base_measure,
)
from tally.errors import ErrorDetail, TallyError, pointer
from tally.query.fields import FieldError, resolve_field
from tally.query.limits import EARLIEST, LATEST, Limits
from tally.query.model import (
    CompareRange,
    Filter,
    Leaf,
    Query,
    TimeGroup,
    filter_depth,
    measure_label,
    walk_leaves,
)
from tally.query.timebuckets import parse_interval, relative_span
from tally.query.values import coerce_value


class _Collector:
    def __init__(self) -> None:
        self.details: list[ErrorDetail] = []

    def add(self, reason: str, *path: str | int) -> None:
        self.details.append(ErrorDetail(pointer(*path), reason))


def validate(query: Query, dataset: Dataset, limits: Limits) -> None:
    """Raise one TallyError listing every semantic problem of `query`."""
    errors = _Collector()
    _check_filter(query.filter, dataset, errors, limits, "filter")
    labels = _check_measures(query, dataset, errors, limits)
    groups = _check_groups(query, dataset, errors, limits)
    _check_time(query, dataset, errors, limits)
    for i, label in enumerate(m.as_ or measure_label(m) for m in query.measures):
        if label in groups or label in ("time", "__other__"):
            errors.add(f"measure name {label!r} is also a group name", "measures", i, "as")
    _check_having(query.having, labels, errors)
    _check_order(query, labels, groups, errors)
    if query.top is not None and not any(isinstance(g, str) for g in query.group_by):
        errors.add("top needs at least one group_by field", "top")
    if query.limit is not None and query.limit > limits.max_rows:
        errors.add(f"limit must be at most {limits.max_rows}", "limit")
    if query.offset > limits.max_offset:
        errors.add(f"offset must be at most {limits.max_offset}", "offset")
    if query.scope is not None:
        for key in query.scope:
            if key not in dataset.tenant_columns:
                errors.add(f"{key!r} is not a scope column of {dataset.name}", "scope", key)
    if errors.details:
        raise TallyError.invalid(errors.details)


def _check_filter(
    node: Filter | None, dataset: Dataset, errors: _Collector, limits: Limits, *root: str | int
) -> None:
    if node is None:
        return
    if filter_depth(node) > limits.max_filter_depth:
        errors.add(f"filter nesting deeper than {limits.max_filter_depth}", *root)
        return
    leaves = list(walk_leaves(node))
    if len(leaves) > limits.max_filter_leaves:
        errors.add(f"more than {limits.max_filter_leaves} filter conditions", *root)
        return
    for leaf, path in leaves:
        _check_leaf(leaf, dataset, errors, (*root, *path))


def _check_leaf(leaf: Leaf, dataset: Dataset, errors: _Collector, path: tuple) -> None:
    try:
        ref = resolve_field(dataset, leaf.field)
    except FieldError as exc:
        errors.add(str(exc), *path, "field")
        return
    if leaf.op not in ref.ops:
        errors.add(f"operator '{leaf.op}' is not allowed on {leaf.field!r}", *path, "op")
        return
    try:
        coerce_value(ref, leaf.op, leaf.value)
    except ValueError as exc:
        errors.add(str(exc), *path, "value")


def _check_measures(query: Query, dataset: Dataset, errors: _Collector, limits: Limits) -> set[str]:
    if len(query.measures) > limits.max_measures:
        errors.add(f"at most {limits.max_measures} measures", "measures")
    labels: set[str] = set()
    fanned_maps = {g for g in query.group_by if isinstance(g, str)}
    for i, measure in enumerate(query.measures):
        _check_filter(measure.filter, dataset, errors, limits, "measures", i, "filter")
        label = measure_label(measure)
        if label in labels:
            errors.add(f"two measures are named {label!r}; give one an 'as'", "measures", i, "as")
        labels.add(label)
        if measure.op == MeasureOp.PERCENTILE and measure.q is None:
            errors.add("percentile needs q, between 0 and 1", "measures", i, "q")
        if measure.q is not None and measure.op != MeasureOp.PERCENTILE:
            errors.add("q goes with op percentile only", "measures", i, "q")
        if measure.field is None:
            if measure.op != MeasureOp.COUNT:
                errors.add(f"{measure.op} needs a field", "measures", i, "field")
            continue
        try:
            ref = resolve_field(dataset, measure.field)
        except FieldError as exc:
            errors.add(str(exc), "measures", i, "field")
            continue
        base_op = base_measure(measure.op)
        if ref.is_map:
            if measure.field not in fanned_maps:
                errors.add(
                    f"{measure.field!r} is a map: measure one key ({measure.field}.<key>), "
                    "or group by it to measure every entry",
                    "measures", i, "field",
                )  # fmt: skip
            continue
        if base_op not in ref.measures or (base_op in NUMERIC_MEASURES and not ref.numeric_ok):
            errors.add(f"{measure.op} is not available on {measure.field!r}", "measures", i, "op")
    return labels


def _check_groups(query: Query, dataset: Dataset, errors: _Collector, limits: Limits) -> set[str]:
    names: set[str] = set()
    time_groups = 0
    fan_outs = 0
    if len(query.group_by) > limits.max_groups:
        errors.add(f"at most {limits.max_groups} group_by entries", "group_by")
    for i, item in enumerate(query.group_by):
        if isinstance(item, TimeGroup):
            time_groups += 1
            if time_groups > 1:
                errors.add("at most one time bucket", "group_by", i)
            if dataset.time_column is None:
                errors.add(f"{dataset.name} has no time column", "group_by", i)
            names.add("time")
            continue
        if item in names:
            errors.add(f"{item!r} is grouped twice", "group_by", i)
        names.add(item)
        try:
            ref = resolve_field(dataset, item)
        except FieldError as exc:
            errors.add(str(exc), "group_by", i)
            continue
        if ref.fans_out:
            fan_outs += 1
            if fan_outs > 1:
                errors.add("at most one array or map field can fan out per query", "group_by", i)
    return names


def _instants(query: Query) -> list[tuple[datetime, tuple[str | int, ...]]]:
    """Every instant the query names, with its path."""
    found: list[tuple[datetime, tuple[str | int, ...]]] = []
    if query.time is not None:
        found += [
            (t, ("time", name))
            for name, t in (("start", query.time.start), ("end", query.time.end))
            if t is not None
        ]
    if isinstance(query.compare, CompareRange):
        found += [
            (query.compare.start, ("compare", "start")),
            (query.compare.end, ("compare", "end")),
        ]
    for i, group in enumerate(query.group_by):
        if isinstance(group, TimeGroup) and group.origin is not None:
            found.append((group.origin, ("group_by", i, "origin")))
    return found


def _check_bounds(query: Query, errors: _Collector, limits: Limits) -> None:
    """Instants within the range every engine stores; no calendar bucket wider than the longest
    window, and no bucket wider than it over a relative window (it would round the window's end
    past the longest window, or beyond any calendar)."""
    for instant, path in _instants(query):
        if not EARLIEST <= instant <= LATEST:
            errors.add(f"must be from {EARLIEST:%Y-%m-%d} up to {LATEST:%Y-%m-%d} (UTC)", *path)
    longest = limits.max_window_days * 86_400
    relative = query.time is not None and query.time.last is not None
    for i, group in enumerate(query.group_by):
        if isinstance(group, TimeGroup) and group.time != "auto":
            interval = parse_interval(group.time)
            # A fixed bucket is epoch arithmetic, safe at any size over an absolute window; a
            # calendar bucket or one that rounds a relative window's end must stay short.
            if interval.approx_seconds > longest and (relative or not interval.fixed):
                errors.add(
                    f"a bucket may be at most {limits.max_window_days} days long",
                    "group_by",
                    i,
                    "time",
                )


def _check_time(query: Query, dataset: Dataset, errors: _Collector, limits: Limits) -> None:
    _check_bounds(query, errors, limits)
    bucket = next((g for g in query.group_by if isinstance(g, TimeGroup)), None)
    if query.time is not None and dataset.time_column is None:
        errors.add(f"{dataset.name} has no time column", "time")
        return
    needs_window = [
        (bucket is not None, "a time bucket"),
        (query.fill != "none", "fill"),
        (query.compare is not None, "compare"),
    ]
    for needed, what in needs_window:
        if needed and query.time is None:
            errors.add(f"{what} needs a time window", "time")
    if query.fill != "none" and bucket is None:
        errors.add("fill needs a time bucket in group_by", "fill")
    if query.time is not None:
        if query.time.last is not None:
            span = relative_span(query.time.last)
        else:
            span = query.time.end - query.time.start
        if span.days > limits.max_window_days:
            errors.add(f"the window is longer than {limits.max_window_days} days", "time")
        if bucket is not None and bucket.time != "auto":
            iv = parse_interval(bucket.time)
            if span.total_seconds() / iv.approx_seconds > limits.max_buckets:
                index = query.group_by.index(bucket)
                errors.add(
                    f"more than {limits.max_buckets} buckets: use a coarser interval",
                    "group_by",
                    index,
                    "time",
                )


def _check_having(node: Filter | None, labels: set[str], errors: _Collector) -> None:
    for leaf, path in walk_leaves(node):
        if leaf.field not in labels:
            errors.add(
                f"having refers to {leaf.field!r}, which is not a measure", "having", *path, "field"
            )
        elif leaf.op not in HAVING_OPS:
            errors.add(f"operator '{leaf.op}' is not allowed in having", "having", *path, "op")
        elif leaf.op in NULL_OPS:
            if leaf.value is not None:
                errors.add(f"{leaf.op} takes no value", "having", *path, "value")
        elif not _numbers(leaf.value, pair=leaf.op == FilterOp.BETWEEN):
            expected = "expected [min, max]" if leaf.op == FilterOp.BETWEEN else "expected a number"
            errors.add(expected, "having", *path, "value")


def _numbers(value: object, pair: bool) -> bool:
    items = value if pair and isinstance(value, list) and len(value) == 2 else [value]
    if pair and items is not value:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)


def _check_order(query: Query, labels: set[str], groups: set[str], errors: _Collector) -> None:
    for i, order in enumerate(query.order_by):
        if order.field not in labels and order.field not in groups:
            errors.add(
                f"order_by {order.field!r} is neither a measure nor a group", "order_by", i, "field"
            )
