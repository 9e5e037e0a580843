"""Regular expressions every engine reads the same way.

DuckDB and ClickHouse use RE2, PostgreSQL its own POSIX "advanced" expressions. They agree on a
core and differ around it: `\\b` is a word boundary in RE2 and a backspace in PostgreSQL; RE2 has
no back-references or look-arounds; inline flags and named groups are spelled differently;
`\\w`, `\\d`, `\\s` and POSIX classes follow Unicode in PostgreSQL and ASCII in RE2; a repeat
count above 255 is refused by PostgreSQL and above 1000 by RE2; `[[.x.]]` and `[[=x=]]` exist
only in PostgreSQL. So a pattern is checked and spelled in that core before it is bound: the
class escapes and the POSIX classes become the ASCII ranges they mean (`\\d` is `[0-9]`), and
anything outside the core is refused with the reason. Case-insensitivity is the operator's flag,
not an inline `(?i)`; `.` matches any character, a newline included (the dialects say so); the
match is a search (the pattern may match anywhere in the text), as `~` in PostgreSQL.
"""

from __future__ import annotations

import re

MAX_PATTERN = 1000
MAX_REPEAT = 255
PLAIN_ESCAPES = {"t": "\\t", "n": "\\n"}
CLASS_ESCAPES = {"d": "0-9", "w": "0-9A-Za-z_", "s": " \\t\\n\\r\\f\\v"}
POSIX_CLASSES = {
    "digit": "0-9",
    "xdigit": "0-9A-Fa-f",
    "upper": "A-Z",
    "lower": "a-z",
    "alpha": "A-Za-z",
    "alnum": "0-9A-Za-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
}
_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")


def check_regex(pattern: str) -> str:
    """`pattern` spelled in the core every engine reads alike, or ValueError naming the first
    construct outside it."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a pattern has at most {MAX_PATTERN} characters")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            text, i = _escape(pattern, i, in_class=False)
        elif char == "[":
            text, i = _bracket(pattern, i)
        elif char == "(" and pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
            raise ValueError("groups with (? ... ) other than (?: ... ) are read differently")
        elif char in "*+?}" and pattern[i + 1 : i + 2] == "+":
            raise ValueError("possessive quantifiers are not supported by every engine")
        elif char == "{" and (repeat := _REPEAT.match(pattern, i)):
            _check_repeat(repeat)
            text, i = repeat.group(0), repeat.end()
        else:
            text, i = char, i + 1
        out.append(text)
    spelled = "".join(out)
    try:
        re.compile(spelled)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
    return spelled


def _check_repeat(repeat: re.Match[str]) -> None:
    counts = [int(n) for n in repeat.groups() if n]
    if any(n > MAX_REPEAT for n in counts):
        raise ValueError(f"a repeat count is at most {MAX_REPEAT}")


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """The escape at `i` in core spelling, and the position after it."""
    escaped = pattern[i + 1 : i + 2]
    if not escaped:
        raise ValueError("the pattern ends with a lone backslash")
    if escaped in PLAIN_ESCAPES:
        return PLAIN_ESCAPES[escaped], i + 2
    if escaped.lower() in CLASS_ESCAPES:
        ranges = CLASS_ESCAPES[escaped.lower()]
        if in_class:
            if escaped.isupper():
                raise ValueError(f"\\{escaped} inside [ ] is read differently by the engines")
            return ranges, i + 2
        return (f"[^{ranges}]" if escaped.isupper() else f"[{ranges}]"), i + 2
    if escaped.isalnum():
        raise ValueError(
            f"\\{escaped} is read differently by the engines; "
            "use \\d \\D \\s \\S \\w \\W \\t \\n or escape punctuation only"
        )
    return "\\" + escaped, i + 2


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """A bracket expression `[...]` from `i`, in core spelling, and the position after it."""
    out = ["["]
    j = i + 1
    if pattern[j : j + 1] == "^":
        out.append("^")
        j += 1
    if pattern[j : j + 1] == "]":
        out.append("\\]")
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        if pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            name = pattern[j + 2 : end] if end != -1 else ""
            if name not in POSIX_CLASSES:
                known = ", ".join(POSIX_CLASSES)
                raise ValueError(f"[:{name}:] is not a class every engine knows ({known})")
            out.append(POSIX_CLASSES[name])
            j = end + 2
        elif pattern.startswith(("[.", "[="), j):
            raise ValueError("collating elements [. .] and [= =] exist only in PostgreSQL")
        elif pattern[j] == "\\":
            text, j = _escape(pattern, j, in_class=True)
            out.append(text)
        elif pattern[j] == "[":
            out.append("\\[")
            j += 1
        else:
            out.append(pattern[j])
            j += 1
    if j >= len(pattern):
        raise ValueError("a [ is never closed")
    out.append("]")
    return "".join(out), j + 1
