"""Normalized query + dataset + scope -> one SQL statement with bound parameters.

The statement always has the same layers, so every feature is a small change to one of them:
  src     one row per stored row (or per array element when a group fans out): group values,
          the bucket, the measure inputs; WHERE = scope AND window AND filter
  ranked  (top only) the n largest groups
  agg     GROUP BY over src (or over src folded into top + other)
  final   HAVING as a WHERE on agg, ORDER BY, LIMIT/OFFSET, and the row count before the limit
Every SQL alias is internal (g0, m0, _t); user-chosen names never reach the SQL text, and user
values only ever become bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlglot import exp

from tally.catalog.model import ColumnType, Dataset
from tally.errors import TallyError
from tally.query.fields import FieldRef, resolve_field
from tally.query.model import (
    And,
    CompareRange,
    Filter,
    Leaf,
    Measure,
    Not,
    Or,
    Query,
    field_groups,
    time_group,
)
from tally.query.ordering import OTHER_KEY, TIME_KEY, order_keys
from tally.query.scope import Scope
from tally.query.timebuckets import parse_interval
from tally.query.values import coerce_value
from tally.sql.dialect import Dialect

TIME_ALIAS = "_t"
OTHER_ALIAS = "_other"
TOTAL_ALIAS = "_total_rows"
GROUPS_ALIAS = "_total_groups"
COMPARISONS: dict[str, type[exp.Binary]] = {
    "eq": exp.EQ,
    "neq": exp.NEQ,
    "gt": exp.GT,
    "gte": exp.GTE,
    "lt": exp.LT,
    "lte": exp.LTE,
}


@dataclass
class Compiled:
    """SQL text, its parameters, and what each output column means."""

    sql: str
    params: dict[str, Any]
    groups: list[str]
    measures: list[str]
    has_time: bool
    has_other: bool
    exact: dict[str, bool] = field(default_factory=dict)


class _Params:
    def __init__(self, dialect: Dialect) -> None:
        self.values: dict[str, Any] = {}
        self.dialect = dialect

    def add(self, value: Any) -> exp.Expression:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return self.dialect.placeholder(name, value)


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_ident(name), table=_ident(table) if table else None)


def _as(expression: exp.Expression, alias: str) -> exp.Alias:
    return exp.alias_(expression, alias, quoted=True, copy=False)


def _table(name: str, alias: str | None = None) -> exp.Table:
    table = exp.Table(this=_ident(name))
    if alias:
        table.set("alias", exp.TableAlias(this=_ident(alias)))
    return table


def _select(columns: list[exp.Expression], source: exp.Expression) -> exp.Select:
    """A SELECT built in place: sqlglot's builders copy and re-parse, which costs milliseconds."""
    return exp.Select(expressions=list(columns)).from_(source, copy=False)


def _and(parts: list[exp.Expression]) -> exp.Expression | None:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = exp.And(this=out, expression=part)
    return out


