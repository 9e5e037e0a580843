"""The query IR: one closed model that every profile translates into.

Structure only lives here (shapes, enums, unknown fields rejected); whether a field exists or
accepts an operator is checked against the catalog in `validate`, so every problem of a request
is reported at once with its JSON-pointer path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    field_validator,
    model_validator,
)

from tally.catalog.vocabulary import SHORTHAND_QUANTILES, FilterOp, MeasureOp

CacheMode = Literal["default", "no-cache", "stale-while-revalidate"]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class TimeRange(Strict):
    """Absolute `[start, end)` or a relative `last` window ending now."""

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    last: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,5}[mhdw]$")

    @model_validator(mode="after")
    def _one_form(self) -> TimeRange:
        if self.last is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("give either last or start and end, not both")
        elif self.start is None or self.end is None:
            raise ValueError("give start and end, or last")
        elif self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Leaf(Strict):
    field: str = Field(min_length=1, max_length=200)
    op: FilterOp
    value: Any = None
    case_insensitive: bool = False


class Const(Strict):
    """A condition that holds for every row (true) or for none (false).

    Translators write it when the answer is known without reading a row (an empty list of
    allowed values, `is_null` on a column that is never null); normalize folds it away where
    it can, and a filter that stays false is still answered by the engine, like any filter.
    """

    const: StrictBool


class And(Strict):
    and_: list[Filter] = Field(alias="and", min_length=1)


class Or(Strict):
    or_: list[Filter] = Field(alias="or", min_length=1)


class Not(Strict):
    not_: Filter = Field(alias="not")


def _filter_kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("and", "or", "not", "const"):
            if key in value:
                return f"<{key}>"
        return "<leaf>"
    return {And: "<and>", Or: "<or>", Not: "<not>", Const: "<const>"}.get(type(value), "<leaf>")


Filter = Annotated[
    Annotated[And, Tag("<and>")]
    | Annotated[Or, Tag("<or>")]
    | Annotated[Not, Tag("<not>")]
    | Annotated[Const, Tag("<const>")]
    | Annotated[Leaf, Tag("<leaf>")],
    Discriminator(_filter_kind),
]
And.model_rebuild()
Or.model_rebuild()
Not.model_rebuild()


class Measure(Strict):
    op: MeasureOp
    field: str | None = Field(default=None, min_length=1, max_length=200)
    q: float | None = Field(default=None, gt=0, lt=1)
    as_: str | None = Field(default=None, alias="as", pattern=NAME_PATTERN)
    approx: bool = False
    filter: Filter | None = None


class TimeGroup(Strict):
    time: str = Field(pattern=r"^(auto|[1-9][0-9]{0,9} ?(second|minute|hour|day|week|month)s?)$")
    origin: AwareDatetime | None = None


GroupItem = Annotated[
    Annotated[str, Field(min_length=1, max_length=200), Tag("<field>")]
    | Annotated[TimeGroup, Tag("<time>")],
    Discriminator(lambda v: "<field>" if isinstance(v, str) else "<time>"),
]


class CompareRange(Strict):
    start: AwareDatetime
    end: AwareDatetime


class OrderBy(Strict):
    field: str = Field(min_length=1, max_length=200)
    dir: Literal["asc", "desc"] = "asc"


class Top(Strict):
    n: int = Field(ge=1, le=10_000)
    other: bool = True


class Query(Strict):
    dataset: str = Field(min_length=1, max_length=64)
    time: TimeRange | None = None
    timezone: str = "UTC"
    filter: Filter | None = None
    measures: list[Measure] = Field(default_factory=lambda: [Measure(op="count")], min_length=1)
    group_by: list[GroupItem] = Field(default_factory=list)
    fill: Literal["none", "zero", "null"] = "none"
    compare: (
        Annotated[
            Annotated[Literal["previous_period", "previous_year"], Tag("<named>")]
            | Annotated[CompareRange, Tag("<range>")],
            Discriminator(lambda v: "<named>" if isinstance(v, str) else "<range>"),
        ]
        | None
    ) = None
    having: Filter | None = None
    order_by: list[OrderBy] = Field(default_factory=list)
    top: Top | None = None
    limit: int | None = Field(default=None, ge=1)
    offset: int = Field(default=0, ge=0)
    scope: dict[str, str | list[str]] | None = None
    cache: CacheMode = "default"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in known_timezones():
            raise ValueError(f"unknown timezone {value!r}")
        return value

    def canonical(self) -> dict:
        """The JSON form used for cache keys: aliases, no defaults left implicit."""
        return self.model_dump(mode="json", by_alias=True, exclude={"cache"})


@functools.cache
def known_timezones() -> frozenset[str]:
    """The IANA names of the tzdata package: every engine knows each of them (a system zone
    database also lists names such as `localtime` that some engines do not)."""
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listed.split()) | {"UTC"}


def measure_label(measure: Measure) -> str:
    """The row key of a measure: its `as`, else `count`, `<op>_<field>` or `p<100q>_<field>`."""
    if measure.as_:
        return measure.as_
    if measure.op == "count" and measure.field is None:
        return "count"
    if measure.op == "percentile" or measure.op in SHORTHAND_QUANTILES:
        q = measure.q if measure.op == "percentile" else SHORTHAND_QUANTILES[measure.op]
        pct = format(round((q or 0) * 100, 6), "g")
        return f"p{pct}_{measure.field}"
    return f"{measure.op}_{measure.field}"


def time_group(query: Query) -> TimeGroup | None:
    return next((g for g in query.group_by if isinstance(g, TimeGroup)), None)


def field_groups(query: Query) -> list[str]:
    return [g for g in query.group_by if isinstance(g, str)]


def walk_leaves(node: Filter | None, path: tuple = ()) -> Iterator[tuple[Leaf, tuple]]:
    """Yield (leaf, pointer segments) for every field test of a filter tree (constants test no
    field, so they are not leaves here)."""
    if node is None or isinstance(node, Const):
        return
    if isinstance(node, And):
        for i, child in enumerate(node.and_):
            yield from walk_leaves(child, (*path, "and", i))
    elif isinstance(node, Or):
        for i, child in enumerate(node.or_):
            yield from walk_leaves(child, (*path, "or", i))
    elif isinstance(node, Not):
        yield from walk_leaves(node.not_, (*path, "not"))
    else:
        yield node, path


def filter_depth(node: Filter | None) -> int:
    if node is None or isinstance(node, (Leaf, Const)):
        return 0 if node is None else 1
    if isinstance(node, Not):
        return 1 + filter_depth(node.not_)
    children = node.and_ if isinstance(node, And) else node.or_
    return 1 + max(filter_depth(c) for c in children)
