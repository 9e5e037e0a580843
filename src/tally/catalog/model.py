"""Datasets as data: what a dataset holds, how it is scoped, and what each column may be asked.

Everything downstream (validation, SQL, ingestion, profiles) reads these objects instead of
hard-coding columns, so adding a dataset is adding a file.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tally.catalog.sources import Source, SourcePath
from tally.catalog.vocabulary import (
    ARRAY_OPS,
    BASE_MEASURES,
    EMPTINESS_OPS,
    EQUALITY_OPS,
    NULL_OPS,
    ORDER_OPS,
    TEXT_OPS,
    FilterOp,
    MeasureOp,
)


class ColumnType(StrEnum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DATE = "date"
    STRING_ARRAY = "string[]"
    JSON = "json"
    FLOAT_MAP = "map<string,float>"
    DECIMAL = "decimal"


NUMERIC_TYPES = frozenset({ColumnType.INT, ColumnType.FLOAT, ColumnType.DECIMAL})
MAX_DECIMAL_SCALE = 9
ORDERED_TYPES = NUMERIC_TYPES | {ColumnType.TIMESTAMP, ColumnType.DATE, ColumnType.STRING}
_EQ_NEQ = (FilterOp.EQ, FilterOp.NEQ)

DEFAULT_OPS: dict[ColumnType, tuple[FilterOp, ...]] = {
    ColumnType.STRING: EQUALITY_OPS + ORDER_OPS + TEXT_OPS,
    ColumnType.INT: EQUALITY_OPS + ORDER_OPS,
    ColumnType.FLOAT: EQUALITY_OPS + ORDER_OPS,
    ColumnType.DECIMAL: EQUALITY_OPS + ORDER_OPS,
    ColumnType.BOOL: _EQ_NEQ,
    ColumnType.TIMESTAMP: _EQ_NEQ + ORDER_OPS,
    ColumnType.DATE: EQUALITY_OPS + ORDER_OPS,
    ColumnType.STRING_ARRAY: ARRAY_OPS,
    ColumnType.JSON: (),
    ColumnType.FLOAT_MAP: EMPTINESS_OPS,
}

_COMPARABLE = (MeasureOp.COUNT, MeasureOp.COUNT_DISTINCT, MeasureOp.MIN, MeasureOp.MAX)
DEFAULT_MEASURES: dict[ColumnType, tuple[MeasureOp, ...]] = {
    ColumnType.STRING: _COMPARABLE,
    ColumnType.INT: BASE_MEASURES,
    ColumnType.FLOAT: BASE_MEASURES,
    ColumnType.DECIMAL: BASE_MEASURES,
    ColumnType.BOOL: (MeasureOp.COUNT, MeasureOp.COUNT_DISTINCT),
    ColumnType.TIMESTAMP: _COMPARABLE,
    ColumnType.DATE: _COMPARABLE,
    ColumnType.STRING_ARRAY: (MeasureOp.COUNT,),
    ColumnType.JSON: (MeasureOp.COUNT,),
    ColumnType.FLOAT_MAP: (MeasureOp.COUNT,),
}


DERIVATIONS = ("ref_object_id", "path_segment")


class Derived(BaseModel):
    """A column computed from another one in SQL, e.g. the object id inside a ref URI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fn: str = Field(pattern="^(" + "|".join(DERIVATIONS) + ")$")
    of: str
    index: int | None = None


class Column(BaseModel):
    """One column; `name` may be a dotted path into a nested record (`issuer.name`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
    type: ColumnType
    scale: int | None = Field(
        None, ge=0, le=MAX_DECIMAL_SCALE, description="Digits after the point of a decimal."
    )
    from_: str | None = Field(
        None,
        alias="from",
        description="External datasets: the source column, or column:json.path inside one.",
    )
    nullable: bool = True
    ops: tuple[FilterOp, ...] | None = None
    measures: tuple[MeasureOp, ...] | None = None
    enum: tuple[str, ...] | None = None
    currency_column: str | None = None
    derived: Derived | None = None
    description: str = ""

    @property
    def physical(self) -> str:
        """Storage name: nested paths are flattened so every engine stores plain columns."""
        return self.name.replace(".", "__")

    @property
    def allowed_ops(self) -> tuple[FilterOp, ...]:
        """Explicit `ops` narrow; the defaults of a type include the null tests on every
        column (on one that is never null they are simply constant)."""
        return self.ops if self.ops is not None else DEFAULT_OPS[self.type] + NULL_OPS

    @property
    def allowed_measures(self) -> tuple[MeasureOp, ...]:
        return self.measures if self.measures is not None else DEFAULT_MEASURES[self.type]

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def source_path(self) -> SourcePath:
        """Where an external dataset reads this column (by default, its own physical name)."""
        return SourcePath.parse(self.from_) if self.from_ else SourcePath(column=self.physical)

    @model_validator(mode="after")
    def _scale_fits_type(self) -> Column:
        if (self.type is ColumnType.DECIMAL) != (self.scale is not None):
            raise ValueError(f"column {self.name}: a decimal needs a scale, other types take none")
        if self.from_ is not None:
            SourcePath.parse(self.from_)
        return self


class RowAccess(BaseModel):
    """Row-level rule: below admin, a principal reads only its own rows and its teams' rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_column: str
    teams_column: str | None = None


