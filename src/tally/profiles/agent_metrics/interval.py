"""The API's bucket grammar, `"<positive int> <unit>"`, and the deprecated `intervalInSeconds`.

Both become one IR interval. Second, minute, hour and day buckets in UTC are all fixed lengths
counted from the Unix epoch, so a length is spelled in the largest unit that divides it: the
buckets are the same, long intervals fit the IR's six-digit count, and equal lengths given in
different units share a cache entry. Weeks stay weeks: they start on Monday, which a multiple of
604,800 seconds from the epoch (a Thursday) would not.
"""

from __future__ import annotations

import re

UNITS = ("second", "minute", "hour", "day", "week")
FIXED = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))
MAX_COUNT = 999_999
_GRAMMAR = re.compile(r"^\s*([+-]?[0-9]+)\s+([A-Za-z]+)\s*$")


class IntervalError(ValueError):
    """Why an interval is refused; the message is safe to show."""


def parse_interval(text: str) -> str:
    """`"2 hours"` -> the IR bucket `"2 hour"`; anything else the grammar refuses raises."""
    match = _GRAMMAR.match(text)
    if match is None:
        raise IntervalError(
            f'Invalid interval "{text}": expected "<positive integer> <unit>" with one unit of '
            f"{', '.join(UNITS)}"
        )
    count, word = int(match.group(1)), match.group(2).lower()
    unit = word[:-1] if word.endswith("s") and word[:-1] in UNITS else word
    if unit not in UNITS:
        raise IntervalError(
            f'Invalid interval "{text}": unknown unit "{match.group(2)}" (use {", ".join(UNITS)})'
        )
    if count <= 0:
        raise IntervalError(f'Invalid interval "{text}": the count must be a positive integer')
    return bucket(count, unit)


def bucket(count: int, unit: str) -> str:
    """The IR spelling of `count` `unit`s, in the largest unit that divides it exactly."""
    if unit != "week":
        seconds = count * dict(FIXED)[unit]
        unit, size = next((u, s) for u, s in FIXED if seconds % s == 0)
        count = seconds // size
    if count > MAX_COUNT:
        raise IntervalError(f"Invalid interval: {count} {unit}s is longer than supported")
    return f"{count} {unit}"
