"""The `Prefer` request header (RFC 7240): the `respond-async` and `wait` preferences.

Preferences are hints: RFC 7240 has a server ignore one it does not understand or cannot honour,
so a malformed `wait` is ignored (the answer is as if it were absent), never an error. Several
`Prefer` headers, or several preferences in one, are read alike; names are case-insensitive; a
preference's parameters after `;` are ignored; the first occurrence of a preference counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Preferences:
    respond_async: bool = False
    wait_s: float | None = None

    def applied(self, went_async: bool) -> str:
        """`Preference-Applied`: what this answer honoured."""
        honoured = ["respond-async"] if went_async else []
        if self.wait_s is not None:
            honoured.append(f"wait={self.wait_s:g}")
        return ", ".join(honoured)


def _wait(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds != float("inf") else None


def parse_prefer(headers: Iterable[str]) -> Preferences:
    seen: dict[str, str] = {}
    for header in headers:
        for preference in header.split(","):
            name, _, value = preference.split(";", 1)[0].strip().partition("=")
            name = name.strip().lower()
            if name and name not in seen:
                seen[name] = value.strip().strip('"')
    return Preferences("respond-async" in seen, _wait(seen["wait"]) if "wait" in seen else None)
