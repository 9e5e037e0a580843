"""What every decisioning report shares: the asked parameters, the tenant, "now" and its windows,
and the few ways a report asks its questions.

Reports express every aggregate as an IR query run through the caller's runner, so the
principal's scope, validation and the result cache apply to each of them. Queries are always
scoped to the request's tenant through `Query.scope`; a tenant outside the principal's scope is
a 403.

Windows are calendar days in UTC: `days` days ending today, from 00:00 UTC of
(today - days + 1) up to the end of the current minute. The end is rounded up to the next whole
minute (never "now" itself) so that repeated calls within a minute ask the very same question and
hit the cache, and so that today's bucket always belongs to the window, even at midnight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from tally.query.model import (
    And,
    Const,
    Filter,
    Leaf,
    Measure,
    Or,
    OrderBy,
    Query,
    TimeGroup,
    TimeRange,
)
from tally.query.values import MAX_LIST

if TYPE_CHECKING:
    from tally.result import Result, Runner

TENANT_COLUMN = "tenant_id"
DAY = TimeGroup(time="1 day")
# Values of one dataset used to filter another travel as IN lists (the IR has no joins). A list
# is at most this long (ten IN leaves of MAX_LIST values each); a longer one is refused.
MAX_FILTER_VALUES = 10 * MAX_LIST


class TooManyValues(Exception):
    """A lookup produced a filter list longer than MAX_FILTER_VALUES."""

    def __init__(self, what: str, count: int) -> None:
        super().__init__(f"{what} has {count} values; at most {MAX_FILTER_VALUES} are supported")


@dataclass(frozen=True)
class Ask:
    """The parameters of one report, already checked by the profile (names in snake case)."""

    days: int = 7
    model_id: str | None = None
    group_by: str | None = None
    filter_id: str | None = None
    segment_id: str | None = None
    channel_id: str | None = None
    category_id: str | None = None
    decision_flow_id: str | None = None
    offer_id: str | None = None
    baseline_days: int | None = None


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


NOTHING = Const(const=False)
"""The condition no row meets, for an empty list of allowed values (IN takes a non-empty list)."""


def one_of(field_name: str, values: Sequence[str], what: str = "") -> Filter:
    """`field IN values`, split into IN leaves of at most MAX_LIST values each."""
    unique = sorted(set(values))
    if not unique:
        return NOTHING
    if len(unique) > MAX_FILTER_VALUES:
        raise TooManyValues(what or field_name, len(unique))
    leaves: list[Filter] = [
        Leaf(field=field_name, op="in", value=unique[i : i + MAX_LIST])
        for i in range(0, len(unique), MAX_LIST)
    ]
    return leaves[0] if len(leaves) == 1 else Or(or_=leaves)


def all_of(parts: Sequence[Filter | None]) -> Filter | None:
    kept = [p for p in parts if p is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else And(and_=kept)


def eq(field_name: str, value: Any) -> Leaf:
    return Leaf(field=field_name, op="eq", value=value)


def count(name: str, condition: Filter | None = None) -> Measure:
    return Measure(op="count", as_=name, filter=condition)


def desc(name: str) -> OrderBy:
    return OrderBy(field=name, dir="desc")


def asc(name: str) -> OrderBy:
    return OrderBy(field=name, dir="asc")


def labelled(value: str | None, names: dict[str, str], key: str) -> dict[str, Any]:
    """`{<key>Id, <key>Name}` of an id (the name is null for an id no entity row has)."""
    return {f"{key}Id": value, f"{key}Name": None if value is None else names.get(value)}


def ratio(numerator: float, denominator: float) -> float:
    """Rates are 0, not undefined, when nothing was counted."""
    return numerator / denominator if denominator else 0


@dataclass
class Context:
    """One report request: who asks, for which tenant, with which parameters, at what time."""

    runner: Runner
    tenant: str
    ask: Ask
    now: datetime
    max_rows: int

    @property
    def today(self) -> date:
        return self.now.astimezone(UTC).date()

    @property
    def end(self) -> datetime:
        """The end of the current minute: every window ends here."""
        return self.now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)

    @property
    def start(self) -> datetime:
        """00:00 UTC of the first day of the window."""
        return midnight(self.today - timedelta(days=self.ask.days - 1))

    @property
    def window(self) -> TimeRange:
        return TimeRange(start=self.start, end=self.end)

    def query(self, dataset: str, **parts: Any) -> Query:
        """A query on `dataset` scoped to the tenant, with a limit of one page of rows."""
        parts.setdefault("limit", self.max_rows)
        return Query(dataset=dataset, scope={TENANT_COLUMN: self.tenant}, **parts)

    def run(self, query: Query) -> Result:
        return self.runner.run(query)

    def page(self, dataset: str, **parts: Any) -> list[dict[str, Any]]:
        """The rows of one query, up to its limit (a top N)."""
        return self.run(self.query(dataset, **parts)).rows

    def rows(self, dataset: str, **parts: Any) -> list[dict[str, Any]]:
        """Every row of the query, page after page (each page at most the row cap)."""
        query = self.query(dataset, **parts)
        rows: list[dict[str, Any]] = []
        while True:
            result = self.run(query.model_copy(update={"offset": len(rows)}))
            rows.extend(result.rows)
            if query.fill != "none" or not result.rows:
                return rows
            if len(rows) >= result.meta.get("total_rows", 0):
                return rows

    def totals(self, dataset: str, measures: list[Measure], **parts: Any) -> dict[str, Any]:
        """The one row of an ungrouped aggregate (the engine answers it even with no rows)."""
        found = self.rows(dataset, measures=measures, **parts)
        return found[0] if found else {m.as_: 0 for m in measures}

    def daily(
        self,
        dataset: str,
        measures: list[Measure],
        valueless: frozenset[str] = frozenset(),
        **parts: Any,
    ) -> list[dict[str, Any]]:
        """One row per UTC day of the window, ascending, with `date` as YYYY-MM-DD. A measure
        without a value on a day (no rows) is 0, except those named in `valueless`, which stay
        null: a percentile of no values is no value, while a count of none is 0."""
        parts.setdefault("time", self.window)
        found = self.rows(dataset, measures=measures, group_by=[DAY], fill="null", **parts)
        return [
            {"date": row["time"].astimezone(UTC).date().isoformat()}
            | {m.as_: row[m.as_] if m.as_ in valueless else row[m.as_] or 0 for m in measures}
            for row in found
        ]

    def lookup(self, dataset: str, fields: Sequence[str], where: Filter | None = None) -> dict:
        """Entity rows by id (`{id: {field: value}}`): names, categories, statuses."""
        found = self.rows(dataset, filter=where, group_by=["id", *fields], order_by=[asc("id")])
        return {row["id"]: {f: row[f] for f in fields} for row in found}

    def by_offer(self, dataset: str, first: str, **parts: Any) -> list[tuple[dict, dict]]:
        """Rows grouped by offer, `first` descending then offer id, each with `{offerId,
        offerName}`."""
        found = self.rows(
            dataset, group_by=["offer_id"], order_by=[desc(first), asc("offer_id")], **parts
        )
        names = self.names("offers")
        return [(labelled(row["offer_id"], names, "offer"), row) for row in found]

    def names(self, dataset: str, where: Filter | None = None) -> dict[str, str]:
        return {key: row["name"] for key, row in self.lookup(dataset, ["name"], where).items()}
