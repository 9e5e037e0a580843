"""Normalized query + dataset + scope -> one SQL statement with bound parameters.

The statement always has the same layers, so every feature is a small change to one of them:
  src     one row per stored row (or per array element when a group fans out): group values,
          the bucket, the measure inputs; WHERE = scope AND window AND filter
  ranked  (top only) the n largest groups
  agg     GROUP BY over src (or over src folded into top + other)
  final   HAVING as a WHERE on agg, ORDER BY, LIMIT/OFFSET, and the row count before the limit
Every SQL alias is internal (g0, m0, _t); user-chosen names never reach the SQL text, and user
values only ever become bound parameters. `Compiled.columns` says which alias holds which group,
bucket or measure, so nothing outside this module spells an alias.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlglot import exp

from tally.catalog.model import ColumnType, Dataset
from tally.catalog.vocabulary import (
    ARRAY_TEST_OPS,
    COUNTING_MEASURES,
    EMPTINESS_OPS,
    NULL_OPS,
    TEXT_OPS,
    FilterOp,
    MeasureOp,
)
from tally.errors import TallyError
from tally.query.fields import FieldRef, resolve_field
from tally.query.model import (
    And,
    CompareRange,
    Const,
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
from tally.sql.compiled import EXACT_BOUND, Compiled, OutputColumn, Role
from tally.sql.dialect import Dialect

TIME_ALIAS = "_t"
OTHER_ALIAS = "_other"
TOTAL_ALIAS = "_total_rows"
GROUPS_ALIAS = "_total_groups"
COMPARISONS: dict[FilterOp, type[exp.Binary]] = {
    FilterOp.EQ: exp.EQ,
    FilterOp.NEQ: exp.NEQ,
    FilterOp.GT: exp.GT,
    FilterOp.GTE: exp.GTE,
    FilterOp.LT: exp.LT,
    FilterOp.LTE: exp.LTE,
}
AGGREGATES: dict[MeasureOp, type[exp.AggFunc]] = {
    MeasureOp.SUM: exp.Sum,
    MeasureOp.AVG: exp.Avg,
    MeasureOp.MIN: exp.Min,
    MeasureOp.MAX: exp.Max,
}


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


def _and(parts: list[exp.Expression | None]) -> exp.Expression | None:
    present = [p for p in parts if p is not None]
    return _chain(exp.And, present) if present else None


def _chain(join: type[exp.Connector], parts: list[exp.Expression]) -> exp.Expression:
    """`a join b join c`, nested to the left as SQL reads it."""
    return functools.reduce(lambda left, right: join(this=left, expression=right), parts)


def _output_columns(query: Query) -> list[OutputColumn]:
    """Groups, then the bucket, then measures: the order in which the statement returns them."""
    columns = [OutputColumn(f"g{i}", g, Role.GROUP) for i, g in enumerate(field_groups(query))]
    if time_group(query) is not None:
        columns.append(OutputColumn(TIME_ALIAS, TIME_KEY, Role.BUCKET))
    columns += [
        OutputColumn(f"a{i}", m.as_ or str(m.op), Role.MEASURE)
        for i, m in enumerate(query.measures)
    ]
    return columns


@dataclass
class _Compilation:
    """The state of one `compile` call, handed to each helper; the compiler itself keeps none,
    so compiling one statement cannot leak into the next."""

    query: Query
    params: _Params
    columns: list[OutputColumn]
    inputs: list[tuple[str, ...]] = field(default_factory=list)
    """Per measure, the aliases of its input columns in `src` (none for count(*))."""
    conditions: list[str | None] = field(default_factory=list)
    """Per measure, the alias of its filter's column in `src` (None when unfiltered)."""

    @property
    def tz(self) -> str:
        return self.query.timezone

    def of_role(self, role: Role) -> list[OutputColumn]:
        return [c for c in self.columns if c.role is role]

    def aliases(self, role: Role) -> list[str]:
        return [c.alias for c in self.of_role(role)]

    def measure_alias(self, label: str) -> str:
        return next(c.alias for c in self.of_role(Role.MEASURE) if c.name == label)


