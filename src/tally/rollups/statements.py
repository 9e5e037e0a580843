"""The SQL that fills a rollup table: the cells of appended rows (stored as pending rows, merged
in by a compaction), the recomputed cells of an upsert, and a rebuild from the stored rows.
DuckDB only for now (the embedded default engine).

Built as sqlglot trees from catalog identifiers only; the one value a statement takes (a
tenant, when a rebuild goes tenant by tenant) is a bound parameter.

Why two ways to maintain: appended rows only add to their cells, so their aggregates can be
added to the stored ones later (a sum over no values stays null; a minimum is the lesser of
both): an append stores its batch's cells in the rollup's pending table, which every query reads
with the rollup's, and a compaction merges them in, many batches at once. An upsert can move a
row between cells or lower a maximum, which no stored aggregate can undo, so every cell an
upserted row leaves or enters is recomputed from the stored rows, inside the same transaction.

Sets and sketches (`tally.rollups.sketches`) merge like the aggregates: an append's sets of
ids come from the batch's (value, id) pairs, which `tally.rollups.dictionary` makes (numbering
new values) before these statements run; recomputed and rebuilt cells build theirs from the
stored rows joined with the whole dictionary, numbering the values it lacks first
(`add_values`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from tally.catalog.model import Column, ColumnType
from tally.catalog.rollups import ROW_ID
from tally.query.fields import resolve_field
from tally.rollups.layout import CellKey, RollupTable, StoredSketch
from tally.rollups.sketches import BUILD, CARDINALITY, MERGE, UNION
from tally.sql.compiler import field_value
from tally.sql.duckdb import DuckDBDialect

DIALECT = DuckDBDialect()
WRITTEN, REPLACED, CELLS = "_written", "_replaced", "_cells"
MERGED = "_merged"
BUILT = "_built"
STORED_ROW = "#row"  # a stored cell's row id in `_merged` (no catalog name holds a #)
STORED_SET_ROW = "#set_row"
MICROS = 1_000_000
STORED_BLOB = exp.DataType(
    this=exp.DataType.Type.USERDEFINED, kind="BLOB USING COMPRESSION uncompressed"
)
"""Sets and sketches are stored uncompressed: DuckDB reads every blob of a vector (2,048 rows)
to return one, and a compressed one must first be inflated whole. At 100M rows, reading the
newest of a daily rollup's 365 sets across tenants (900 KB each) took 136 ms compressed and
28 ms not; the file was the same size (a roaring bitmap hardly compresses)."""


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(_ident(name), table=_ident(table) if table else None)


def _table(name: str, alias: str | None = None) -> exp.Table:
    table = exp.Table(this=_ident(name))
    if alias:
        table.set("alias", exp.TableAlias(this=_ident(alias)))
    return table


def _subquery(select: exp.Expression, alias: str) -> exp.Subquery:
    return exp.Subquery(this=select, alias=exp.TableAlias(this=_ident(alias)))


def _sql(tree: exp.Expression) -> str:
    return DIALECT.render(tree)


def _sum_kind(column: Column) -> exp.DataType:
    """A sum's column as wide as DuckDB's sum over the rows: HUGEINT for integers, a 38-digit
    decimal of the same scale for money (exact, and no batch the dataset accepts overflows)."""
    if column.type is ColumnType.INT:
        return exp.DataType.build("HUGEINT")
    if column.type is ColumnType.DECIMAL:
        return exp.DataType.build(f"DECIMAL(38, {column.scale})")
    return DIALECT.column_kind(column)


def create(layout: RollupTable, table: str | None = None) -> str:
    """The rollup's table (or with `table` its pending one, shaped alike): its cells' keys (a
    JSON key's text as VARCHAR), the grain start, the aggregates, whose sums are as wide as the
    engine's own sums (`_sum_kind`), the exact sets' cardinalities; sets and sketches are
    BLOBs, after every other column."""
    wide = {a.column for a in layout.aggregates if a.op == "sum"}
    columns = [
        exp.ColumnDef(
            this=_ident(k.column),
            kind=exp.DataType.build("VARCHAR") if k.json_key else DIALECT.column_kind(k.source),
        )
        for k in layout.keys
    ]
    columns += [
        exp.ColumnDef(
            this=_ident(c.physical),
            kind=_sum_kind(c) if c.name in wide else DIALECT.column_kind(c),
        )
        for c in (layout.time_column, *layout.measure_columns)
    ]
    columns += [
        exp.ColumnDef(this=_ident(c), kind=exp.DataType.build("BIGINT")) for c in layout.cards
    ]
    columns += [exp.ColumnDef(this=_ident(s.column), kind=STORED_BLOB) for s in layout.sketches]
    schema = exp.Schema(this=_table(table or layout.name), expressions=columns)
    return _sql(exp.Create(this=schema, kind="TABLE", exists=True))


def create_dictionaries(layout: RollupTable) -> tuple[str, ...]:
    """One table per field kept as a set of ids: each distinct non-null value and its id."""
    made = []
    for sketch in layout.sketches:
        if sketch.kind == "ids":
            value = DIALECT.column_kind(layout.dataset.column(sketch.field))
            columns = [
                exp.ColumnDef(this=_ident("id"), kind=exp.DataType.build("BIGINT")),
                exp.ColumnDef(this=_ident("value"), kind=value),
            ]
            schema = exp.Schema(this=_table(layout.dictionary(sketch.field)), expressions=columns)
            made.append(_sql(exp.Create(this=schema, kind="TABLE", exists=True)))
    return tuple(made)


def add_values(layout: RollupTable, source: str, unmirrored: bool = False) -> tuple[str, ...]:
    """Number every value of `source`'s rows not yet in a dictionary, after the largest id:
    equal values share one id, so a set of ids counts what `count(DISTINCT x)` counts. With
    `unmirrored`, only the fields appends do not number in memory (`mirrored`)."""
    added = []
    for sketch in layout.sketches:
        if sketch.kind != "ids":
            continue
        if unmirrored and mirrored(layout.dataset.column(sketch.field)):
            continue
        dictionary = layout.dictionary(sketch.field)
        field = _col(layout.dataset.column(sketch.field).physical, "s")
        fresh = (
            exp.select(exp.alias_(field, "value", quoted=True))
            .distinct()
            .from_(_table(source, "s"))
            .where(exp.Not(this=exp.Is(this=field.copy(), expression=exp.Null())))
        )
        known = exp.select("1").from_(_table(dictionary, "d"))
        known = known.where(exp.EQ(this=_col("value", "d"), expression=_col("value", "n")))
        top = exp.select(
            exp.Coalesce(
                this=exp.Add(this=exp.Max(this=_col("id")), expression=exp.Literal.number(1)),
                expressions=[exp.Literal.number(0)],
            )
        ).from_(_table(dictionary))
        numbered = exp.Add(
            this=exp.Subquery(this=top),
            expression=exp.Sub(
                this=exp.Window(this=exp.RowNumber()), expression=exp.Literal.number(1)
            ),
        )
        rows = (
            exp.select(numbered, _col("value", "n"))
            .from_(_subquery(fresh, "n"))
            .where(exp.Not(this=exp.Exists(this=known)))
        )
        insert = exp.Insert(this=_table(dictionary), expression=rows)
        added.append(_sql(insert))
    return tuple(added)


def _sketch_input(layout: RollupTable, sketch: StoredSketch, table: str) -> exp.Expression:
    """What a row adds to a sketch: its dictionary id (ids, the dictionary joined as `i_<col>`),
    its value as text (hll: the same text for equal values, whatever the session's timezone),
    or as a double (kll)."""
    column = layout.dataset.column(sketch.field)
    value = _col(column.physical, table)
    if sketch.kind == "ids":
        return _col("id", f"i{sketch.column}")
    if sketch.kind == "kll":
        return exp.cast(value, "DOUBLE")
    if column.type is ColumnType.STRING:
        return value
    if column.type is ColumnType.TIMESTAMP:
        value = exp.Anonymous(this="epoch_us", expressions=[value])
    elif column.type is ColumnType.FLOAT:
        value = exp.Add(this=value, expression=exp.Literal.number("0.0"))  # -0.0 is 0.0
    return exp.cast(value, "VARCHAR")


def _with_dictionaries(
    layout: RollupTable, select: exp.Select, table: str, mapped: bool = False
) -> exp.Select:
    """`select` joined with the dictionary of every set of ids (one row each way: a value has
    one id; a null joins none), or with `mapped` the batch's own (value, id) pairs that
    `tally.rollups.dictionary` made (what an append reads instead of the whole dictionary)."""
    for sketch in layout.sketches:
        if sketch.kind == "ids":
            alias = f"i{sketch.column}"
            column = layout.dataset.column(sketch.field).physical
            field = _col(column, table)
            on = exp.EQ(this=_col("value", alias), expression=field)
            batch_pairs = mapped and mirrored(layout.dataset.column(sketch.field))
            name = mapped_ids(column) if batch_pairs else layout.dictionary(sketch.field)
            select = select.join(_table(name, alias), on=on, join_type="LEFT")
    return select


def mirrored(column: Column) -> bool:
    """Whether appends number the column's values through a mirror in memory: not floats,
    whose SQL equality (-0.0 = 0.0, NaN = NaN) neither Arrow's nor the hash's follows; theirs
    are numbered in SQL against the whole dictionary (`add_values`)."""
    return column.type is not ColumnType.FLOAT


def mapped_ids(column: str) -> str:
    """The relation of a batch's values of a column and their ids (an Arrow table registered
    on the write's cursor)."""
    return f"_ids__{column}"


def batch_values(field: Column) -> str:
    """Each distinct non-null value of a column among the rows an append stores, and its hash
    (what `IdCache` looks values up by), of the value as the dictionary's type: DuckDB's hash
    of one value differs between types (-1 as INTEGER and as BIGINT)."""
    value = _col(field.physical, "w")
    typed = exp.cast(value.copy(), DIALECT.column_kind(field))
    select = exp.select(
        exp.alias_(exp.Anonymous(this="hash", expressions=[typed]), "h", quoted=True),
        exp.alias_(typed.copy(), "value", quoted=True),
    )
    select = select.distinct().from_(_table(WRITTEN, "w"))
    return _sql(select.where(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))))


