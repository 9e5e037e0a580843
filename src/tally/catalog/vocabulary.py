"""The operations a query can ask for, named once for the catalog, the IR, validation and SQL.

Filter operators and measures are string enums, so a JSON value, a catalog file entry and an
enum member compare equal and serialize alike. The families below group them by what the rest
of the code needs to know: which value an operator takes, where it may appear, what kind of
field it fits. The module sits in `catalog/` because `query/` imports the catalog (never the
reverse) and both need these names.
"""

from __future__ import annotations

import re
from enum import StrEnum

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")
"""A key inside a JSON or map column (`metadata.channel`): a query names one, and so may a
rollup's dimension. Held to this pattern because it ends up inside SQL as a quoted path."""


class FilterOp(StrEnum):
    """A filter operator: a test of one field (or, in having, of one measure) per row."""

    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NIN = "nin"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    LIKE = "like"
    REGEX = "regex"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"
    HAS_ANY = "has_any"
    HAS_ALL = "has_all"
    HAS_NONE = "has_none"
    IS_EMPTY = "is_empty"
    NOT_EMPTY = "not_empty"


class MeasureOp(StrEnum):
    """An aggregate; `p50` ... `p99` are shorthands that normalize spells as `percentile`."""

    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    PERCENTILE = "percentile"
    P50 = "p50"
    P75 = "p75"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"


# Operator families. Tuples where the order is shown to users (a dataset's operator list).
EQUALITY_OPS = (FilterOp.EQ, FilterOp.NEQ, FilterOp.IN, FilterOp.NIN)
COMPARISON_OPS = (FilterOp.EQ, FilterOp.NEQ, FilterOp.GT, FilterOp.GTE, FilterOp.LT, FilterOp.LTE)
ORDER_OPS = (FilterOp.GT, FilterOp.GTE, FilterOp.LT, FilterOp.LTE, FilterOp.BETWEEN)
TEXT_OPS = (
    FilterOp.CONTAINS,
    FilterOp.NOT_CONTAINS,
    FilterOp.STARTS_WITH,
    FilterOp.ENDS_WITH,
    FilterOp.LIKE,
    FilterOp.REGEX,
)
NULL_OPS = (FilterOp.IS_NULL, FilterOp.NOT_NULL)
EMPTINESS_OPS = (FilterOp.IS_EMPTY, FilterOp.NOT_EMPTY)
ARRAY_TEST_OPS = (FilterOp.HAS_ANY, FilterOp.HAS_ALL, FilterOp.HAS_NONE)
ARRAY_OPS = ARRAY_TEST_OPS + EMPTINESS_OPS
LIST_OPS = frozenset({FilterOp.IN, FilterOp.NIN, *ARRAY_TEST_OPS})
"""Operators whose value is a non-empty list."""
NO_VALUE_OPS = frozenset(NULL_OPS + EMPTINESS_OPS)
"""Operators that take no value."""
HAVING_OPS = frozenset({*COMPARISON_OPS, FilterOp.BETWEEN, *NULL_OPS})
"""Operators a having condition may apply to a measure (measures are numbers or null)."""

# Measure families.
SHORTHAND_QUANTILES: dict[MeasureOp, float] = {
    MeasureOp.P50: 0.5,
    MeasureOp.P75: 0.75,
    MeasureOp.P90: 0.9,
    MeasureOp.P95: 0.95,
    MeasureOp.P99: 0.99,
}
BASE_MEASURES = tuple(op for op in MeasureOp if op not in SHORTHAND_QUANTILES)
"""The measures a catalog column can allow; a shorthand is allowed where percentile is."""
NUMERIC_MEASURES = frozenset(
    {MeasureOp.SUM, MeasureOp.AVG, MeasureOp.PERCENTILE, *SHORTHAND_QUANTILES}
)
"""Measures that only make sense over numbers."""
COUNTING_MEASURES = frozenset({MeasureOp.COUNT, MeasureOp.COUNT_DISTINCT})
"""Measures that count values rather than read them: a JSON value is not cast to a number."""

ZERO_WHEN_EMPTY = frozenset({*COUNTING_MEASURES, MeasureOp.SUM})
"""Measures whose value over no rows is 0 for a dashboard (`fill: "zero"`); an average, a
minimum, a maximum or a percentile of nothing has no value."""


def base_measure(op: MeasureOp | str) -> MeasureOp:
    """The measure a shorthand stands for (`p95` -> `percentile`); any other measure itself."""
    return MeasureOp.PERCENTILE if op in SHORTHAND_QUANTILES else MeasureOp(op)
