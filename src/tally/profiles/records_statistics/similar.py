"""SQL `SIMILAR TO` patterns (Hasura's `_similar`) as regular expressions of the common core.

As PostgreSQL does it: the whole text must match; `%` is any text and `_` any character; `|`,
`*`, `+`, `?`, `{m,n}`, `( )` and `[ ]` keep their regular-expression meaning (a `]` first in a
bracket, after an optional `^`, is literal); `.`, `^` and `$` are plain characters; a backslash
makes the next character plain.
"""

from __future__ import annotations

import re

LITERAL = frozenset(".^$")


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """The bracket expression opening at `i`, copied as it is, and the position after it."""
    j = i + 1
    if pattern[j : j + 1] == "^":
        j += 1
    if pattern[j : j + 1] == "]":
        j += 1
    end = pattern.find("]", j)
    if end == -1:
        raise ValueError("a [ is never closed")
    return pattern[i : end + 1], end + 1


def similar_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if not escaped:
                raise ValueError("the pattern ends with a lone backslash")
            out.append(re.escape(escaped))
            i += 2
            continue
        if char == "[":
            text, i = _bracket(pattern, i)
            out.append(text)
            continue
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char in LITERAL:
            out.append("\\" + char)
        elif char == "(":
            out.append("(?:")
        else:
            out.append(char)
        i += 1
    return "^(?:" + "".join(out) + ")$"