def dictionary_rows(dictionary: str) -> str:
    """Every id of a dictionary with its value and the value's hash."""
    hashed = exp.Anonymous(this="hash", expressions=[_col("value")])
    select = exp.select(_col("id"), exp.alias_(hashed, "h", quoted=True), _col("value"))
    return _sql(select.from_(_table(dictionary)))


def count_rows(table: str) -> str:
    return _sql(exp.select(exp.Count(this=exp.Star())).from_(_table(table)))


def store_numbered(dictionary: str, mapped: str) -> str:
    """Insert into the dictionary the new pairs of a batch's (value, id) pairs, `mapped`:
    those whose id is at or after the parameter."""
    fresh = exp.select(_col("id"), _col("value")).from_(_table(mapped))
    fresh = fresh.where(exp.GTE(this=_col("id"), expression=exp.Placeholder()))
    return _sql(exp.Insert(this=_table(dictionary), expression=fresh))


def _stored_sets(
    layout: RollupTable,
    value_of: Callable[[StoredSketch], exp.Expression],
    card_of: Callable[[StoredSketch, exp.Expression], exp.Expression] | None = None,
) -> list[tuple[str, exp.Expression]]:
    """Each set and sketch column with the value `value_of` gives it, and beside each exact set
    its cardinality, wherever a set is written, in the table's order (cardinalities, then
    BLOBs). The cardinality is read off the set as written (DuckDB computes the repeated
    expression once), or given by `card_of` where SQL alone says it."""

    def cardinality(sketch: StoredSketch, value: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this=CARDINALITY, expressions=[value.copy()])

    values = {s: value_of(s) for s in layout.sketches}
    card = card_of or cardinality
    cards = [(s.card, card(s, value)) for s, value in values.items() if s.card is not None]
    return [*cards, *((s.column, value) for s, value in values.items())]


