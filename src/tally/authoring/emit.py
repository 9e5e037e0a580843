"""A drafted dataset written as YAML or TOML, with its notes as comments.

Both are written by hand rather than by a serializer so the notes sit beside the column they
are about; every value is spelled as a JSON scalar or list of scalars, which is valid in both
(a double-quoted YAML scalar and a TOML basic string escape alike). The tests read the output
back with PyYAML and tomllib.
"""

from __future__ import annotations

from typing import Any

import orjson

from tally.authoring.draft import Draft


def _value(value: Any) -> str:
    return orjson.dumps(value).decode()


def _comment(text: str, indent: str = "") -> list[str]:
    return [f"{indent}# {line}" for line in text.splitlines()]


def _header(draft: Draft, origin: str) -> list[str]:
    lines = _comment(f"Drafted by `tally datasets infer` from {origin}; review, then run")
    lines += _comment("`tally datasets check`. Operators and measures are the types' defaults.")
    for note in draft.notes:
        lines += _comment(note)
    return lines


def to_yaml(draft: Draft, origin: str) -> str:
    lines = _header(draft, origin)
    for key, value in draft.fields.items():
        if key == "source":
            ((kind, spec),) = value.items()
            lines += ["source:", f"  {kind}:"]
            lines += [f"    {k}: {_value(v)}" for k, v in spec.items()]
        elif key == "columns":
            lines.append("columns:")
            for i, column in enumerate(value):
                lines += _comment(draft.column_notes.get(i, ""), "  ")
                entries = ", ".join(f"{k}: {_value(v)}" for k, v in column.items())
                lines.append(f"  - {{{entries}}}")
        else:
            lines.append(f"{key}: {_value(value)}")
    return "\n".join(lines) + "\n"


def to_toml(draft: Draft, origin: str) -> str:
    lines = _header(draft, origin)
    tables: list[str] = []
    for key, value in draft.fields.items():
        if key == "source":
            ((kind, spec),) = value.items()
            tables += ["", f"[source.{kind}]"]
            tables += [f"{k} = {_value(v)}" for k, v in spec.items()]
        elif key == "columns":
            for i, column in enumerate(value):
                tables += ["", *_comment(draft.column_notes.get(i, "")), "[[columns]]"]
                tables += [f"{k} = {_value(v)}" for k, v in column.items()]
        else:
            lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines + tables) + "\n"
