"""Rollups as declared in a dataset file (`rollups:`): pre-aggregated tables of an owned dataset.

A rollup names its dimensions (stored scalar columns, or keys of a JSON column spelled as
queries spell them, `metadata.channel`), its measures (count, and sum, min, max of
numeric or ordered fields; an average is a sum over a count, so it needs no declaration; the
distinct values of a field, exactly as a set of ids or approximately as a HyperLogLog sketch; a
KLL sketch of a field's values for approximate percentiles) and a time grain that divides a
day, so grains are counted from UTC midnight and every IANA offset in use today (:00, :30, :45)
lands on a 15-minute grain boundary. Its cells are kept per tenant (so a tenant's scope applies)
unless it is declared `across_tenants`: then one cell holds every tenant's rows, for callers
who read all tenants. Whether a rollup answers a query is decided per query
(`tally.rollups.match`), never by the declaration.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from tally.catalog.vocabulary import KEY_PATTERN

if TYPE_CHECKING:
    from tally.catalog.model import Dataset

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


class _Declared(BaseModel):
    """A part of a dataset file, written back as declared: each of its `UNSAID_WHEN_FALSE`
    flags only where it is true (what `rollups suggest` prints; and a dataset's fingerprint,
    hence its cache keys, stays that of a file written before the flag existed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    UNSAID_WHEN_FALSE: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _flags_unsaid(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        found = handler(self)
        for flag in self.UNSAID_WHEN_FALSE:
            if not getattr(self, flag):
                found.pop(flag, None)
        return found


class RollupMeasure(_Declared):
    """One stored aggregate: `count` of rows (no field) or of a field's non-null values, the
    sum, minimum or maximum of a field, its distinct values (`count_distinct`: exact, or with
    `approx: true` a HyperLogLog sketch) or a sketch of its values for percentiles (`percentile`,
    approximate only: no stored aggregate recombines to an exact percentile)."""

    UNSAID_WHEN_FALSE: ClassVar[tuple[str, ...]] = ("approx",)

    op: Literal["count", "sum", "min", "max", "count_distinct", "percentile"]
    field: str | None = None
    approx: bool = Field(
        False,
        description="count_distinct: a HyperLogLog sketch instead of the exact set of values; "
        "percentile: required (a KLL sketch).",
    )


class Rollup(_Declared):
    UNSAID_WHEN_FALSE: ClassVar[tuple[str, ...]] = ("across_tenants",)

    name: str = Field(
        pattern=r"^[a-z](_?[a-z0-9])*_?$",
        max_length=31,
        description="Lower-case letters, digits and single underscores: a double underscore "
        "separates the parts of the names of Tally's own tables (`<rollup>__pending`).",
    )
    grain: str = Field("15 minutes", description="Whole minutes or hours dividing a day.")
    dimensions: tuple[str, ...] = Field(
        (),
        description="Stored scalar columns (not the time column), or keys of a json column as "
        "queries name them (`metadata.channel`): the key's text is kept per cell.",
    )
    measures: tuple[RollupMeasure, ...] = (RollupMeasure(op="count"),)
    across_tenants: bool = Field(
        False,
        description="Cells span every tenant (no tenant columns in the key): smaller, and used "
        "only by callers who read all tenants and neither filter nor group by a tenant column.",
    )

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

    def sketches_of(self, field: str) -> frozenset[str]:
        """How the field's values are kept beyond aggregates: `ids` (the exact set of distinct
        values), `hll` (approximate distinct count), `kll` (approximate percentiles)."""
        kinds = {("count_distinct", False): "ids", ("count_distinct", True): "hll"}
        kinds[("percentile", True)] = "kll"
        return frozenset(
            kinds[(m.op, m.approx)]
            for m in self.measures
            if m.field == field and (m.op, m.approx) in kinds
        )


ROW_ID = "rowid"
SCALAR_TYPES = frozenset({"string", "int", "float", "decimal", "bool", "timestamp", "date"})
"""Types a rollup stores as they are (an array would fan out, a JSON value has no order)."""


Location = tuple[str | int, ...]
# How Tally names the tables it derives from a dataset: `<dataset>__rollup__<rollup>` (and its
# `__pending` table) and `<dataset>__ids__<field>`, the dictionaries of exact sets. A dataset's
# own table is named like the dataset, so a dataset file naming one with these parts could
# declare another dataset's rollup or dictionary, which Tally drops and makes anew (a rollup's
# own dataset, `RollupTable.as_dataset`, is named like its table).
ROLLUP_PART = "__rollup__"
DICTIONARY_PART = "__ids__"


def rollup_table_name(dataset: str, rollup: str) -> str:
    return f"{dataset}{ROLLUP_PART}{rollup}"


def dictionary_table_name(dataset: str, field: str) -> str:
    return f"{dataset}{DICTIONARY_PART}{field.replace('.', '__')}"


def rollup_owner(table: str) -> str:
    """The dataset a rollup table (`<dataset>__rollup__<rollup>`) belongs to: a rollup's name
    never holds `__`, so the last marker starts it (a dataset's may: `ev__rollup`)."""
    return table[: table.rfind(ROLLUP_PART)]


def dictionary_of(table: str, dataset: str) -> bool:
    """Whether `table` may be a dictionary of `dataset` (`<dataset>__ids__<field>`: a field's
    path may hold `__`, so a name alone may fit two datasets, `ev` and `ev__ids`)."""
    return table.startswith(dataset + DICTIONARY_PART)


def reserved_name_problem(dataset: str) -> str | None:
    """Why a dataset may not be named `dataset`: its table would share a name with a table
    Tally derives from another dataset."""
    for part in (ROLLUP_PART, DICTIONARY_PART):
        if part in dataset:
            return (
                f"a dataset name cannot hold {part!r}: Tally names the tables it derives from "
                f"a dataset so (<dataset>{part}...)"
            )
    return None


def rollup_problems(dataset: Dataset) -> list[tuple[Location, str]]:
    """Every way the declared rollups do not fit their dataset, each at the field to change
    (`rollups[0].dimensions[1]`), as the other problems of a dataset file are."""
    if not dataset.rollups:
        return []
    problems: list[tuple[Location, str]] = []
    if not dataset.owned:
        problems.append(
            (("rollups",), "rollups need an owned dataset (Tally must see every write)")
        )
    time = dataset.time_column
    if time is None or not dataset.has_column(time) or dataset.column(time).type != "timestamp":
        problems.append((("rollups",), "rollups need a timestamp time column"))
    for name in (*dataset.tenant_columns, time or ""):
        reason = _hides_row_id(dataset, name)
        if reason:
            problems.append((("rollups",), reason))
    seen: set[str] = set()
    for i, rollup in enumerate(dataset.rollups):
        at: Location = ("rollups", i)
        if rollup.name in seen:
            problems.append(((*at, "name"), f"duplicate rollup names: a second {rollup.name!r}"))
        seen.add(rollup.name)
        for j, name in enumerate(rollup.dimensions):
            reason = _hides_row_id(dataset, name) or dimension_problem(dataset, name)
            if rollup.across_tenants and name in dataset.tenant_columns:
                reason = f"{name} is a tenant column: a rollup across tenants keeps none"
            if name in rollup.dimensions[:j]:
                reason = f"duplicate dimensions: a second {name!r}"
            if reason:
                problems.append(((*at, "dimensions", j), reason))
        problems += _measure_problems(dataset, rollup, at)
    return problems


def _measure_problems(dataset: Dataset, rollup: Rollup, at: Location) -> list[tuple[Location, str]]:
    problems: list[tuple[Location, str]] = []
    checked: set[str] = set()
    for k, measure in enumerate(rollup.measures):
        where = (*at, "measures", k)
        if measure in rollup.measures[:k]:
            of = f" of {measure.field}" if measure.field else ""
            problems.append((where, f"duplicate measures: a second {measure.op}{of}"))
            continue
        if measure.field is None:
            if measure.op != "count":
                problems.append(((*where, "op"), f"{measure.op} needs a field"))
            continue
        approx = _approx_problem(measure)
        if approx:
            problems.append(((*where, "approx"), approx))
        reason = _measured_problem(dataset, measure.field)
        if reason:
            if measure.field not in checked:
                problems.append(((*where, "field"), reason))
            checked.add(measure.field)
            continue
        column = dataset.column(measure.field)
        if measure.op not in column.allowed_measures or (
            measure.op == "sum" and not column.is_numeric
        ):
            problems.append(((*where, "op"), f"{measure.field} does not allow {measure.op}"))
    return problems


def _measured_problem(dataset: Dataset, field: str) -> str | None:
    """Why a rollup cannot keep a measure of `field`, or None."""
    if json_key(dataset, field) is not None:
        return (
            f"{field} is a key of a json column: a rollup keeps measures of stored scalar "
            "columns only (a key can be a dimension; measures of it are answered from the rows)"
        )
    if field == dataset.time_column:
        return (
            "the time column is the grain: measures of it are answered from the rows "
            "(count counts its rows)"
        )
    return _not_scalar(dataset, field)


def _hides_row_id(dataset: Dataset, name: str) -> str | None:
    """Appends find a stored cell's row by DuckDB's row id, which a key column of that name
    would hide."""
    if dataset.has_column(name) and dataset.column(name).physical == ROW_ID:
        return f"a column named {ROW_ID} cannot be a key of a rollup"
    return None


def _approx_problem(measure: RollupMeasure) -> str | None:
    if measure.op == "percentile" and not measure.approx:
        return (
            f"percentile of {measure.field} is kept only as a sketch "
            "(no stored aggregate gives an exact percentile): write approx: true"
        )
    if measure.approx and measure.op not in ("count_distinct", "percentile"):
        return (
            f"{measure.op} of {measure.field} is exact; approx applies to "
            "count_distinct and percentile"
        )
    return None


def json_key(dataset: Dataset, name: str) -> tuple[str, str] | None:
    """(JSON column, key) when `name` is a key of a JSON column as queries spell it
    (`metadata.channel`, with no column of that name), else None."""
    if dataset.has_column(name):
        return None
    head, dot, key = name.partition(".")
    if dot and dataset.has_column(head) and dataset.column(head).type == "json":
        return head, key
    return None


def dimension_problem(dataset: Dataset, name: str) -> str | None:
    """Why `name` is no dimension, or None: a stored scalar column other than the time column,
    or a key of a stored JSON column (its text is kept)."""
    head = name.partition(".")[0]
    found = json_key(dataset, name)
    if found is None and dataset.has_column(name) and dataset.column(name).type == "json":
        return f"{name} is a json column: a dimension is one of its keys ({name}.<key>)"
    if found is None and head != name and dataset.has_column(head):
        kind = dataset.column(head).type
        return f"{head} is a {kind} column: only a json column has keys a rollup keeps"
    if found is None:
        return _not_scalar(dataset, name)
    if dataset.column(head).derived is not None:
        return f"{head} must be a stored column"
    if not KEY_PATTERN.match(found[1]):
        return f"invalid key {found[1]!r}: letters, digits, _ and -, starting with a letter or _"
    return None


def _not_scalar(dataset: Dataset, name: str) -> str | None:
    """Why a rollup cannot store this column as it is, or None."""
    if not dataset.has_column(name):
        return f"unknown column {name!r}"
    column = dataset.column(name)
    if column.derived is not None or column.type not in SCALAR_TYPES:
        return f"{name} must be a stored column of a scalar type"
    if name == dataset.time_column:
        return "the time column is the grain, not a dimension"
    return None