def _built(layout: RollupTable, table: str, cards: bool) -> list[exp.Expression]:
    """Each sketch of a group of rows (built from the list of its rows' inputs), and each exact
    set's cardinality: the number of distinct ids in the list the set is built from, counted
    in SQL (the same list: DuckDB aggregates it once); null without `cards` (a pending row's
    is never read: a compaction and a query merge the sets of a cell with pending rows)."""

    def inputs(sketch: StoredSketch) -> exp.Expression:
        return exp.ArrayAgg(this=_sketch_input(layout, sketch, table))

    def built(sketch: StoredSketch) -> exp.Expression:
        return exp.Anonymous(this=BUILD[sketch.kind], expressions=[inputs(sketch)])

    def counted(sketch: StoredSketch, _: exp.Expression) -> exp.Expression:
        if not cards:
            return exp.cast(exp.Null(), "BIGINT")
        distinct = exp.Anonymous(this="list_distinct", expressions=[inputs(sketch)])
        return exp.Anonymous(this="len", expressions=[distinct])

    return [exp.alias_(v, n, quoted=True) for n, v in _stored_sets(layout, built, counted)]


def drop(name: str) -> str:
    return _sql(exp.Drop(tables=[_table(name)], kind="TABLE", exists=True))


def holds_rows(dataset_name: str) -> str:
    """Whether a dataset's table has any row (reads one row at most)."""
    one = exp.select("1").from_(_table(dataset_name)).limit(1)
    return _sql(exp.select(exp.Exists(this=one)))


