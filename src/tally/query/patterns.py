"""Regular expressions every engine reads the same way.

DuckDB and ClickHouse use RE2, PostgreSQL its own POSIX "advanced" expressions; they agree on a
common core and differ outside it (`\\b` is a word boundary in RE2 and a backspace in
PostgreSQL; RE2 has no back-references or look-arounds; inline flags and named groups are
spelled differently). A pattern is accepted only when it stays inside that core, so an answer
never depends on the engine; case-insensitivity is the operator's flag, not an inline `(?i)`.
The match is a search (the pattern may match anywhere in the text), as `~` in PostgreSQL.
"""

from __future__ import annotations

import re
import warnings

MAX_PATTERN = 1000
ESCAPES = frozenset("dDsSwWtn")
"""Letter escapes every engine reads alike; any other escaped letter or digit is refused."""


def check_regex(pattern: str) -> str:
    """`pattern`, or ValueError naming the first construct outside the common core."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a pattern has at most {MAX_PATTERN} characters")
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if not escaped:
                raise ValueError("the pattern ends with a lone backslash")
            if escaped.isalnum() and escaped not in ESCAPES:
                raise ValueError(
                    f"\\{escaped} is read differently by the engines; "
                    "use \\d \\D \\s \\S \\w \\W \\t \\n or escape punctuation only"
                )
            i += 2
            continue
        if char == "(" and pattern[i + 1 : i + 2] == "?" and pattern[i + 2 : i + 3] != ":":
            raise ValueError(
                "groups with (? ... ) other than (?: ... ) are read differently by the engines"
            )
        if char in "*+?}" and pattern[i + 1 : i + 2] == "+":
            raise ValueError("possessive quantifiers are not supported by every engine")
        i += 1
    try:
        with warnings.catch_warnings():
            # POSIX classes ([[:digit:]]) are the engines' syntax; Python only checks the rest.
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
    return pattern