class Compiler:
    def __init__(
        self,
        dialect: Dialect,
        dataset: Dataset,
        scope: Scope,
        relation: exp.Expression | None = None,
    ) -> None:
        """`relation` is what the rows are read from, aliased `t` (an external dataset's
        projection, sql/relations.py); by default the dataset's own table."""
        if not isinstance(scope, Scope) or (
            not scope.unrestricted and not scope.columns and scope.rows is None
        ):
            raise TallyError("forbidden", "no tenant scope for this query", 403)
        self.dialect = dialect
        self.dataset = dataset
        self.scope = scope
        self.relation = relation

    def compile(
        self, query: Query, window: CompareRange | None = None, count_rows: bool = False
    ) -> Compiled:
        """Compile `query`; `window` replaces its time bounds (the previous period of compare);
        `count_rows` adds the number of result rows before LIMIT (a window over the result,
        which costs milliseconds on large results, so it is asked for only when needed)."""
        ctx = _Compilation(query, _Params(self.dialect), _output_columns(query))
        ctes: list[tuple[str, exp.Expression]] = [("src", self._source(ctx, window))]
        groups, bucket = ctx.aliases(Role.GROUP), ctx.aliases(Role.BUCKET)
        if query.top is not None:
            ranked, folded = self._top(ctx)
            ctes += [("ranked", ranked), ("folded", folded)]
            agg_from, group_keys = "folded", [*groups, OTHER_ALIAS, *bucket]
        else:
            agg_from, group_keys = "src", [*groups, *bucket]
        aggs = [
            _as(self._aggregate(m, i, ctx), alias)
            for i, (m, alias) in enumerate(
                zip(query.measures, ctx.aliases(Role.MEASURE), strict=True)
            )
        ]
        agg = _select([*[_col(a) for a in group_keys], *aggs], _table(agg_from))
        if group_keys:
            agg = agg.group_by(*[_col(a) for a in group_keys], copy=False)
        ctes.append(("agg", agg))
        final = self._final(ctx, count_rows)
        final.set(
            "with_",
            exp.With(
                expressions=[
                    exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(name)))
                    for name, body in ctes
                ]
            ),
        )
        # Per measure: whether it asked for `approx`, and whether the engine then estimated it.
        asked = {
            column.name: (m.approx, m.approx and m.op in self.dialect.approximates)
            for column, m in zip(ctx.of_role(Role.MEASURE), query.measures, strict=True)
        }
        return Compiled(
            sql=self.dialect.render(final),
            params=ctx.params.values,
            columns=tuple(ctx.columns),
            other_alias=OTHER_ALIAS if query.top is not None else None,
            total_rows_alias=TOTAL_ALIAS if count_rows else None,
            total_groups_alias=GROUPS_ALIAS if query.top is not None else None,
            exact={name: not estimated for name, (_, estimated) in asked.items()},
            error={
                name: {"method": "engine"} if estimated else EXACT_BOUND
                for name, (approx, estimated) in asked.items()
                if approx
            },
        )

    def _source(self, ctx: _Compilation, window: CompareRange | None) -> exp.Select:
        """The `src` layer: one row per stored row (or array element, or map entry)."""
        query = ctx.query
        src_cols: list[exp.Expression] = []
        entry_values: dict[str, exp.Expression] = {}
        for column in ctx.of_role(Role.GROUP):
            ref = resolve_field(self.dataset, column.name)
            value = self._field(ref)
            if ref.is_array:
                value = self.dialect.fan_out(value)
            elif ref.is_map:
                value, entry_values[ref.name] = self.dialect.fan_out_map(value)
            src_cols.append(_as(value, column.alias))
        bucket = time_group(query)
        if bucket is not None:
            iv = parse_interval(bucket.time)
            ts = self._time_instant(ctx.tz)
            start = self.dialect.bucket_ms(ts, iv, ctx.tz, bucket.origin)
            src_cols.append(_as(start, TIME_ALIAS))
        self._measure_inputs(ctx, src_cols, entry_values)
        for i, m in enumerate(query.measures):
            condition = self._filter(m.filter, ctx)
            ctx.conditions.append(None if condition is None else f"f{i}")
            if condition is not None:
                src_cols.append(_as(condition, f"f{i}"))
        if not src_cols:
            src_cols.append(_as(exp.Literal.number(1), "_one"))
        where = _and([self._scope(ctx), self._window(ctx, window), self._filter(query.filter, ctx)])
        src = _select(src_cols, self._rows(ctx, window))
        return src if where is None else src.where(where, copy=False)

    def _rows(self, ctx: _Compilation, window: CompareRange | None) -> exp.Expression:
        """What `src` reads, as `t`: the dataset's table, or the projection of its source."""
        if self.relation is not None:
            return self.relation.copy()
        return _table(self.dataset.name, "t")

    def _measure_inputs(
        self,
        ctx: _Compilation,
        src_cols: list[exp.Expression],
        entry_values: dict[str, exp.Expression],
    ) -> None:
        """Add each measure's input column to `src` (once per field) and note its alias."""
        inputs: dict[tuple[str, bool], str] = {}
        for i, m in enumerate(ctx.query.measures):
            if m.field is None:
                ctx.inputs.append(())
                continue
            ref = resolve_field(self.dataset, m.field)
            numeric = ref.kind == "json" and m.op not in COUNTING_MEASURES
            alias = inputs.get((m.field, numeric))
            if alias is None:
                alias = inputs[(m.field, numeric)] = f"m{i}"
                value = entry_values[m.field] if ref.is_map else self._field(ref)
                if numeric:
                    value = self.dialect.to_double(value)
                src_cols.append(_as(value, alias))
            ctx.inputs.append((alias,))

    def _final(self, ctx: _Compilation, count_rows: bool) -> exp.Select:
        """The `final` layer: totals, having, order, limit and offset over `agg`."""
        query = ctx.query
        outputs: list[exp.Expression] = [exp.Star()]
        if count_rows:
            outputs.append(_as(exp.Window(this=exp.Count(this=exp.Star())), TOTAL_ALIAS))
        if query.top is not None:
            most = _select([exp.Max(this=_col(GROUPS_ALIAS))], _table("ranked"))
            outputs.append(_as(exp.Subquery(this=most), GROUPS_ALIAS))
        final = _select(outputs, _table("agg"))
        having = self._having(query.having, ctx)
        if having is not None:
            final = final.where(having, copy=False)
        final = final.order_by(*self._order(ctx), copy=False)
        if query.fill == "none":
            final = final.limit(exp.Literal.number(query.limit or 0), copy=False)
            if query.offset:
                final = final.offset(exp.Literal.number(query.offset), copy=False)
        return final

    def _field(self, ref: FieldRef) -> exp.Expression:
        return field_value(self.dialect, self.dataset, ref, "t")

    def _time_instant(self, tz: str) -> exp.Expression:
        column = self.dataset.column(self.dataset.time_column or "")
        value = _col(column.physical, "t")
        if column.type is ColumnType.DATE:
            return self.dialect.date_to_instant(value, tz)
        return value

    def _scope(self, ctx: _Compilation) -> exp.Expression | None:
        parts: list[exp.Expression | None] = []
        for column_name, values in sorted(self.scope.columns.items()):
            column = self.dataset.column(column_name)
            parts.append(
                exp.In(
                    this=_col(column.physical, "t"),
                    expressions=[ctx.params.add(v) for v in values],
                )
            )
        if self.scope.rows is not None:
            parts.append(self._filter(self.scope.rows, ctx))
        return _and(parts)

    def _window(self, ctx: _Compilation, window: CompareRange | None) -> exp.Expression | None:
        bounds = window or ctx.query.time
        if bounds is None:
            return None
        column = self.dataset.column(self.dataset.time_column or "")
        value = _col(column.physical, "t")
        start, end = bounds.start, bounds.end
        if column.type is ColumnType.DATE:
            zone = ZoneInfo(ctx.tz)
            start, end = _first_day_at_or_after(start, zone), _first_day_at_or_after(end, zone)
        return exp.And(
            this=exp.GTE(this=value, expression=ctx.params.add(start)),
            expression=exp.LT(this=value, expression=ctx.params.add(end)),
        )

    def _filter(self, node: Filter | None, ctx: _Compilation) -> exp.Expression | None:
        return None if node is None else self._condition(node, ctx, self._leaf)

    def _having(self, node: Filter | None, ctx: _Compilation) -> exp.Expression | None:
        return None if node is None else self._condition(node, ctx, self._having_leaf)

    def _condition(
        self,
        node: Filter,
        ctx: _Compilation,
        leaf: Callable[[Leaf, _Compilation], exp.Expression],
    ) -> exp.Expression:
        """A filter tree as SQL; `leaf` spells one test (of a stored field, or of a measure)."""
        if isinstance(node, Const):
            return exp.true() if node.const else exp.false()
        if isinstance(node, Not):
            return exp.Not(this=exp.Paren(this=self._condition(node.not_, ctx, leaf)))
        if isinstance(node, (And, Or)):
            join = exp.And if isinstance(node, And) else exp.Or
            children = node.and_ if isinstance(node, And) else node.or_
            parts = [self._condition(child, ctx, leaf) for child in children]
            return exp.Paren(this=_chain(join, parts))
        return leaf(node, ctx)

    def _leaf(self, leaf: Leaf, ctx: _Compilation) -> exp.Expression:
        op = leaf.op
        self.dialect.require(op)
        ref = resolve_field(self.dataset, leaf.field)
        value = coerce_value(ref, op, leaf.value)
        target = self._field(ref)
        if ref.kind == "json" and _numeric(value):
            target = self.dialect.to_double(target)
        if op in EMPTINESS_OPS:
            size = exp.Coalesce(
                this=self.dialect.size(target, ref.is_map), expressions=[exp.Literal.number(0)]
            )
            compare = exp.EQ if op == FilterOp.IS_EMPTY else exp.GT
            return compare(this=size, expression=exp.Literal.number(0))
        if op == FilterOp.REGEX:
            return self.dialect.regex(target, ctx.params.add(value), leaf.case_insensitive)
        if op in TEXT_OPS:
            needle = ctx.params.add(value.lower() if leaf.case_insensitive else value)
            if leaf.case_insensitive:
                target = exp.Lower(this=target)
            if op == FilterOp.LIKE:
                return exp.Like(this=target, expression=needle)
            if op == FilterOp.STARTS_WITH:
                return self.dialect.starts_with(target, needle)
            if op == FilterOp.ENDS_WITH:
                return self.dialect.ends_with(target, needle)
            test = self.dialect.contains(target, needle)
            return exp.Not(this=test) if op == FilterOp.NOT_CONTAINS else test
        return self._test(op, target, value, ctx)

    def _having_leaf(self, leaf: Leaf, ctx: _Compilation) -> exp.Expression:
        self.dialect.require(leaf.op)
        target = _col(ctx.measure_alias(leaf.field))
        return self._test(leaf.op, target, leaf.value, ctx)

    def _test(
        self, op: FilterOp, target: exp.Expression, value: Any, ctx: _Compilation
    ) -> exp.Expression:
        """The tests a stored field and a measure share: nulls, lists, ranges, comparisons."""
        if op in NULL_OPS:
            test = exp.Is(this=target, expression=exp.Null())
            return test if op == FilterOp.IS_NULL else exp.Not(this=test)
        if op in ARRAY_TEST_OPS:
            values = ctx.params.add(value)
            if op == FilterOp.HAS_ALL:
                return self.dialect.has_all(target, values)
            test = self.dialect.has_any(target, values)
            return exp.Not(this=test) if op == FilterOp.HAS_NONE else test
        if op in (FilterOp.IN, FilterOp.NIN):
            test = exp.In(this=target, expressions=[ctx.params.add(v) for v in value])
            return exp.Not(this=test) if op == FilterOp.NIN else test
        if op == FilterOp.BETWEEN:
            low, high = value
            return exp.Between(this=target, low=ctx.params.add(low), high=ctx.params.add(high))
        return COMPARISONS[op](this=target, expression=ctx.params.add(value))

    def _aggregate(self, m: Measure, i: int, ctx: _Compilation) -> exp.Expression:
        self.dialect.require(m.op)
        value = _col(ctx.inputs[i][0]) if ctx.inputs[i] else exp.Star()
        if m.op == MeasureOp.COUNT:
            aggregate = exp.Count(this=value)
        elif m.op == MeasureOp.COUNT_DISTINCT:
            aggregate = self.dialect.count_distinct(value, m.approx)
        elif m.op == MeasureOp.PERCENTILE:
            if self._is_decimal(m.field):
                value = self.dialect.decimal_to_double(value)
            aggregate = self.dialect.percentile(value, m.q or 0.5, m.approx)
        else:
            aggregate = AGGREGATES[m.op](this=value)
        condition = ctx.conditions[i]
        if condition is None:
            return aggregate
        return self.dialect.filtered(aggregate, _col(condition))

    def _is_decimal(self, field: str | None) -> bool:
        """Percentiles interpolate, so they run on doubles: an engine keeps a decimal's scale
        (DuckDB rounds the interpolated value) or refuses decimals (ClickHouse) otherwise."""
        if field is None:
            return False
        ref = resolve_field(self.dataset, field)
        return ref.kind == "column" and ref.column.type is ColumnType.DECIMAL

    def _rank_measure(self, query: Query) -> int:
        labels = [m.as_ for m in query.measures]
        for order in query.order_by:
            if order.field in labels:
                return labels.index(order.field)
        return 0

    def _top(self, ctx: _Compilation) -> tuple[exp.Expression, exp.Expression]:
        """`ranked`: the n largest groups (and how many there were); `folded`: src with every
        other group's keys nulled and flagged `_other` (or dropped when other is off)."""
        query = ctx.query
        assert query.top is not None
        groups = ctx.aliases(Role.GROUP)
        rank_index = self._rank_measure(query)
        rank_value = self._aggregate(query.measures[rank_index], rank_index, ctx)
        ranked = (
            _select(
                [
                    *[_col(a) for a in groups],
                    _as(rank_value, "_rank"),
                    _as(exp.Window(this=exp.Count(this=exp.Star())), GROUPS_ALIAS),
                    _as(exp.true(), "_hit"),
                ],
                _table("src"),
            )
            .group_by(*[_col(a) for a in groups], copy=False)
            .order_by(
                exp.Ordered(this=_col("_rank"), desc=True, nulls_first=False),
                *[exp.Ordered(this=_col(a), nulls_first=False) for a in groups],
                copy=False,
            )
            .limit(exp.Literal.number(query.top.n), copy=False)
        )
        hit = exp.Not(this=exp.Is(this=_col("_hit", "r"), expression=exp.Null()))
        folded_cols = [
            _as(exp.If(this=hit.copy(), true=_col(a, "s"), false=exp.Null()), a) for a in groups
        ]
        folded_cols.append(_as(exp.Is(this=_col("_hit", "r"), expression=exp.Null()), OTHER_ALIAS))
        passthrough = ctx.aliases(Role.BUCKET)
        passthrough += sorted({alias for aliases in ctx.inputs for alias in aliases})
        passthrough += [alias for alias in ctx.conditions if alias is not None]
        folded_cols += [_as(_col(c, "s"), c) for c in passthrough]
        join_on = _and([self.dialect.null_safe_equal(_col(a, "s"), _col(a, "r")) for a in groups])
        folded = _select(folded_cols, _table("src", "s")).join(
            _table("ranked", "r"),
            on=join_on,
            join_type="LEFT" if query.top.other else "INNER",
            copy=False,
        )
        return ranked, folded

    def _order(self, ctx: _Compilation) -> list[exp.Ordered]:
        aliases = {TIME_KEY: TIME_ALIAS, OTHER_KEY: OTHER_ALIAS}
        for role in (Role.GROUP, Role.MEASURE):
            aliases.update({c.name: c.alias for c in ctx.of_role(role)})
        return [
            exp.Ordered(this=_col(aliases[name]), desc=desc, nulls_first=False)
            for name, desc in order_keys(ctx.query)
        ]


def field_value(
    dialect: Dialect, dataset: Dataset, ref: FieldRef, table: str | None
) -> exp.Expression:
    """A field's value in a stored row of `table`: the column, computed from its source
    (derived), or the text of a JSON key or the number of a map key."""
    derived = ref.column.derived
    if derived is not None:
        source = _col(dataset.column(derived.of).physical, table)
        return dialect.derived(derived.fn, source, derived.index)
    column = _col(ref.column.physical, table)
    if ref.kind == "json":
        return dialect.json_text(column, ref.key or "")
    if ref.kind == "map":
        return dialect.map_value(column, ref.key or "")
    return column


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