def grain_start(layout: RollupTable, table: str | None) -> exp.Expression:
    """The start of the grain holding the row's instant: whole grains since the epoch, in
    integer microseconds (exact, and the same whatever the session's timezone)."""
    micros = exp.Anonymous(this="epoch_us", expressions=[_col(layout.time_column.physical, table)])
    size = exp.Literal.number(layout.grain_seconds * MICROS)
    # ((us % size) + size) % size: the offset into the grain, also before 1970.
    offset = exp.Mod(
        this=exp.Paren(this=exp.Add(this=exp.Mod(this=micros, expression=size), expression=size)),
        expression=size.copy(),
    )
    seconds = exp.IntDiv(
        this=exp.Paren(this=exp.Sub(this=micros.copy(), expression=offset)),
        expression=exp.Literal.number(MICROS),
    )
    return exp.Anonymous(this="to_timestamp", expressions=[seconds])


def key_value(layout: RollupTable, key: CellKey, table: str | None) -> exp.Expression:
    """A stored row's value of one part of its cell's key, read by the query compiler's own
    `field_value`: a JSON key's text is then exactly the text every query tests."""
    ref = resolve_field(layout.dataset, key.field)
    return field_value(DIALECT, layout.dataset, ref, table)


def _key(layout: RollupTable, table: str | None) -> list[exp.Expression]:
    """The cell of a stored row: its tenant and dimension values and its grain."""
    return [*(key_value(layout, k, table) for k in layout.keys), grain_start(layout, table)]


def key_names(layout: RollupTable) -> list[str]:
    return [*(k.column for k in layout.keys), layout.time_column.physical]


def aggregate_select(
    layout: RollupTable,
    source: exp.Expression,
    table: str,
    sketches: bool = False,
    mapped: bool = False,
) -> exp.Select:
    """One row per cell of `source` (rows shaped like the dataset's table) with its aggregates,
    and with `sketches` its sets and sketches too (a row of the rollup table), with `mapped`
    their ids read from an append's pairs (`_with_dictionaries`) and no cardinality (a pending
    row's)."""
    outputs = [
        exp.alias_(e, n, quoted=True)
        for e, n in zip(_key(layout, table), key_names(layout), strict=True)
    ]
    for aggregate in layout.aggregates:
        if aggregate.field is None:
            value: exp.Expression = exp.Count(this=exp.Star())
        else:
            field = _col(layout.dataset.column(aggregate.field).physical, table)
            kinds = {"count": exp.Count, "sum": exp.Sum, "min": exp.Min, "max": exp.Max}
            value = kinds[aggregate.op](this=field)
        outputs.append(exp.alias_(value, aggregate.column, quoted=True))
    if sketches:
        outputs += _built(layout, table, cards=not mapped)
    positions = [exp.Literal.number(i + 1) for i in range(len(key_names(layout)))]
    select = exp.select(*outputs).from_(source)
    if sketches:
        select = _with_dictionaries(layout, select, table, mapped)
    return select.group_by(*positions)


def _never_null(layout: RollupTable) -> set[str]:
    """The key columns matched by plain equality: the grain start, when the time column
    refuses nulls, as no row appended since has none (a cell with none, rebuilt from rows
    stored before the column became required, is matched apart: `upsert_statements`). Not the
    other keys: a column made required later leaves older rows null."""
    time = layout.time_column
    return {time.physical} if not time.nullable else set()


def _cell_match(layout: RollupTable, left: str, right: str) -> exp.Expression:
    """The same cell: null-safe equality, or plain equality where no key is null, which DuckDB
    turns into a range filter on the scanned table, so its row groups outside the other side's
    grains are skipped (`IS NOT DISTINCT FROM` gives a filter no row group's range excludes:
    at 10M rows a 10,000-row batch read all 9 row groups of a rollup to find 2,912 rows)."""
    plain = _never_null(layout)
    return exp.and_(
        *(
            (exp.EQ if name in plain else exp.NullSafeEQ)(
                this=_col(name, left), expression=_col(name, right)
            )
            for name in key_names(layout)
        )
    )


def _merged(op: str, stored: exp.Expression, added: exp.Expression) -> exp.Expression:
    """A stored aggregate combined with the same aggregate of new rows; null stands for "no
    value yet" (no stored cell, or a sum, minimum or maximum over no values), so coalesce keeps
    the side that has one."""
    combined = {
        "count": lambda: exp.Add(this=stored.copy(), expression=added.copy()),
        "sum": lambda: exp.Add(this=stored.copy(), expression=added.copy()),
        "min": lambda: exp.Least(this=stored.copy(), expressions=[added.copy()]),
        "max": lambda: exp.Greatest(this=stored.copy(), expressions=[added.copy()]),
    }[op]()
    return exp.Coalesce(this=combined, expressions=[stored, added])


