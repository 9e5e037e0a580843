"""Who is asking: a subject, a role, the tenants it may read, and its teams."""

from __future__ import annotations

from dataclasses import dataclass, field

from tally.errors import forbidden

ROLES = ("viewer", "editor", "admin")
ALL_TENANTS = "*"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    all_tenants: bool = False
    teams: tuple[str, ...] = ()

    def require(self, role: str) -> None:
        """403 unless this principal's role is at least `role`."""
        if ROLES.index(self.role) < ROLES.index(role):
            raise forbidden(f"this needs the {role} role; the token has {self.role}")


def parse_scope_args(items: list[str]) -> tuple[dict[str, tuple[str, ...]], bool]:
    """`["workspace_id=ws_a", "workspace_id=ws_b", "*"]` -> ({"workspace_id": (...)}, all)."""
    scopes: dict[str, list[str]] = {}
    everything = False
    for item in items:
        if item == ALL_TENANTS:
            everything = True
            continue
        column, sep, value = item.partition("=")
        if not sep or not column or not value:
            raise ValueError(f"scope {item!r} is not COLUMN=VALUE or *")
        scopes.setdefault(column.strip(), []).append(value.strip())
    return {k: tuple(dict.fromkeys(v)) for k, v in scopes.items()}, everything
