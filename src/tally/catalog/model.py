"""Datasets as data: what a dataset holds, how it is scoped, and what each column may be asked.

Everything downstream (validation, SQL, ingestion, profiles) reads these objects instead of
hard-coding columns, so adding a dataset is adding a file.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from tally.catalog.rollups import Rollup, check_rollups
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
DECIMAL_PRECISION = 18
"""Digits a decimal column holds (before and after the point): DECIMAL(18, s) is 8 bytes on
every engine, and a sum of up to 10^20 such values still fits the engines' 38-digit sums."""
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
Location = tuple[str | int, ...]


def located(title: str, problems: list[tuple[Location, str]]) -> ValidationError:
    """Cross-field problems as a validation error whose entries name the offending field
    (`tenant_columns.0`), so a file's author is pointed at the line to change."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("dataset_reference", "{reason}", {"reason": reason}),
                loc=loc,
                input=None,
            )
            for loc, reason in problems
        ],
    )


class Derived(BaseModel):
    """A column computed from another one in SQL, e.g. the object id inside a ref URI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fn: Literal["ref_object_id", "path_segment"] = Field(
        description="ref_object_id: the object id of a ref URI (last path segment before "
        "':digest'); path_segment: the path segment at `index` (negative counts from the end)."
    )
    of: str = Field(description="The stored column it is computed from.")
    index: int | None = Field(None, description="path_segment: which segment.")


class Column(BaseModel):
    """One column; `name` may be a dotted path into a nested record (`issuer.name`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(
        pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$",
        description="Lowercase letters, digits and _; a dotted name is a field of a nested "
        "record (`amount.currency`), stored flattened.",
    )
    type: ColumnType = Field(description="What the column holds; decides its default operators.")
    scale: int | None = Field(
        None, ge=0, le=MAX_DECIMAL_SCALE, description="Digits after the point of a decimal."
    )
    from_: str | None = Field(
        None,
        alias="from",
        description="External datasets: the source column, or column:json.path inside one.",
    )
    nullable: bool = Field(True, description="false: ingestion refuses a row without it.")
    ops: tuple[FilterOp, ...] | None = Field(
        None, description="The filter operators allowed, narrowing the type's defaults."
    )
    measures: tuple[MeasureOp, ...] | None = Field(
        None, description="The measures allowed, narrowing the type's defaults."
    )
    enum: tuple[str, ...] | None = Field(
        None, description="The only values a string column holds; ingestion refuses others."
    )
    currency_column: str | None = Field(
        None, description="The column naming the currency of this money column."
    )
    derived: Derived | None = Field(
        None, description="Computed from another column when read; never stored."
    )
    description: str = Field("", description="Shown by GET /v1/datasets/{name}.")

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
    def _fits_type(self) -> Column:
        """A scale only on a decimal; `ops` and `measures` only narrow the type's defaults
        (an operator the type's SQL does not support cannot be switched on by a file; the
        shorthands p50..p99 follow `percentile`, so they are not listed)."""
        problems: list[tuple[Location, str]] = []
        if (self.type is ColumnType.DECIMAL) != (self.scale is not None):
            reason = "a decimal needs a scale" if self.scale is None else "only a decimal has one"
            problems.append((("scale",), reason))
        if self.from_ is not None:
            try:
                SourcePath.parse(self.from_)
            except ValueError as exc:
                problems.append((("from",), str(exc)))
        narrowed = (
            ("ops", DEFAULT_OPS[self.type] + NULL_OPS),
            ("measures", DEFAULT_MEASURES[self.type]),
        )
        for field, allowed in narrowed:
            for i, op in enumerate(getattr(self, field) or ()):
                if op not in allowed:
                    names = ", ".join(allowed) or "none"
                    reason = f"{op.value!r} is not allowed on type {self.type.value} ({names})"
                    problems.append(((field, i), reason))
        if problems:
            raise located("Column", problems)
        return self


class RowAccess(BaseModel):
    """Row-level rule: below admin, a principal reads only its own rows and its teams' rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_column: str = Field(description="Holds the subject (user) who owns the row.")
    teams_column: str | None = Field(
        None, description="A string[] column of the teams that share the row."
    )