class Dataset(BaseModel):
    """A table: its columns, its tenant keys, its time axis, its write mode, and (for data Tally
    reads in place) its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    description: str = ""
    columns: tuple[Column, ...]
    tenant_columns: tuple[str, ...] = Field(min_length=1)
    time_column: str | None = None
    key_columns: tuple[str, ...] = ("id",)
    mode: str = Field(default="append", pattern=r"^(append|upsert)$")
    cache_ttl_seconds: float | None = None
    row_access: RowAccess | None = None
    source: Source | None = Field(
        None, description="Where an external dataset's rows live; none: Tally owns the table."
    )

    @model_validator(mode="after")
    def _references_exist(self) -> Dataset:
        names = {c.name for c in self.columns}
        if len(names) != len(self.columns):
            raise ValueError(f"dataset {self.name}: duplicate column names")
        access = self.row_access
        row_refs = [access.subject_column, *filter(None, [access.teams_column])] if access else []
        for ref in (
            *self.tenant_columns,
            *self.key_columns,
            *filter(None, [self.time_column]),
            *row_refs,
        ):
            if ref not in names:
                raise ValueError(f"dataset {self.name}: unknown column {ref!r}")
        if self.time_column and self.column(self.time_column).type not in (
            ColumnType.TIMESTAMP,
            ColumnType.DATE,
        ):
            raise ValueError(f"dataset {self.name}: time column must be a timestamp or date")
        if self.source is None and any(c.from_ for c in self.columns):
            raise ValueError(f"dataset {self.name}: `from` needs a source")
        for col in self.columns:
            if col.currency_column and col.currency_column not in names:
                raise ValueError(f"column {col.name}: unknown currency column")
            if col.derived is not None:
                source = next((c for c in self.columns if c.name == col.derived.of), None)
                if source is None or source.derived is not None:
                    raise ValueError(f"column {col.name}: derived from an unknown stored column")
                if col.derived.fn == "path_segment" and col.derived.index is None:
                    raise ValueError(f"column {col.name}: path_segment needs an index")
        return self

    @property
    def owned(self) -> bool:
        """Tally creates, writes and indexes only the tables of datasets it owns."""
        return self.source is None

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """The columns that exist in storage (derived ones are computed when read)."""
        return tuple(c for c in self.columns if c.derived is None)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def has_column(self, name: str) -> bool:
        return any(c.name == name for c in self.columns)

    @property
    def primary_tenant(self) -> str:
        return self.tenant_columns[0]

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the whole definition: cached answers, compiled statements and
        remembered watermarks are keyed by it, so none made for an earlier definition of a
        reloaded dataset is used again. Computed once per object (a query reads it three
        times): build a changed dataset by validation, as the loader does, since
        `model_copy(update=...)` would carry the original's value."""
        definition = self.model_dump_json(by_alias=True).encode()
        return hashlib.sha256(definition).hexdigest()[:16]

    def describe(self) -> dict:
        """The public view of the dataset served by `GET /v1/datasets/{name}`."""
        return {
            "name": self.name,
            "description": self.description,
            "mode": self.mode,
            "source": self.source.kind if self.source else "owned",
            "time_column": self.time_column,
            "tenant_columns": list(self.tenant_columns),
            "key_columns": list(self.key_columns),
            "columns": [
                {
                    "name": c.name,
                    "type": c.type.value,
                    **({"scale": c.scale} if c.scale is not None else {}),
                    "nullable": c.nullable,
                    "operators": list(c.allowed_ops),
                    "measures": list(c.allowed_measures),
                    **({"enum": list(c.enum)} if c.enum else {}),
                    **({"derived_from": c.derived.of} if c.derived else {}),
                    **({"description": c.description} if c.description else {}),
                }
                for c in self.columns
            ],
        }
