"""A query compiled against a rollup table instead of the dataset's rows.

Everything but the measures compiles as it does over the rows (`layout.as_dataset` keeps every
group, filter and scope column under its name, and the grain start under the time column's;
a JSON key dimension is read from the column holding its text, which is what extracting the
key gives over the rows), so only the aggregates are spelled here, each from what the rollup
stores:
  count        -> sum of row counts (or of a field's non-null counts), 0 over no rows
  sum          -> sum of sums (null when no value was summed, as over the rows)
  avg          -> sum of sums / sum of non-null counts
  min, max     -> min of minimums, max of maximums
  count_distinct -> the cardinality of the union of the cells' sets of ids (exact), or the
                  estimate of the union of their HyperLogLog sketches (approx); where each
                  group is provably one cell (`match.one_cell_per_group`), the exact count is
                  the sum of the cells' stored cardinalities, 0 over no rows, and the sets
                  (hundreds of KB each when a cell holds many values) are not read
  percentile   -> the quantile of the union of the cells' KLL sketches (approx only)
The rollup's rows are its table's and, while appends wait to be merged in, its pending
table's (`statements.stored_cells`): each measure merges over any number of rows per cell, and
a count from stored cardinalities reads each cell once, the cells with pending rows merged
first. Only the columns the query reads are selected.
A measure filter (and `filter` on the query) only names rollup dimensions, so it holds for a
rollup row exactly when it holds for every stored row the row stands for. Where the window cuts
a grain, the stored rows up to the first whole grain join the rollup's rows, each shaped as a
cell of its own (count 1, its value as sum, minimum and maximum, a set or sketch of its one
value), so the same aggregates apply.

A measure that asked for `approx` has its bound in `Compiled.error`: 0 when a set of ids
answers it exactly, the sketch's bound otherwise (`tally.rollups.sketches`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlglot import exp

from tally.catalog.vocabulary import MeasureOp
from tally.query.fields import FieldRef
from tally.query.model import CompareRange, Measure, Query
from tally.query.scope import Scope
from tally.rollups import sketches
from tally.rollups.layout import COUNT_COLUMN, RollupTable, aggregate_column, non_null_column
from tally.rollups.match import one_cell_per_group, sketch_for, whole_grains
from tally.rollups.statements import key_names, rows_as_cells, stored_cells
from tally.sql.compiled import EXACT_BOUND, Compiled
from tally.sql.compiler import Compiler, _as, _col, _Compilation, _table
from tally.sql.dialect import Dialect

READ = {"ids": "tally_ids_count", "hll": "tally_hll_count", "kll": "tally_kll_quantile"}
BOUNDS: dict[str, dict[str, Any]] = {
    "ids": EXACT_BOUND,
    "hll": {
        "method": "hll",
        "relative_error": sketches.HLL_RELATIVE_ERROR,
        "confidence": sketches.HLL_CONFIDENCE,
    },
    "kll": {
        "method": "kll",
        "rank_error": sketches.KLL_RANK_ERROR,
        "confidence": sketches.KLL_CONFIDENCE,
    },
}


def counted_by(measure: Measure, layout: RollupTable, one_cell: bool) -> str | None:
    """The cardinality column that answers a distinct count when each group is one cell."""
    sketch = sketch_for(measure, layout)
    return sketch.card if one_cell and sketch is not None else None


def stored_inputs(measure: Measure, layout: RollupTable, one_cell: bool) -> tuple[str, ...]:
    """The rollup columns a measure is computed from (`one_cell`: each group is one cell)."""
    field = measure.field
    sketch = sketch_for(measure, layout)
    card = counted_by(measure, layout, one_cell)
    if card is not None:
        return (card,)
    if sketch is not None:
        return (sketch.column,)
    if field is None:
        return (COUNT_COLUMN,)
    if measure.op == MeasureOp.COUNT:
        return (non_null_column(field),)
    if measure.op == MeasureOp.AVG:
        return (aggregate_column("sum", field), non_null_column(field))
    return (aggregate_column(str(measure.op), field),)


class RollupCompiler(Compiler):
    def __init__(
        self, dialect: Dialect, layout: RollupTable, scope: Scope, pending: bool = True
    ) -> None:
        """`pending`: the rollup may hold pending rows, which are read with its own."""
        super().__init__(dialect, layout.as_dataset, scope)
        self.layout = layout
        self.pending = pending

    def compile(
        self, query: Query, window: CompareRange | None = None, count_rows: bool = False
    ) -> Compiled:
        """As over the rows, with each distinct count's and percentile's exactness and bound
        told by what answers it."""
        compiled = super().compile(query, window, count_rows)
        exact, error = dict(compiled.exact), dict(compiled.error)
        for label, measure in zip(compiled.measures, query.measures, strict=True):
            sketch = sketch_for(measure, self.layout)
            if sketch is not None:
                exact[label] = sketch.kind == "ids"
                if measure.approx:
                    error[label] = BOUNDS[sketch.kind]
        return dataclasses.replace(compiled, exact=exact, error=error)

    def _field(self, ref: FieldRef) -> exp.Expression:
        """A JSON key dimension is its stored text (the match lets no other key through)."""
        if ref.kind == "json":
            return _col(self.layout.text_columns[ref.name], "t")
        return super()._field(ref)

    def _measure_inputs(
        self,
        ctx: _Compilation,
        src_cols: list[exp.Expression],
        entry_values: dict[str, exp.Expression],
    ) -> None:
        aliases: dict[str, str] = {}
        for inputs in self._stored_inputs(ctx):
            for column in inputs:
                if column not in aliases:
                    aliases[column] = f"m{len(aliases)}"
                    src_cols.append(_as(_col(column, "t"), aliases[column]))
            ctx.inputs.append(tuple(aliases[c] for c in inputs))

    def _one_cell(self, ctx: _Compilation) -> bool:
        return one_cell_per_group(ctx.query, self.scope, self.layout)

    def _stored_inputs(self, ctx: _Compilation) -> list[tuple[str, ...]]:
        """Each measure's rollup columns (`stored_inputs`), for its inputs and for the rows."""
        one_cell = self._one_cell(ctx)
        return [stored_inputs(m, self.layout, one_cell) for m in ctx.query.measures]

    def _aggregate(self, m: Measure, i: int, ctx: _Compilation) -> exp.Expression:
        condition = ctx.conditions[i]

        def over(aggregate: exp.Expression) -> exp.Expression:
            return (
                aggregate
                if condition is None
                else self.dialect.filtered(aggregate, _col(condition))
            )

        values = [_col(alias) for alias in ctx.inputs[i]]
        sketch = sketch_for(m, self.layout)
        if m.op == MeasureOp.COUNT or counted_by(m, self.layout, self._one_cell(ctx)):
            return exp.Coalesce(
                this=over(exp.Sum(this=values[0])), expressions=[exp.Literal.number(0)]
            )
        if sketch is not None:
            merged = [over(exp.ArrayAgg(this=values[0]))]
            if sketch.kind == "kll":
                merged.append(exp.Literal.number(m.q or 0.5))
            return exp.Anonymous(this=READ[sketch.kind], expressions=merged)
        if m.op == MeasureOp.AVG:
            total, count = over(exp.Sum(this=values[0])), over(exp.Sum(this=values[1]))
            return exp.Div(
                this=total, expression=exp.Nullif(this=count, expression=exp.Literal.number(0))
            )
        kinds = {MeasureOp.SUM: exp.Sum, MeasureOp.MIN: exp.Min, MeasureOp.MAX: exp.Max}
        return over(kinds[MeasureOp(m.op)](this=values[0]))

    def _rows(self, ctx: _Compilation, window: CompareRange | None) -> exp.Expression:
        """The rollup's whole grains inside the window (its rows and pending rows, the columns
        the measures read), and, where an edge of the window cuts a grain, the dataset's own
        rows between that edge and the first whole grain."""
        read = (c for inputs in self._stored_inputs(ctx) for c in inputs)
        columns = list(dict.fromkeys([*key_names(self.layout), *read]))
        # Cells are read once each only where a stored cardinality is counted (which
        # `stored_inputs` names only when each group is one cell).
        counted = any(c in self.layout.cards for c in columns)
        cells = stored_cells(self.layout, counted, columns, self.pending)
        table = cells.copy()
        table.set("alias", exp.TableAlias(this=exp.to_identifier("t")))
        bounds = window or ctx.query.time
        if bounds is None or bounds.start is None or bounds.end is None:
            return table
        start, end = bounds.start, bounds.end
        first, last = whole_grains(start, end, self.layout.grain_seconds)
        if (first, last) == (start, end):
            return table
        time_name = self.layout.time_column.physical

        def within(alias: str, low: datetime, high: datetime) -> exp.Expression:
            instant = _col(time_name, alias)
            return exp.and_(
                exp.GTE(this=instant, expression=ctx.params.add(low)),
                exp.LT(this=instant.copy(), expression=ctx.params.add(high)),
            )

        grains = exp.select(*(_col(n) for n in columns)).from_(cells)
        grains = grains.where(within("c", first, last))
        edges = exp.select(*rows_as_cells(self.layout, "r", columns))
        edges = edges.from_(_table(self.layout.dataset.name, "r"))
        edges = edges.where(exp.or_(within("r", start, first), within("r", last, end)))
        union = exp.union(grains, edges, distinct=False)
        return exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("t")))