def rows_as_cells(layout: RollupTable, table: str, columns: list[str]) -> list[exp.Expression]:
    """Stored rows shaped like rollup rows (one cell each, at the row's own instant), `columns`
    of them in that order: what a ragged window's edges add to the rollup's grains."""
    outputs: list[exp.Expression] = [
        exp.alias_(key_value(layout, k, table), k.column, quoted=True) for k in layout.keys
    ]
    time_name = layout.time_column.physical
    outputs.append(exp.alias_(_col(time_name, table), time_name, quoted=True))

    def present(field: str) -> exp.Expression:
        """1 when the row has a value of `field`, else 0: its count, or its set's size."""
        value = _col(layout.dataset.column(field).physical, table)
        return exp.If(
            this=exp.Is(this=value, expression=exp.Null()),
            true=exp.Literal.number(0),
            false=exp.Literal.number(1),
        )

    for aggregate in layout.aggregates:
        if aggregate.field is None:
            value: exp.Expression = exp.Literal.number(1)
        elif aggregate.op == "count":
            value = present(aggregate.field)
        else:
            value = _col(layout.dataset.column(aggregate.field).physical, table)
        outputs.append(exp.alias_(value, aggregate.column, quoted=True))

    def single(sketch: StoredSketch) -> exp.Expression:
        one: exp.Expression = exp.Array(expressions=[_sketch_input(layout, sketch, table)])
        if sketch.kind == "ids":
            field = _col(layout.dataset.column(sketch.field).physical, table)
            alias = f"i{sketch.column}"
            dictionary = _table(layout.dictionary(sketch.field), alias)
            found = exp.select(exp.ArrayAgg(this=_col("id", alias))).from_(dictionary)
            found = found.where(exp.EQ(this=_col("value", alias), expression=field))
            one = exp.Subquery(this=found)
        return exp.Anonymous(this=BUILD[sketch.kind], expressions=[one])

    sets = _stored_sets(layout, single, lambda sketch, _: present(sketch.field))
    every = [*outputs, *(exp.alias_(v, n, quoted=True) for n, v in sets)]
    named = {output.alias: output for output in every}
    return [named[n] for n in columns]


def _temporary(name: str, select: exp.Expression) -> exp.Create:
    return exp.Create(
        this=_table(name), kind="TABLE", replace=True, expression=select,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )  # fmt: skip


def append_statements(layout: RollupTable) -> tuple[str, ...]:
    """Store the cells of `_written` (the rows an append stored), with their aggregates, sets and
    sketches, as rows of the rollup's pending table: an insert of the batch's own cells, which
    reads nothing stored (the sets' ids are the batch's pairs made by
    `tally.rollups.dictionary` just before; a float field's are numbered here, in SQL:
    `mirrored`). Queries read the pending rows with the compacted ones (`stored_cells`), and
    `compact_statements` merges them in later, many batches at once.

    Why not merge each batch into its cells: a cell's set is rewritten whole by every batch that
    touches it. At 100M rows a batch in time order rewrote a 900 KB set of today's sessions
    (and a checkpoint the row group holding it); a batch spread over the year rewrote nearly
    every set of a daily rollup (about 500 MB): 33 % and 2 % of the appends' rate without
    rollups."""
    cells = aggregate_select(layout, _table(WRITTEN, "w"), "w", sketches=True, mapped=True)
    insert = exp.Insert(this=_table(layout.pending), by_name=True, expression=cells)
    return (*add_values(layout, WRITTEN, unmirrored=True), _sql(insert))


def cells_merged(
    layout: RollupTable,
    source: exp.Expression,
    columns: list[str] | None = None,
    gathered: bool = False,
) -> exp.Select:
    """One row per cell of `source` (rows of the rollup's shape, several per cell): counts and
    sums added (a sum over no values stays null), the least minimum and greatest maximum, the
    union of the sets and sketches, and each exact set's cardinality read off the union; with
    `columns`, those only, in that order. With `gathered`, each set and sketch column holds the
    list of the rows' ones instead, and no cardinality: a compaction merges that list with the
    stored set in one call, not building a union only to merge it again."""
    kinds = {"count": exp.Sum, "sum": exp.Sum, "min": exp.Min, "max": exp.Max}
    outputs: dict[str, exp.Expression] = {n: _col(n, "c") for n in key_names(layout)}
    for a in layout.aggregates:
        merged = kinds[a.op](this=_col(a.column, "c"))
        outputs[a.column] = exp.alias_(merged, a.column, quoted=True)

    def union(sketch: StoredSketch) -> exp.Expression:
        sets = exp.ArrayAgg(this=_col(sketch.column, "c"))
        return sets if gathered else exp.Anonymous(this=UNION[sketch.kind], expressions=[sets])

    if gathered:
        sets = ((s.column, union(s)) for s in layout.sketches)
    else:
        sets = _stored_sets(layout, union)
    outputs.update({n: exp.alias_(v, n, quoted=True) for n, v in sets})
    keys = key_names(layout)
    chosen = [n for n in columns or outputs if n not in keys]
    selected = [*(outputs[n] for n in keys), *(outputs[n] for n in chosen)]
    positions = [exp.Literal.number(i + 1) for i in range(len(keys))]
    grouped = exp.select(*selected).from_(source).group_by(*positions)
    if columns is None:
        return grouped
    return exp.select(*(_col(n) for n in columns)).from_(_subquery(grouped, "g"))