DATASET_NAME = r"^[a-z][a-z0-9_]{0,62}$"


class Dataset(BaseModel):
    """A table: its columns, its tenant keys, its time axis, its write mode, and (for data Tally
    reads in place) its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=DATASET_NAME,
        description="The name queries use: lowercase letters, digits and _, at most 63.",
    )
    description: str = Field("", description="Shown by GET /v1/datasets/{name}.")
    columns: tuple[Column, ...] = Field(min_length=1, description="The columns, in order.")
    tenant_columns: tuple[str, ...] = Field(
        min_length=1,
        description="Columns a token's scope restricts; the first one is required of every "
        "token below all-tenants.",
    )
    time_column: str | None = Field(
        None, description="The timestamp or date column that windows and buckets read."
    )
    key_columns: tuple[str, ...] = Field(
        ("id",), description="With the primary tenant column, what identifies a row."
    )
    mode: Literal["append", "upsert"] = Field(
        "append",
        description="Owned datasets: append keeps the first row of a key, upsert the last.",
    )
    cache_ttl_seconds: float | None = Field(
        None, ge=0, description="How long answers are cached; default: TALLY_CACHE_TTL_S."
    )
    row_access: RowAccess | None = Field(
        None, description="Below admin, a principal reads only its own and its teams' rows."
    )
    source: Source | None = Field(
        None, description="Where an external dataset's rows live; none: Tally owns the table."
    )
    rollups: tuple[Rollup, ...] = Field(
        (), description="Pre-aggregated tables kept in step with ingestion (owned datasets)."
    )

    @model_validator(mode="after")
    def _references_exist(self) -> Dataset:
        problems: list[tuple[Location, str]] = []
        names: set[str] = set()
        for i, col in enumerate(self.columns):
            if col.name in names:
                problems.append((("columns", i, "name"), f"a second column {col.name!r}"))
            names.add(col.name)

        def refer(loc: Location, name: str) -> bool:
            if name not in names:
                problems.append((loc, f"unknown column {name!r}"))
            return name in names

        for i, name in enumerate(self.tenant_columns):
            refer(("tenant_columns", i), name)
        if "key_columns" in self.model_fields_set or "id" in names:
            for i, name in enumerate(self.key_columns):
                refer(("key_columns", i), name)
        else:
            problems.append((("key_columns",), "required: the default [id] is not a column"))
        time = self.time_column
        if time and refer(("time_column",), time):
            if self.column(time).type not in (ColumnType.TIMESTAMP, ColumnType.DATE):
                problems.append((("time_column",), "the time column is a timestamp or a date"))
        if self.row_access is not None:
            refer(("row_access", "subject_column"), self.row_access.subject_column)
            teams = self.row_access.teams_column
            if teams and refer(("row_access", "teams_column"), teams):
                if self.column(teams).type is not ColumnType.STRING_ARRAY:
                    problems.append((("row_access", "teams_column"), "teams are a string[] column"))
        for i, col in enumerate(self.columns):
            if col.from_ and self.source is None:
                problems.append((("columns", i, "from"), "`from` needs a source"))
            if col.currency_column:
                refer(("columns", i, "currency_column"), col.currency_column)
            if col.derived is not None:
                origin = next((c for c in self.columns if c.name == col.derived.of), None)
                if origin is None or origin.derived is not None:
                    problems.append((("columns", i, "derived", "of"), "not a stored column"))
                if col.derived.fn == "path_segment" and col.derived.index is None:
                    problems.append((("columns", i, "derived", "index"), "path_segment needs one"))
        if problems:
            raise located("Dataset", problems)
        check_rollups(self)
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
