"""A dataset with every column type, clean NDJSON rows of it, and the reference parse of a body.

The NDJSON fast path is checked against what ingestion did before it existed: every non-blank
line parsed by orjson (a line that is not JSON becomes that row's error) and handed to the row
validator. `reference_rows` is that parse, written out here independently of `tally`.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

import orjson

from tally.catalog.model import Dataset
from tally.ingest.rows import MAX_STRING, UnparsableRow

EVERY_TYPE_TOML = """
name = "every_type"
tenant_columns = ["tenant"]
time_column = "ts"
key_columns = ["id"]

[[columns]]
name = "tenant"
type = "string"
nullable = false

[[columns]]
name = "id"
type = "string"
nullable = false

[[columns]]
name = "kind"
type = "string"
enum = ["a", "b", "c"]

[[columns]]
name = "ts"
type = "timestamp"
nullable = false

[[columns]]
name = "day"
type = "date"

[[columns]]
name = "n"
type = "int"

[[columns]]
name = "x"
type = "float"

[[columns]]
name = "money"
type = "decimal"
scale = 2

[[columns]]
name = "flag"
type = "bool"

[[columns]]
name = "tags"
type = "string[]"

[[columns]]
name = "meta"
type = "json"

[[columns]]
name = "scores"
type = "map<string,float>"

[[columns]]
name = "rec.name"
type = "string"

[[columns]]
name = "rec.size"
type = "int"

