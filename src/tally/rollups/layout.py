"""The shape of a rollup table, read off its declaration, and the dataset that describes it.

A rollup table holds one row per (tenant columns, dimensions, grain start) with the row count
and, per measured field, its count of non-null values and the declared sums, minimums and
maximums, and the declared sketches of its values (BLOB columns, see `tally.rollups.sketches`):
the exact set of its distinct values as a roaring bitmap of ids from the rollup's dictionary of
that field (a table of value -> dense id), a HyperLogLog sketch, a KLL sketch. Beside each exact
set, its cardinality (a BIGINT column): where a query's groups each cover one cell, a distinct
count is that number, and the set is not read. The tenant columns are in every rollup, so a
tenant scope can always be applied, except in one declared `across_tenants`: its cells span
every tenant, and only a caller reading all tenants, testing no tenant column, uses it. The
grain start sits in a column named like the dataset's time column, and every stored dimension
keeps its name: the same query compiles against the rollup's dataset with only its measures
re-spelled.

A dimension that is a key of a JSON column (`metadata.channel`) is kept as the key's text, in a
string column of its own (`_json0__metadata__channel`): the text every query reads of the key
(`Dialect.json_text`: a string as it is, another value in its JSON spelling, null when missing or
null), which decides every test a query may apply to it. The rollup's dataset keeps the JSON
column, so the query resolves `metadata.channel` as over the rows; the rollup's compiler reads
the text column instead of extracting the key (`RollupCompiler._field`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tally.catalog.model import Column, ColumnType, Dataset
from tally.catalog.rollups import Rollup, dictionary_table_name, json_key, rollup_table_name

COUNT_COLUMN = "_count"


def non_null_column(field: str) -> str:
    return f"_n__{field.replace('.', '__')}"


def aggregate_column(op: str, field: str) -> str:
    return f"_{op}__{field.replace('.', '__')}"


def cardinality_column(field: str) -> str:
    """The column holding the size of the cell's exact set of `field`'s values."""
    return aggregate_column("card", field)


@dataclass(frozen=True)
class StoredAggregate:
    """One measure column: `op` (count, sum, min or max) of `field` (None: every row)."""

    column: str
    op: str
    field: str | None


@dataclass(frozen=True)
class StoredSketch:
    """One BLOB column: `kind` (ids, hll or kll) of `field`'s non-null values in the cell."""

    column: str
    kind: str
    field: str

    @property
    def card(self) -> str | None:
        """The column of the set's cardinality (exact sets only: a sketch's is an estimate)."""
        return cardinality_column(self.field) if self.kind == "ids" else None


@dataclass(frozen=True)
class CellKey:
    """A part of a cell's key besides its grain: a tenant column or a dimension as queries name
    it (`field`), the rollup table's column that holds it, the dataset column it is read from,
    and for a key of a JSON column that key (the column holds its text)."""

    field: str
    column: str
    source: Column
    json_key: str | None = None