def stored_cells(
    layout: RollupTable, one_row_per_cell: bool, columns: list[str], pending: bool = True
) -> exp.Expression:
    """What a query reads as the rollup's rows, `columns` of them (a branch of a UNION reads
    every column it names, and a set column holds up to hundreds of MB): the compacted rows and
    the pending ones (every measure a query reads merges over rows alike), or with
    `one_row_per_cell` (a query reading stored cardinalities) each cell once: the compacted
    rows of cells with no pending row, and the cells with pending rows merged
    (`cells_merged`), which reads the sets of those cells only. Without `pending` (the dataset
    has no append waiting: `Rollups.has_pending`), the rollup's table alone: the union costs a
    few ms even over no pending row."""
    if not pending:
        return _table(layout.name, "c")
    main = _table(layout.name)
    if not one_row_per_cell:
        chosen = [_col(n) for n in columns]
        every = exp.union(
            exp.select(*chosen).from_(main),
            exp.select(*(c.copy() for c in chosen)).from_(_table(layout.pending)),
            distinct=False,
        )
        return _subquery(every, "c")
    waiting = exp.Exists(
        this=exp.select("1").from_(_table(layout.pending, "p")).where(_cell_match(layout, "m", "p"))
    )
    settled = exp.select(*(_col(n, "m") for n in columns)).from_(_table(layout.name, "m"))
    settled = settled.where(exp.Not(this=waiting))
    sets_of = {s.card: s.column for s in layout.sketches if s.card is not None}
    read = list(dict.fromkeys(sets_of.get(n, n) for n in [*key_names(layout), *columns]))
    touched = exp.union(
        exp.select(*(_col(n) for n in read)).from_(_table(layout.name, "m")).where(waiting.copy()),
        exp.select(*(_col(n) for n in read)).from_(_table(layout.pending)),
        distinct=False,
    )
    merged = cells_merged(layout, _subquery(touched, "c"), columns)
    return _subquery(exp.union(settled, merged, distinct=False), "c")


def compact_statements(layout: RollupTable) -> tuple[str, ...]:
    """Merge the pending rows into the rollup's cells, one row per cell (`cells_merged` of the
    pending rows, then merged with the stored row), and empty the pending table.

    One join of the pending cells with the rollup table's keys and aggregates gives each cell's
    merged aggregates and the row id of its stored row, if any (`_merged`); every touched cell is
    inserted, its stored sets and sketches read by row id and merged with the pending ones on the
    way (`_sets_merged`, never held in a table of their own: at 100M rows they are hundreds of MB),
    and then the stored rows are deleted by row id (rows a transaction inserts are numbered apart
    from the stored ones). The join reads no set: whichever side DuckDB builds its hash table on, it
    would otherwise copy every stored set (100M rows: 177 MB for a daily rollup, 190 ms, against ~12
    ms for the touched rows' sets). Key ranges of the pending cells prune the rollup's row groups
    (`_cell_match`). Not an UPDATE: a checkpoint rewrites the updated columns of every row group an
    update touched, and out-of-order rows touch them all (1M rows in random order: the commits after
    a MERGE cost 2.5x those after this)."""
    delta = _subquery(cells_merged(layout, _table(layout.pending, "c"), gathered=True), "d")
    values: dict[str, exp.Expression] = {n: _col(n, "d") for n in key_names(layout)}
    for a in layout.aggregates:
        values[a.column] = _merged(a.op, _col(a.column, "r"), _col(a.column, "d"))
    values.update({s.column: _col(s.column, "d") for s in layout.sketches})
    stored = exp.select(
        exp.alias_(exp.column(ROW_ID), STORED_ROW, quoted=True),
        *(_col(n) for n in key_names(layout)),
        *(_col(a.column) for a in layout.aggregates),
    ).from_(_table(layout.name))
    merged = exp.select(
        _col(STORED_ROW, "r"), *(exp.alias_(v, n, quoted=True) for n, v in values.items())
    )
    merged = merged.from_(delta).join(
        _subquery(stored, "r"), on=_cell_match(layout, "r", "d"), join_type="LEFT"
    )
    cells = _sets_merged(layout) if layout.sketches else exp.select("*").from_(_table(MERGED))
    rows = exp.select(exp.Star(except_=[_col(STORED_ROW)])).from_(_subquery(cells, "c"))
    rows = rows.order_by(_col(layout.time_column.physical))
    stored_rows = exp.Subquery(this=exp.select(_col(STORED_ROW)).from_(_table(MERGED)))
    steps = [
        _temporary(MERGED, merged),
        exp.Insert(this=_table(layout.name), by_name=True, expression=rows),
        exp.Delete(
            this=_table(layout.name),
            where=exp.Where(this=exp.In(this=exp.column(ROW_ID), query=stored_rows)),
        ),
        _drop_temporary(MERGED),
        exp.Delete(this=_table(layout.pending)),
    ]
    return tuple(_sql(s) for s in steps)


