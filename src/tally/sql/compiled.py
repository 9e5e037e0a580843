"""What a compiled statement returns, so no consumer has to know how the compiler names things.

The SQL aliases (`g0`, `_t`, `a0`, ...) are the compiler's business; shaping, the watermark and
every other reader of a result find a column through `Compiled` by its role or its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any


class Role(StrEnum):
    """What an output column holds."""

    GROUP = "group"
    BUCKET = "bucket"
    MEASURE = "measure"


# `meta.error` of a measure that asked for `approx` and was computed exactly all the same.
EXACT_BOUND: dict[str, Any] = {"method": "exact", "relative_error": 0.0, "confidence": 1.0}


@dataclass(frozen=True)
class OutputColumn:
    """One column of the result: its SQL alias, its key in a result row, and its role."""

    alias: str
    name: str
    role: Role


@dataclass(frozen=True)
class Compiled:
    """SQL text, its parameters, and what each output column means.

    `columns` lists the group, bucket and measure columns in the order the statement returns
    them. The other aliases name the extra columns the statement may add: the flag of the row
    that folds the groups beyond `top` (`other_alias`), the row count before LIMIT
    (`total_rows_alias`) and the number of groups `top` chose from (`total_groups_alias`);
    each is None when the statement has no such column.
    """

    sql: str
    params: dict[str, Any]
    columns: tuple[OutputColumn, ...]
    other_alias: str | None = None
    total_rows_alias: str | None = None
    total_groups_alias: str | None = None
    exact: dict[str, bool] = field(default_factory=dict)
    error: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per measure that asked for `approx`: how its value was computed and its error bound
    (`meta.error`)."""

    @cached_property
    def groups(self) -> list[str]:
        """The group names, in the order of `group_by` (the time bucket is not one)."""
        return self._names(Role.GROUP)

    @cached_property
    def measures(self) -> list[str]:
        """The measure labels, in the order of the query's measures."""
        return self._names(Role.MEASURE)

    @property
    def has_time(self) -> bool:
        return any(c.role is Role.BUCKET for c in self.columns)

    @property
    def has_other(self) -> bool:
        return self.other_alias is not None

    def alias_of(self, name: str) -> str:
        """The SQL alias of the output column named `name` (a group, `time` or a measure)."""
        for column in self.columns:
            if column.name == name:
                return column.alias
        raise KeyError(name)

    def _names(self, role: Role) -> list[str]:
        return [c.name for c in self.columns if c.role is role]