[[columns]]
name = "note"
type = "string"
"""
EVERY_TYPE = Dataset.model_validate(tomllib.loads(EVERY_TYPE_TOML))

TIMESTAMPS = [
    "2026-03-01T10:00:00Z",
    "2026-03-01T10:00:00+01:00",
    "2026-03-01 23:59:59.123456-05:30",
    "2026-03-01T10:00Z",
    "1999-12-31T23:59:59.5+00:00",
]
INTS = [0, 7, -42, 2**63 - 1, -(2**63), None]
FLOATS = [0.1, 5, -0.0, 1e-7, 1.7976931348623157e308, 5e-324, 123456.789, 2**53 + 1, None]
MONEY = [0.1, "0.2", 5, -0.05, "12.300", "9999999999999999.99", 12345678901234.5, "-0", 1e2, None]
TAGS = [[], ["a"], ["é", 'quote"d', "back\\slash", "line\nbreak", "😀", "\u2028", "\u0000"], None]
METAS = [
    {},
    {"channel": "email", "n": 3, "ok": True, "none": None},
    {"nested": {"list": [1, 2.5, None, "x", {"deep": []}]}, "unicode": "ü\u0000"},
    {"big": 123456789012345678901234567890, "small": -(2**63), "float": 1e300},
    None,
]
SCORES = [{"a": 1, "b": 2.5}, {}, {"ü": -0.0, "long": 1e-300}, None]
NOTES = ['say "hi"', "tab\tand\\", "", "x" * MAX_STRING, "emoji 😀 and \u2028", None]


def clean_row(i: int, prefix: str = "r", tenant: str | None = None) -> dict[str, Any]:
    """A row the row validator accepts; `i` varies every column over values and nulls."""
    row: dict[str, Any] = {
        "tenant": tenant or ("t_a", "t_b")[i % 2],
        "id": f"{prefix}{i:05d}",
        "kind": ("a", "b", "c", None)[i % 4],
        "ts": TIMESTAMPS[i % len(TIMESTAMPS)],
        "day": (f"2026-02-{1 + i % 28:02d}", None)[i % 5 == 4],
        "n": INTS[i % len(INTS)],
        "x": FLOATS[i % len(FLOATS)],
        "money": MONEY[i % len(MONEY)],
        "flag": (True, False, None)[i % 3],
        "tags": TAGS[i % len(TAGS)],
        "meta": METAS[i % len(METAS)],
        "scores": SCORES[i % len(SCORES)],
        "rec.name": (f"name {i}", None)[i % 6 == 5],
        "rec.size": i,
        "note": NOTES[i % len(NOTES)],
    }
    for key in ("kind", "day", "note")[: i % 4]:
        del row[key]  # an absent nullable column is null
    return row


def encode(row: dict[str, Any], style: int) -> bytes:
    """One row as a JSON line in one of several spellings (spaces, ASCII escapes, padding)."""
    if style == 0:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
    if style == 1:
        return json.dumps(row, ensure_ascii=True).encode()
    if style == 2:
        return b" \t" + json.dumps(row, ensure_ascii=False, separators=(" ,", " : ")).encode()
    return json.dumps(row, ensure_ascii=False).encode() + b"  "


def clean_body(count: int, prefix: str = "r", tenant: str | None = None) -> bytes:
    """`count` clean rows in mixed spellings, with blank lines and CRLF endings here and there."""
    lines = []
    for i in range(count):
        lines.append(encode(clean_row(i, prefix, tenant), i % 4))
        if i % 7 == 3:
            lines.append(b" \t\x0b\x0c")
    return b"\n".join(lines[: count // 2]) + b"\r\n" + b"\r\n".join(lines[count // 2 :]) + b"\n"


def base(**changes: Any) -> dict[str, Any]:
    """The smallest clean row, with `changes`."""
    return {"tenant": "t_a", "id": "p1", "ts": "2026-03-01T10:00:00Z", **changes}


# Lines the fast path must decline: the row validator decides them (some it accepts).
PROBLEMS = {
    "int given a fraction": base(n=1.5),
    "int given a whole float": base(n=2.0),
    "int too big": base(n=2**63),
    "int below int64 as a float": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"n":-9223372036854775809}',
    "int given true": base(n=True),
    "float given a string": base(x="1.5"),
    "float given false": base(x=False),
    "float too big for JSON": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","x":1e400}',
    "float NaN": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","x":NaN}',
    "float Infinity": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","x":-Infinity}',
    "decimal with more places than its scale": base(money=12.345),
    "decimal string with more places than its scale": base(money="12.345"),
    "decimal string with an exponent": base(money="1e2"),
    "decimal string NaN": base(money="NaN"),
    "decimal string with a space": base(money=" 1.5"),
    "decimal too large": base(money="12345678901234567"),
    "decimal number of 17 digits": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"money":123456789012345.67}',
    "decimal number of 16 digits": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"money":12345678901234.56}',
    "decimal given true": base(money=True),
    "decimal given an object": base(money={"amount": 1}),
    "decimal NaN": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","money":NaN}',
    "bool given 1": base(flag=1),
    "string given a number": base(note=5),
    "string given an object": base(note={"a": 1}),
    "string too long": base(note="x" * (MAX_STRING + 1)),
    "enum outside": base(kind="z"),
    "timestamp without zone": base(ts="2026-03-01T10:00:00"),
    "timestamp nonsense": base(ts="yesterday"),
    "timestamp with 7 digits": base(ts="2026-03-01T10:00:00.1234567Z"),
    "timestamp as a number": base(ts=1700000000),
    "date impossible": base(day="2026-02-30"),
    "date as an ISO week": base(day="2026-W01-1"),
    "tags with a number": base(tags=["a", 1]),
    "tags with a null": base(tags=["a", None]),
    "tags not a list": base(tags="a"),
    "tag too long": base(tags=["x" * (MAX_STRING + 1)]),
    "json given a list": base(meta=[1]),
    "json given a string": base(meta="{}"),
    "json with NaN inside": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"meta":{"a":NaN}}',
    "json nested too deep": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","meta":{"a":'
    + b"[" * 1030
    + b"]" * 1030
    + b"}}",
    "json nested deep but allowed": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"meta":{"a":' + b"[" * 1020 + b"]" * 1020 + b"}}",
    "map with a string": base(scores={"a": "1"}),
    "map with true": base(scores={"a": True}),
    "map with a null": base(scores={"a": None}),
    "map key too long": base(scores={"k" * (MAX_STRING + 1): 1}),
    "required missing": {"tenant": "t_a", "id": "p1"},
    "required null": base(tenant=None),
    "unknown field": base(colour="red"),
    "unknown dotted field": base(**{"rec.colour": "red"}),
    "nested record as an object": base(rec={"name": "x", "size": 2}),
    "nested record null": base(rec=None),
    "duplicate key, last one good": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"n":"x","n":5}',
    "duplicate key, first one good": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"n":5,"n":"x"}',
    "trailing comma": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",}',
    "trailing comma inside": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"tags":["a" , ]}',
    "an array": b"[1, 2]",
    "a string": b'"row"',
    "null": b"null",
    "a number": b"5",
    "not JSON": b'{"tenant": oops',
    "single quotes": b"{'tenant': 't_a'}",
    "byte order mark": b"\xef\xbb\xbf" + orjson.dumps(base()),
    "invalid UTF-8": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","note":"\xff"}',
    "lone surrogate": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","note":"\\ud800"}',
    "raw control character": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z",'
    b'"note":"a\x01"}',
    "raw NUL": b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","note":"a\x00"}',
    "lone carriage return": b'{"tenant":"t_a","id":"p1",\r"ts":"2026-03-01T10:00:00Z"}',
    "form feed before the object": b"\x0c" + orjson.dumps(base()),
    "two objects on a line": orjson.dumps(base()) + b" " + orjson.dumps(base()),
}


def problem_body(name: str, prefix: str = "r") -> bytes:
    """Six clean rows with the problem line of `name` in the middle (row index 3)."""
    problem = PROBLEMS[name]
    line = problem if isinstance(problem, bytes) else orjson.dumps(problem)
    line = line.replace(b'"p1"', b'"' + prefix.encode() + b'p1"')
    clean = [encode(clean_row(i, prefix), i % 4) for i in range(6)]
    return b"\n".join([*clean[:3], line, *clean[3:]])


def reference_rows(data: bytes) -> list[Any]:
    """The rows of an NDJSON body as ingestion parsed them before the fast path existed."""
    rows: list[Any] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            rows.append(UnparsableRow(f"not valid JSON: {exc.msg}"))
    return rows