def _sets_merged(layout: RollupTable) -> exp.Select:
    """`_merged` with each set and sketch merged with the stored row's, and each exact set's
    cardinality: the stored sets read by row id, for the touched rows only."""
    sketches = [s.column for s in layout.sketches]
    kept = exp.select(
        exp.alias_(exp.column(ROW_ID), STORED_SET_ROW, quoted=True), *(_col(c) for c in sketches)
    ).from_(_table(layout.name))
    touched = exp.select(_col(STORED_ROW)).from_(_table(MERGED))
    kept = kept.where(exp.In(this=exp.column(ROW_ID), query=exp.Subquery(this=touched)))

    def merged(s: StoredSketch) -> exp.Expression:
        return exp.Anonymous(
            this=MERGE[s.kind], expressions=[_col(s.column, "s"), _col(s.column, "m")]
        )

    others = exp.Column(this=exp.Star(except_=[_col(c) for c in sketches]), table=_ident("m"))
    select = exp.select(
        others, *(exp.alias_(v, n, quoted=True) for n, v in _stored_sets(layout, merged))
    ).from_(_table(MERGED, "m"))
    return select.join(
        _subquery(kept, "s"),
        on=exp.EQ(this=_col(STORED_SET_ROW, "s"), expression=_col(STORED_ROW, "m")),
        join_type="LEFT",
    )


def _drop_temporary(name: str) -> exp.Drop:
    return exp.Drop(tables=[_table(name)], kind="TABLE")


def _within_cells(layout: RollupTable, table: str) -> exp.Expression:
    """The stored rows' instants from the first touched grain's start to the last one's end:
    a filter on the time column itself, which DuckDB checks against each row group's range,
    so a scan for the touched cells skips the table outside them."""
    time = layout.time_column.physical
    first = exp.select(exp.Min(this=_col(time, "e"))).from_(_table(CELLS, "e"))
    last = exp.select(exp.Max(this=_col(time, "e"))).from_(_table(CELLS, "e"))
    grain = exp.Interval(
        this=exp.Literal.string(str(layout.grain_seconds)), unit=exp.Var(this="SECOND")
    )
    return exp.and_(
        exp.GTE(this=_col(time, table), expression=exp.Subquery(this=first)),
        exp.LT(
            this=_col(time, table),
            expression=exp.Add(this=exp.Subquery(this=last), expression=grain),
        ),
    )