@dataclass(frozen=True)
class RollupTable:
    dataset: Dataset
    rollup: Rollup

    @property
    def name(self) -> str:
        return rollup_table_name(self.dataset.name, self.rollup.name)

    @property
    def pending(self) -> str:
        """The table of appended cells not yet merged into this one
        (`statements.compact_statements`)."""
        return pending_name(self.name)

    @property
    def label(self) -> str:
        """How `meta.served_from` names it."""
        return self.rollup.name

    @property
    def grain_seconds(self) -> int:
        return self.rollup.grain_seconds

    @functools.cached_property
    def keys(self) -> tuple[CellKey, ...]:
        """Tenant columns (none across tenants), then dimensions (each once): the key of a row,
        with the grain."""
        found: list[CellKey] = []
        tenants = () if self.rollup.across_tenants else self.dataset.tenant_columns
        for name in dict.fromkeys((*tenants, *self.rollup.dimensions)):
            addressed = json_key(self.dataset, name)
            if addressed is None:
                column = self.dataset.column(name)
                found.append(CellKey(name, column.physical, column))
                continue
            source, key = self.dataset.column(addressed[0]), addressed[1]
            # Numbered: DuckDB's column names ignore case, and keys do not.
            texts = sum(1 for k in found if k.json_key is not None)
            stored = f"_json{texts}__{source.physical}__{key}"
            found.append(CellKey(name, stored, source, key))
        return tuple(found)

    @functools.cached_property
    def text_columns(self) -> dict[str, str]:
        """Each JSON key dimension (as queries name it) -> the column holding its text."""
        return {k.field: k.column for k in self.keys if k.json_key is not None}

    @property
    def time_column(self) -> Column:
        return self.dataset.column(self.dataset.time_column or "")

    @functools.cached_property
    def aggregates(self) -> tuple[StoredAggregate, ...]:
        stored = [StoredAggregate(COUNT_COLUMN, "count", None)]
        for field in self.rollup.fields:
            stored.append(StoredAggregate(non_null_column(field), "count", field))
            for op in ("sum", "min", "max"):
                if op in self.rollup.ops_of(field):
                    stored.append(StoredAggregate(aggregate_column(op, field), op, field))
        return tuple(stored)

    @functools.cached_property
    def sketches(self) -> tuple[StoredSketch, ...]:
        return tuple(
            StoredSketch(aggregate_column(kind, field), kind, field)
            for field in self.rollup.fields
            for kind in ("ids", "hll", "kll")
            if kind in self.rollup.sketches_of(field)
        )

    @functools.cached_property
    def cards(self) -> tuple[str, ...]:
        """The cardinality columns of the exact sets, in the sets' order."""
        return tuple(s.card for s in self.sketches if s.card is not None)

    def dictionary(self, field: str) -> str:
        """The table numbering the field's distinct values for sets of ids: one per dataset
        field, shared by every rollup keeping a set of it (one mirror in memory, one
        numbering per batch)."""
        return dictionary_name(self.dataset, field)

    @property
    def dictionaries(self) -> tuple[str, ...]:
        """The dictionary tables its exact sets number values with."""
        return tuple(self.dictionary(s.field) for s in self.sketches if s.kind == "ids")

    def sketch(self, kind: str, field: str) -> StoredSketch | None:
        return next((s for s in self.sketches if (s.kind, s.field) == (kind, field)), None)

    @functools.cached_property
    def columns(self) -> frozenset[str]:
        """The dataset's fields a query may touch and still be answered here."""
        return frozenset(k.field for k in self.keys)

    def stores(self, op: str, field: str) -> bool:
        return any(a.op == op and a.field == field for a in self.aggregates)

    @functools.cached_property
    def measure_columns(self) -> tuple[Column, ...]:
        """The aggregates' columns, typed as what they hold."""
        measures = []
        for aggregate in self.aggregates:
            if aggregate.op == "count":
                kind, scale = ColumnType.INT, None
            else:
                source = self.dataset.column(aggregate.field or "")
                kind, scale = source.type, source.scale
            measures.append(Column(name=aggregate.column, type=kind, scale=scale))
        return tuple(measures)

    @functools.cached_property
    def as_dataset(self) -> Dataset:
        """The rollup table as a dataset: stored group columns and the grain under their own
        names, the JSON columns whose keys it keeps (read through `text_columns`), and the
        measure columns, so filters, buckets and scope compile unchanged. Across tenants the
        tenant columns are named (a dataset has them) but not stored: the match lets no query
        that reads one, or is scoped by one, use the rollup."""
        tenants = [self.dataset.column(t) for t in self.dataset.tenant_columns]
        stored = [k.source for k in self.keys if k.json_key is None]
        stored += [c for c in tenants if c not in stored]
        json_columns = dict.fromkeys(k.source for k in self.keys if k.json_key is not None)
        return Dataset(
            name=self.name,
            columns=(*stored, *json_columns, self.time_column, *self.measure_columns),
            tenant_columns=self.dataset.tenant_columns,
            time_column=self.dataset.time_column,
            key_columns=self.dataset.tenant_columns,
        )

    @functools.cached_property
    def fingerprint(self) -> str:
        """Changes whenever the table's meaning does: then it is rebuilt before it answers."""
        columns = [(c.physical, c.type.value, c.scale) for c in self.as_dataset.stored_columns]
        aggregates = [(a.op, a.field) for a in self.aggregates]
        sketches = [
            (s.kind, s.field, self.dictionary(s.field) if s.kind == "ids" else None)
            for s in self.sketches
        ]
        texts = [(k.field, k.column) for k in self.keys if k.json_key is not None]
        cards = [("cardinality", self.cards)] if self.cards else []
        across = ["across tenants"] if self.rollup.across_tenants else []
        # Cells of a required time column are matched by plain equality on the grain: made
        # required later, rows stored with no time would keep a cell no append matches. (Said
        # of a nullable one, so the fingerprints of the common case, required, stayed as they
        # were before this mattered.)
        nullable = ["time nullable"] if self.time_column.nullable else []
        extra = [part for part in (sketches, texts, cards, across, nullable) if part]
        return repr((self.grain_seconds, columns, aggregates, *extra))

    @property
    def identity(self) -> tuple[str, str]:
        return self.name, self.fingerprint


def pending_name(rollup_table: str) -> str:
    return f"{rollup_table}__pending"


def dictionary_name(dataset: Dataset, field: str) -> str:
    return dictionary_table_name(dataset.name, field)


def rollup_tables(dataset: Dataset) -> tuple[RollupTable, ...]:
    return tuple(RollupTable(dataset, r) for r in dataset.rollups)
