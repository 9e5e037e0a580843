"""The rows a caller may read, as the compiler receives it.

A scope is never optional: the compiler refuses to build SQL without one, and the only way to
read every tenant is to ask for `Scope.everything()` explicitly (an unrestricted admin).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tally.query.model import Filter


@dataclass(frozen=True)
class Scope:
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rows: Filter | None = None
    unrestricted: bool = False

    @classmethod
    def everything(cls) -> Scope:
        return cls(unrestricted=True)

    def canonical(self) -> dict:
        """JSON form for cache keys: two scopes share entries only when they are equal."""
        return {
            "columns": {k: sorted(v) for k, v in sorted(self.columns.items())},
            "rows": self.rows.model_dump(mode="json", by_alias=True) if self.rows else None,
            "unrestricted": self.unrestricted,
        }

    def public(self) -> dict:
        return {k: (v[0] if len(v) == 1 else sorted(v)) for k, v in sorted(self.columns.items())}