def upsert_statements(layout: RollupTable) -> tuple[str, ...]:
    """Recompute every cell that `_replaced` rows left or `_written` rows entered, from the
    stored rows within the touched grains' range (its pending rows, if any, dropped)."""
    names = key_names(layout)

    def cells_of(source: str) -> exp.Select:
        key = _key(layout, "x")
        return exp.select(
            *(exp.alias_(e, n, quoted=True) for e, n in zip(key, names, strict=True))
        ).from_(_table(source, "x"))

    make = _temporary(CELLS, exp.union(cells_of(WRITTEN), cells_of(REPLACED), distinct=True))
    time = layout.time_column.physical
    in_cells: list[tuple[exp.Expression | None, exp.Expression]] = [
        (None, _cell_match(layout, "r", "c"))
    ]
    if time in _never_null(layout):
        # A rollup rebuilt over rows stored before the time column became required holds a
        # cell whose grain is null: plain equality never matches it. The test of the grain
        # stays outside the correlated EXISTS, where DuckDB skips row groups by it.
        same = (exp.NullSafeEQ(this=_col(n, "r"), expression=_col(n, "c")) for n in names)
        in_cells.append((exp.Is(this=_col(time, "r"), expression=exp.Null()), exp.and_(*same)))

    def emptied(table: str, outer: exp.Expression | None, match: exp.Expression) -> exp.Delete:
        cells = exp.select("1").from_(_table(CELLS, "c")).where(match.copy())
        where = exp.and_(outer.copy(), exp.Exists(this=cells)) if outer else exp.Exists(this=cells)
        return exp.Delete(this=_table(table, "r"), where=exp.Where(this=where))

    # Pending rows of a recomputed cell are in the stored rows it is recomputed from (rows an
    # append stored before the dataset became an upsert one): they would count twice.
    deletes = [emptied(t, *m) for m in in_cells for t in (layout.name, layout.pending)]
    touched = exp.and_(
        *(
            exp.NullSafeEQ(this=_col(n, "c"), expression=e)
            for n, e in zip(names, _key(layout, "t"), strict=True)
        )
    )
    rows = exp.select("1").from_(_table(CELLS, "c")).where(touched)

    def stored(where: exp.Expression) -> exp.Select:
        select = exp.select("*").from_(_table(layout.dataset.name, "t"))
        return select.where(exp.and_(where, exp.Exists(this=rows.copy())))

    # Rows with no time value have a cell of their own (no grain), outside every range: a
    # branch apart, so the range stays a filter DuckDB checks against row groups.
    no_time = exp.Is(this=_col(time, "t"), expression=exp.Null())
    source = _subquery(
        exp.union(stored(_within_cells(layout, "t")), stored(no_time), distinct=False), "t"
    )
    insert = exp.Insert(
        this=_table(layout.name), expression=aggregate_select(layout, source, "t", sketches=True)
    )
    return (
        *add_values(layout, WRITTEN),
        *(_sql(s) for s in (make, *deletes, insert)),
        f"DROP TABLE {CELLS}",
    )


@dataclass(frozen=True)
class Rebuild:
    """The statements that fill a rollup afresh, in one transaction: `clear` it (and number
    every stored value its sets of ids need), fill it for each tenant `tenants` lists
    (`per_tenant`, parameter: the primary tenant's value), then fill what is left (`rest`),
    then `place` the cells built. Across tenants there is no tenant to go by: `rest` fills it
    whole."""

    clear: tuple[str, ...]
    per_tenant: str | None
    rest: str
    tenants: str | None
    place: tuple[str, ...]


def rebuild_statements(layout: RollupTable) -> Rebuild:
    """A rebuild goes tenant by tenant (so its progress can be shown) into a temporary table,
    then fills every tenant not yet in it (one that arrived after the list was read), then
    stores the cells in time order. Appends find their cells by the grain's range
    (`_cell_match`), which skips row groups only when each holds a narrow range of grains:
    stored tenant by tenant, every row group spanned the whole year. A dictionary keeps the
    ids it gave, so cells built again get the same sets."""
    empty = exp.select("*").from_(_table(layout.name)).limit(0)
    clear = (
        _sql(exp.Delete(this=_table(layout.name))),
        _sql(exp.Delete(this=_table(layout.pending))),
        _sql(_temporary(BUILT, empty)),
        *add_values(layout, layout.dataset.name),
    )
    ordered = exp.select("*").from_(_table(BUILT)).order_by(*key_names(layout)[::-1])
    place = (_sql(exp.Insert(this=_table(layout.name), expression=ordered)), drop(BUILT))

    def fill(where: exp.Expression | None) -> str:
        rows = exp.select("*").from_(_table(layout.dataset.name, "t"))
        source = _subquery(rows if where is None else rows.where(where), "t")
        cells = aggregate_select(layout, source, "t", sketches=True)
        return _sql(exp.Insert(this=_table(BUILT), expression=cells))

    if layout.rollup.across_tenants:
        return Rebuild(clear, None, fill(None), None, place)
    tenant = layout.dataset.column(layout.dataset.primary_tenant).physical
    one = exp.NullSafeEQ(this=_col(tenant, "t"), expression=exp.Placeholder())
    present = exp.select("1").from_(_table(BUILT, "r"))
    present = present.where(exp.NullSafeEQ(this=_col(tenant, "r"), expression=_col(tenant, "t")))
    rest = exp.Not(this=exp.Exists(this=present))
    tenants = exp.select(_col(tenant)).from_(_table(layout.dataset.name)).distinct()
    return Rebuild(clear, fill(one), fill(rest), _sql(tenants), place)