class Compiler:
    def __init__(self, dialect: Dialect, dataset: Dataset, scope: Scope) -> None:
        if not isinstance(scope, Scope) or (
            not scope.unrestricted and not scope.columns and scope.rows is None
        ):
            raise TallyError("forbidden", "no tenant scope for this query", 403)
        self.dialect = dialect
        self.dataset = dataset
        self.scope = scope

    def compile(
        self, query: Query, window: CompareRange | None = None, count_rows: bool = False
    ) -> Compiled:
        """Compile `query`; `window` replaces its time bounds (the previous period of compare);
        `count_rows` adds the number of result rows before LIMIT (a window over the result,
        which costs milliseconds on large results, so it is asked for only when needed)."""
        params = _Params(self.dialect)
        tz = query.timezone
        groups = field_groups(query)
        group_refs = [resolve_field(self.dataset, g) for g in groups]
        bucket = time_group(query)
        labels = [m.as_ or m.op for m in query.measures]

        src_cols: list[exp.Expression] = []
        entry_values: dict[str, exp.Expression] = {}
        for i, ref in enumerate(group_refs):
            value = self._field(ref, tz)
            if ref.is_array:
                value = self.dialect.fan_out(value)
            elif ref.is_map:
                value, entry_values[ref.name] = self.dialect.fan_out_map(value)
            src_cols.append(_as(value, f"g{i}"))
        if bucket is not None:
            iv = parse_interval(bucket.time)
            ts = self._time_instant(tz)
            src_cols.append(_as(self.dialect.bucket_ms(ts, iv, tz, bucket.origin), TIME_ALIAS))
        inputs: dict[tuple[str, bool], str] = {}
        self._inputs: list[str] = []
        for i, m in enumerate(query.measures):
            if m.field is not None:
                ref = resolve_field(self.dataset, m.field)
                numeric = ref.kind == "json" and m.op not in ("count", "count_distinct")
                alias = inputs.get((m.field, numeric))
                if alias is None:
                    alias = inputs[(m.field, numeric)] = f"m{i}"
                    value = entry_values[m.field] if ref.is_map else self._field(ref, tz)
                    if numeric:
                        value = self.dialect.to_double(value)
                    src_cols.append(_as(value, alias))
                self._inputs.append(alias)
            else:
                self._inputs.append("")
            if m.filter is not None:
                condition = self._filter(m.filter, params, tz)
                src_cols.append(_as(condition, f"f{i}"))
        if not src_cols:
            src_cols.append(_as(exp.Literal.number(1), "_one"))

        where = _and(
            [
                self._scope(params, tz),
                self._window(query, window, params, tz),
                self._filter(query.filter, params, tz),
            ]
        )
        src = _select(src_cols, _table(self.dataset.name, "t"))
        if where is not None:
            src = src.where(where, copy=False)

        group_aliases = [f"g{i}" for i in range(len(groups))]
        if bucket is not None:
            group_aliases_time = [*group_aliases, TIME_ALIAS]
        else:
            group_aliases_time = list(group_aliases)
        aggs = [_as(self._aggregate(m, i), f"a{i}") for i, m in enumerate(query.measures)]
        ctes: list[tuple[str, exp.Expression]] = [("src", src)]
        has_other = query.top is not None
        if query.top is not None:
            ranked, folded, agg_keys = self._top(query, group_aliases)
            ctes += [("ranked", ranked), ("folded", folded)]
            agg_from = "folded"
            group_keys = [*agg_keys, *([TIME_ALIAS] if bucket is not None else [])]
        else:
            agg_from = "src"
            group_keys = group_aliases_time
        agg = _select([*[_col(a) for a in group_keys], *aggs], _table(agg_from))
        if group_keys:
            agg = agg.group_by(*[_col(a) for a in group_keys], copy=False)
        ctes.append(("agg", agg))

        outputs: list[exp.Expression] = [exp.Star()]
        if count_rows:
            outputs.append(_as(exp.Window(this=exp.Count(this=exp.Star())), TOTAL_ALIAS))
        if query.top is not None:
            outputs.append(
                _as(
                    exp.Subquery(
                        this=_select([exp.Max(this=_col(GROUPS_ALIAS))], _table("ranked"))
                    ),
                    GROUPS_ALIAS,
                )
            )
        final = _select(outputs, _table("agg"))
        having = self._having(query.having, labels, params)
        if having is not None:
            final = final.where(having, copy=False)
        final = final.order_by(*self._order(query, labels, groups), copy=False)
        if query.fill == "none":
            final = final.limit(exp.Literal.number(query.limit or 0), copy=False)
            if query.offset:
                final = final.offset(exp.Literal.number(query.offset), copy=False)
        final.set(
            "with_",
            exp.With(
                expressions=[
                    exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(name)))
                    for name, body in ctes
                ]
            ),
        )
        return Compiled(
            sql=self.dialect.render(final),
            params=params.values,
            groups=groups,
            measures=labels,
            has_time=bucket is not None,
            has_other=has_other,
            exact={label: not m.approx for label, m in zip(labels, query.measures, strict=True)},
        )

    def _field(self, ref: FieldRef, tz: str) -> exp.Expression:
        derived = ref.column.derived
        if derived is not None:
            source = _col(self.dataset.column(derived.of).physical, "t")
            return self.dialect.derived(derived.fn, source, derived.index)
        column = _col(ref.column.physical, "t")
        if ref.kind == "json":
            return self.dialect.json_text(column, ref.key or "")
        if ref.kind == "map":
            return self.dialect.map_value(column, ref.key or "")
        return column

    def _time_instant(self, tz: str) -> exp.Expression:
        column = self.dataset.column(self.dataset.time_column or "")
        value = _col(column.physical, "t")
        if column.type is ColumnType.DATE:
            return self.dialect.date_to_instant(value, tz)
        return value

    def _scope(self, params: _Params, tz: str) -> exp.Expression | None:
        parts: list[exp.Expression] = []
        for column_name, values in sorted(self.scope.columns.items()):
            column = self.dataset.column(column_name)
            parts.append(
                exp.In(
                    this=_col(column.physical, "t"),
                    expressions=[params.add(v) for v in values],
                )
            )
        if self.scope.rows is not None:
            parts.append(self._filter(self.scope.rows, params, tz))
        return _and(parts)

    def _window(
        self, query: Query, window: CompareRange | None, params: _Params, tz: str
    ) -> exp.Expression | None:
        bounds = window or query.time
        if bounds is None:
            return None
        column = self.dataset.column(self.dataset.time_column or "")
        value = _col(column.physical, "t")
        start, end = bounds.start, bounds.end
        if column.type is ColumnType.DATE:
            zone = ZoneInfo(tz)
            start, end = _first_day_at_or_after(start, zone), _first_day_at_or_after(end, zone)
        return exp.And(
            this=exp.GTE(this=value, expression=params.add(start)),
            expression=exp.LT(this=value, expression=params.add(end)),
        )

    def _filter(self, node: Filter | None, params: _Params, tz: str) -> exp.Expression | None:
        if node is None:
            return None
        if isinstance(node, And):
            return exp.Paren(this=_and([self._filter(c, params, tz) for c in node.and_]))
        if isinstance(node, Or):
            parts = [self._filter(c, params, tz) for c in node.or_]
            out = parts[0]
            for part in parts[1:]:
                out = exp.Or(this=out, expression=part)
            return exp.Paren(this=out)
        if isinstance(node, Not):
            return exp.Not(this=exp.Paren(this=self._filter(node.not_, params, tz)))
        return self._leaf(node, params, tz)

    def _leaf(self, leaf: Leaf, params: _Params, tz: str) -> exp.Expression:
        ref = resolve_field(self.dataset, leaf.field)
        value = coerce_value(ref, leaf.op, leaf.value)
        target = self._field(ref, tz)
        op = leaf.op
        if ref.kind == "json" and _numeric(value):
            target = self.dialect.to_double(target)
        if op == "is_null":
            return exp.Is(this=target, expression=exp.Null())
        if op == "not_null":
            return exp.Not(this=exp.Is(this=target, expression=exp.Null()))
        if op in ("is_empty", "not_empty"):
            size = exp.Coalesce(
                this=self.dialect.size(target, ref.is_map), expressions=[exp.Literal.number(0)]
            )
            compare = exp.EQ if op == "is_empty" else exp.GT
            return compare(this=size, expression=exp.Literal.number(0))
        if op in ("has_any", "has_all", "has_none"):
            values = params.add(value)
            if op == "has_all":
                return self.dialect.has_all(target, values)
            test = self.dialect.has_any(target, values)
            return exp.Not(this=test) if op == "has_none" else test
        if op in ("contains", "not_contains", "starts_with", "ends_with", "like"):
            needle = params.add(value.lower() if leaf.case_insensitive else value)
            if leaf.case_insensitive:
                target = exp.Lower(this=target)
            if op == "like":
                return exp.Like(this=target, expression=needle)
            if op == "starts_with":
                return self.dialect.starts_with(target, needle)
            if op == "ends_with":
                return self.dialect.ends_with(target, needle)
            test = self.dialect.contains(target, needle)
            return exp.Not(this=test) if op == "not_contains" else test
        if op in ("in", "nin"):
            test = exp.In(this=target, expressions=[params.add(v) for v in value])
            return exp.Not(this=test) if op == "nin" else test
        if op == "between":
            return exp.Between(this=target, low=params.add(value[0]), high=params.add(value[1]))
        return COMPARISONS[op](this=target, expression=params.add(value))

    def _aggregate(self, m: Measure, i: int) -> exp.Expression:
        value = _col(self._inputs[i])
        if m.op == "count":
            aggregate = exp.Count(this=exp.Star() if m.field is None else value)
        elif m.op == "count_distinct":
            aggregate = self.dialect.count_distinct(value, m.approx)
        elif m.op == "percentile":
            aggregate = self.dialect.percentile(value, m.q or 0.5, m.approx)
        else:
            funcs = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}
            aggregate = funcs[m.op](this=value)
        if m.filter is None:
            return aggregate
        return self.dialect.filtered(aggregate, _col(f"f{i}"))

    def _rank_measure(self, query: Query) -> int:
        labels = [m.as_ for m in query.measures]
        for order in query.order_by:
            if order.field in labels:
                return labels.index(order.field)
        return 0

    def _top(
        self, query: Query, group_aliases: list[str]
    ) -> tuple[exp.Expression, exp.Expression, list[str]]:
        assert query.top is not None
        rank_index = self._rank_measure(query)
        rank_value = self._aggregate(query.measures[rank_index], rank_index)
        ranked = (
            _select(
                [
                    *[_col(a) for a in group_aliases],
                    _as(rank_value, "_rank"),
                    _as(exp.Window(this=exp.Count(this=exp.Star())), GROUPS_ALIAS),
                    _as(exp.true(), "_hit"),
                ],
                _table("src"),
            )
            .group_by(*[_col(a) for a in group_aliases], copy=False)
            .order_by(
                exp.Ordered(this=_col("_rank"), desc=True, nulls_first=False),
                *[exp.Ordered(this=_col(a), nulls_first=False) for a in group_aliases],
                copy=False,
            )
            .limit(exp.Literal.number(query.top.n), copy=False)
        )
        hit = exp.Not(this=exp.Is(this=_col("_hit", "r"), expression=exp.Null()))
        folded_cols = [
            _as(exp.If(this=hit.copy(), true=_col(a, "s"), false=exp.Null()), a)
            for a in group_aliases
        ]
        folded_cols.append(_as(exp.Is(this=_col("_hit", "r"), expression=exp.Null()), OTHER_ALIAS))
        passthrough = [TIME_ALIAS] if time_group(query) else []
        passthrough += sorted({alias for alias in self._inputs if alias})
        passthrough += [f"f{i}" for i, m in enumerate(query.measures) if m.filter is not None]
        folded_cols += [_as(_col(c, "s"), c) for c in passthrough]
        join_on = _and(
            [self.dialect.null_safe_equal(_col(a, "s"), _col(a, "r")) for a in group_aliases]
        )
        folded = _select(folded_cols, _table("src", "s")).join(
            _table("ranked", "r"),
            on=join_on,
            join_type="LEFT" if query.top.other else "INNER",
            copy=False,
        )
        return ranked, folded, [*group_aliases, OTHER_ALIAS]

    def _having(
        self, node: Filter | None, labels: list[str], params: _Params
    ) -> exp.Expression | None:
        if node is None:
            return None
        if isinstance(node, (And, Or)):
            children = node.and_ if isinstance(node, And) else node.or_
            parts = [self._having(c, labels, params) for c in children]
            out = parts[0]
            for part in parts[1:]:
                out = (exp.And if isinstance(node, And) else exp.Or)(this=out, expression=part)
            return exp.Paren(this=out)
        if isinstance(node, Not):
            return exp.Not(this=exp.Paren(this=self._having(node.not_, labels, params)))
        target = _col(f"a{labels.index(node.field)}")
        if node.op == "is_null":
            return exp.Is(this=target, expression=exp.Null())
        if node.op == "not_null":
            return exp.Not(this=exp.Is(this=target, expression=exp.Null()))
        if node.op == "between":
            low, high = node.value
            return exp.Between(this=target, low=params.add(low), high=params.add(high))
        return COMPARISONS[node.op](this=target, expression=params.add(node.value))

    def _order(self, query: Query, labels: list[str], groups: list[str]) -> list[exp.Ordered]:
        aliases = {TIME_KEY: TIME_ALIAS, OTHER_KEY: OTHER_ALIAS}
        aliases.update({g: f"g{i}" for i, g in enumerate(groups)})
        aliases.update({label: f"a{i}" for i, label in enumerate(labels)})
        return [
            exp.Ordered(this=_col(aliases[name]), desc=desc, nulls_first=False)
            for name, desc in order_keys(query)
        ]


def _numeric(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in items
    )


def _first_day_at_or_after(instant: datetime, zone: ZoneInfo) -> date:
    """The first local date whose midnight is at or after `instant`."""
    local = instant.astimezone(zone)
    day = local.date()
    if local.replace(tzinfo=None) == datetime.combine(day, time(0)):
        return day
    return day + timedelta(days=1)
