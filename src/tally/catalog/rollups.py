"""Rollups as declared in a dataset file (`rollups:`): pre-aggregated tables of an owned dataset.

A rollup names its dimensions (plain stored columns), its measures (count, and sum, min, max of
numeric or ordered fields; an average is a sum over a count, so it needs no declaration) and a
time grain that divides a day, so grains are counted from UTC midnight and every IANA offset in
use today (:00, :30, :45) lands on a 15-minute grain boundary. Whether a rollup answers a query
is decided per query (`tally.rollups.match`), never by the declaration.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from tally.catalog.model import Column, Dataset

MINUTES_PER_DAY = 1440
_GRAIN = re.compile(r"^([1-9][0-9]{0,3}) ?(minute|hour)s?$")


def grain_minutes(text: str) -> int:
    """`15 minutes` -> 15, `1 hour` -> 60; a grain is whole minutes that divide a day."""
    match = _GRAIN.match(text.strip())
    if not match:
        raise ValueError(f"grain {text!r}: write minutes or hours, such as '15 minutes'")
    minutes = int(match.group(1)) * (60 if match.group(2) == "hour" else 1)
    if MINUTES_PER_DAY % minutes:
        raise ValueError(f"grain {text!r}: a grain must divide a day (1440 minutes)")
    return minutes


class RollupMeasure(BaseModel):
    """One stored aggregate: `count` of rows (no field) or of a field's non-null values, or the
    sum, minimum or maximum of a field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["count", "sum", "min", "max"]
    field: str | None = None


class Rollup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    grain: str = Field("15 minutes", description="Whole minutes or hours dividing a day.")
    dimensions: tuple[str, ...] = ()
    measures: tuple[RollupMeasure, ...] = (RollupMeasure(op="count"),)

    @field_validator("grain")
    @classmethod
    def _grain_divides_a_day(cls, value: str) -> str:
        grain_minutes(value)
        return value

    @property
    def grain_seconds(self) -> int:
        return grain_minutes(self.grain) * 60

    @property
    def fields(self) -> tuple[str, ...]:
        """The measured fields, in declaration order, each once."""
        return tuple(dict.fromkeys(m.field for m in self.measures if m.field is not None))

    def ops_of(self, field: str) -> frozenset[str]:
        return frozenset(m.op for m in self.measures if m.field == field)


ROW_ID = "rowid"
SCALAR_TYPES = frozenset({"string", "int", "float", "decimal", "bool", "timestamp", "date"})
"""Types a rollup stores as they are (an array would fan out, a JSON value has no order)."""


def check_rollups(dataset: Dataset) -> None:
    """Raise ValueError naming the first rollup that does not fit its dataset."""
    if not dataset.rollups:
        return
    where = f"dataset {dataset.name}"
    if not dataset.owned:
        raise ValueError(f"{where}: rollups need an owned dataset (Tally must see every write)")
    if dataset.time_column is None or dataset.column(dataset.time_column).type != "timestamp":
        raise ValueError(f"{where}: rollups need a timestamp time column")
    names = [r.name for r in dataset.rollups]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: duplicate rollup names")
    for rollup in dataset.rollups:
        for name in (*rollup.dimensions, *rollup.fields):
            _scalar_column(dataset, rollup, name)
        keys = (*dataset.tenant_columns, *rollup.dimensions, dataset.time_column)
        if any(dataset.column(name).physical == ROW_ID for name in keys):
            # Appends find a stored cell's row by DuckDB's row id, which such a column hides.
            raise ValueError(f"rollup {rollup.name}: a column named {ROW_ID} cannot be a key")
        for measure in rollup.measures:
            if measure.field is None:
                if measure.op != "count":
                    raise ValueError(f"rollup {rollup.name}: {measure.op} needs a field")
                continue
            column = dataset.column(measure.field)
            if measure.op not in column.allowed_measures or (
                measure.op == "sum" and not column.is_numeric
            ):
                raise ValueError(
                    f"rollup {rollup.name}: {measure.field} does not allow {measure.op}"
                )


def _scalar_column(dataset: Dataset, rollup: Rollup, name: str) -> Column:
    if not dataset.has_column(name):
        raise ValueError(f"rollup {rollup.name}: unknown column {name!r}")
    column = dataset.column(name)
    if column.derived is not None or column.type not in SCALAR_TYPES:
        raise ValueError(f"rollup {rollup.name}: {name} must be a stored column of a scalar type")
    if name == dataset.time_column:
        raise ValueError(f"rollup {rollup.name}: the time column is the grain, not a dimension")
    return column
