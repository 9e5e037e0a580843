"""The shape of a rollup table, read off its declaration, and the dataset that describes it.

A rollup table holds one row per (tenant columns, dimensions, grain start) with the row count
and, per measured field, its count of non-null values and the declared sums, minimums and
maximums, and the declared sketches of its values (BLOB columns, see `tally.rollups.sketches`):
the exact set of its distinct values as a roaring bitmap of ids from the rollup's dictionary of
that field (a table of value -> dense id), a HyperLogLog sketch, a KLL sketch. The tenant
columns are in every rollup, so a tenant scope can always be applied. The grain start sits in a
column named like the dataset's time column, and every dimension keeps its name: the same query
compiles against the rollup's dataset with only its measures re-spelled.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tally.catalog.model import Column, ColumnType, Dataset
from tally.catalog.rollups import Rollup

COUNT_COLUMN = "_count"


def non_null_column(field: str) -> str:
    return f"_n__{field.replace('.', '__')}"


def aggregate_column(op: str, field: str) -> str:
    return f"_{op}__{field.replace('.', '__')}"


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


@dataclass(frozen=True)
class RollupTable:
    dataset: Dataset
    rollup: Rollup

    @property
    def name(self) -> str:
        return f"{self.dataset.name}__rollup__{self.rollup.name}"

    @property
    def label(self) -> str:
        """How `meta.served_from` names it."""
        return self.rollup.name

    @property
    def grain_seconds(self) -> int:
        return self.rollup.grain_seconds

    @functools.cached_property
    def group_columns(self) -> tuple[Column, ...]:
        """Tenant columns, then dimensions (each once): the key of a row, with the grain."""
        names = dict.fromkeys((*self.dataset.tenant_columns, *self.rollup.dimensions))
        return tuple(self.dataset.column(n) for n in names)

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

    def dictionary(self, field: str) -> str:
        """The table numbering the field's distinct values for this rollup's sets of ids."""
        return f"{self.name}__ids__{field.replace('.', '__')}"

    def sketch(self, kind: str, field: str) -> StoredSketch | None:
        return next((s for s in self.sketches if (s.kind, s.field) == (kind, field)), None)

    @functools.cached_property
    def columns(self) -> frozenset[str]:
        """The dataset's fields a query may touch and still be answered here."""
        return frozenset(c.name for c in self.group_columns)

    def stores(self, op: str, field: str) -> bool:
        return any(a.op == op and a.field == field for a in self.aggregates)

    @functools.cached_property
    def as_dataset(self) -> Dataset:
        """The rollup table as a dataset: group columns and the grain under their own names,
        and the measure columns, so filters, buckets and scope compile unchanged."""
        measures = []
        for aggregate in self.aggregates:
            if aggregate.op == "count":
                kind, scale = ColumnType.INT, None
            else:
                source = self.dataset.column(aggregate.field or "")
                kind, scale = source.type, source.scale
            measures.append(Column(name=aggregate.column, type=kind, scale=scale))
        return Dataset(
            name=self.name,
            columns=(*self.group_columns, self.time_column, *measures),
            tenant_columns=self.dataset.tenant_columns,
            time_column=self.dataset.time_column,
            key_columns=self.dataset.tenant_columns,
        )

    @functools.cached_property
    def fingerprint(self) -> str:
        """Changes whenever the table's meaning does: then it is rebuilt before it answers."""
        columns = [(c.physical, c.type.value, c.scale) for c in self.as_dataset.stored_columns]
        aggregates = [(a.op, a.field) for a in self.aggregates]
        sketches = [(s.kind, s.field) for s in self.sketches]
        return repr((self.grain_seconds, columns, aggregates, *([sketches] if sketches else [])))

    @property
    def identity(self) -> tuple[str, str]:
        return self.name, self.fingerprint


def rollup_tables(dataset: Dataset) -> tuple[RollupTable, ...]:
    return tuple(RollupTable(dataset, r) for r in dataset.rollups)
