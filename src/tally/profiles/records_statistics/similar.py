"""SQL `SIMILAR TO` patterns (Hasura's `_similar`) as regular expressions of the common core.

As PostgreSQL does it: the whole text must match; `%` is any text and `_` any character; `|`,
`*`, `+`, `?`, `{m,n}`, `( )` and `[ ]` keep their regular-expression meaning; `.`, `^` and `$`
are plain characters; a backslash makes the next character plain.
"""

from __future__ import annotations

import re

LITERAL = frozenset(".^$")


def similar_to_regex(pattern: str) -> str:
    out: list[str] = []
    in_class = False
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise ValueError("the pattern ends with a lone backslash")
            out.append(re.escape(escaped))
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char in LITERAL:
            out.append("\\" + char)
        elif char == "(":
            out.append("(?:")
        else:
            out.append(char)
    return "^(?:" + "".join(out) + ")$"
