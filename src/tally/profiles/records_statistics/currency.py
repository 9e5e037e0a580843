"""`meta.currency`: the one currency of the money amounts a request sums, averages or compares.

A money field is an amount column whose catalog entry names its `currency_column`. The probe is
one IR query under the request's filter and scope, without groups: per money field, over the
rows where the amount is present, the number of distinct currencies, the smallest one, and the
number of amounts without a currency. One shared currency (and none missing) is that code;
anything else is `null` with a warning, as is a request that matched no amount at all (there is
no currency to state). The probe covers every matching row, not only the groups within `limit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tally.catalog.model import Dataset
from tally.profiles.records_statistics.conditions import all_of, null_test, to_filter
from tally.profiles.records_statistics.models import RecordsAggregation
from tally.query.model import Measure, Query

MONEY_OPS = frozenset({"sum", "avg", "min", "max"})


@dataclass(frozen=True)
class MoneyField:
    amount: str
    currency: str


def money_fields(dataset: Dataset, aggregations: list[RecordsAggregation]) -> list[MoneyField]:
    found: dict[str, MoneyField] = {}
    for agg in aggregations:
        if agg.op in MONEY_OPS and dataset.has_column(agg.field):
            currency = dataset.column(agg.field).currency_column
            if currency is not None:
                found.setdefault(agg.field, MoneyField(agg.field, currency))
    return list(found.values())


def currency_probe(query: Query, dataset: Dataset, money: list[MoneyField]) -> Query:
    measures: list[Measure] = []
    for i, field in enumerate(money):
        read = null_test(dataset.column(field.amount), is_null=False)
        unknown = all_of([read, null_test(dataset.column(field.currency), is_null=True)])
        present = to_filter(read)
        measures += [
            Measure(op="count_distinct", field=field.currency, as_=f"distinct_{i}", filter=present),
            Measure(op="min", field=field.currency, as_=f"code_{i}", filter=present),
            Measure(op="count", as_=f"unknown_{i}", filter=to_filter(unknown)),
        ]
    return Query(dataset=query.dataset, filter=query.filter, measures=measures, scope=query.scope)


def currency_meta(
    row: dict[str, Any], money: list[MoneyField], groups: list[str]
) -> tuple[str | None, list[str]]:
    """(the shared currency or None, warnings) from the probe's one row."""
    codes: set[str] = set()
    several = missing = False
    for i in range(len(money)):
        several |= row[f"distinct_{i}"] > 1
        missing |= bool(row[f"unknown_{i}"])
        if row[f"code_{i}"] is not None:
            codes.add(row[f"code_{i}"])
    several |= len(codes) > 1
    if not several and not missing:
        if codes:
            return codes.pop(), []
        return None, ["no money amount matched, so there is no currency to state"]
    currencies = ", ".join(f.currency for f in money)
    if all(f.currency in groups for f in money):
        advice = "each row holds the currency of its group"
    else:
        advice = f"group by {currencies} to separate them"
    what = "are in several currencies" if several else "include amounts without a currency"
    return None, [f"the aggregated money amounts {what}, so meta.currency is null; {advice}"]
