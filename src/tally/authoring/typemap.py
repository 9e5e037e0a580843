"""A source's column types mapped to Tally's, one small reader per type system.

Each spelling is read the way its own catalog writes it (PostgreSQL's information_schema,
DuckDB's type strings, ClickHouse's `system.columns.type`); what has no faithful Tally type is
left out with the reason, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tally.catalog.model import MAX_DECIMAL_SCALE, ColumnType

_QUOTED = re.compile(r"'((?:[^'\\]|\\.|'')*)'")


@dataclass(frozen=True)
class Mapped:
    """A Tally type (None: no faithful one), its decimal scale, enum values and a note for
    the reader of the drafted file."""

    type: ColumnType | None
    scale: int | None = None
    enum: tuple[str, ...] | None = None
    note: str | None = None


def decimal(native: str, scale: int | None) -> Mapped:
    """An exact number keeps its scale up to Tally's; beyond it, or without one, it is read
    as a float and the draft says so."""
    if scale is None:
        return Mapped(ColumnType.FLOAT, note=f"{native} declares no scale: read as float")
    if scale > MAX_DECIMAL_SCALE:
        return Mapped(
            ColumnType.FLOAT,
            note=f"{native}: scale {scale} is above {MAX_DECIMAL_SCALE}, read as float (not exact)",
        )
    return Mapped(ColumnType.DECIMAL, scale=scale)


def unsupported(native: str) -> Mapped:
    return Mapped(None, note=f"{native} has no Tally type")


def wide_int(native: str) -> Mapped:
    """Integers wider than 64 signed bits: most values fit, and a draft says which do not."""
    return Mapped(ColumnType.INT, note=f"{native}: values above 2^63-1 do not fit int")


def labels(spelled: str) -> tuple[str, ...]:
    """The values of `ENUM('a', 'b')` or `Enum8('a' = 1, 'b' = 2)`."""
    return tuple(v.replace("''", "'").replace("\\'", "'") for v in _QUOTED.findall(spelled))


_PG_SIMPLE = {
    "smallint": ColumnType.INT,
    "integer": ColumnType.INT,
    "bigint": ColumnType.INT,
    "real": ColumnType.FLOAT,
    "double precision": ColumnType.FLOAT,
    "text": ColumnType.STRING,
    "character varying": ColumnType.STRING,
    "character": ColumnType.STRING,
    "uuid": ColumnType.STRING,
    "citext": ColumnType.STRING,
    "boolean": ColumnType.BOOL,
    "timestamp without time zone": ColumnType.TIMESTAMP,
    "timestamp with time zone": ColumnType.TIMESTAMP,
    "date": ColumnType.DATE,
    "json": ColumnType.JSON,
    "jsonb": ColumnType.JSON,
}
_PG_TEXT_ARRAYS = ("_text", "_varchar", "_bpchar", "_uuid", "_citext")


def postgres(
    data_type: str,
    udt_name: str,
    precision: int | None,
    scale: int | None,
    enum: tuple[str, ...] | None,
) -> Mapped:
    """A column as information_schema.columns describes it (data_type, udt_name, numeric
    precision and scale) and the labels of its enum type, if it has one."""
    if data_type == "numeric":
        return decimal(f"numeric({precision}, {scale})" if scale is not None else "numeric", scale)
    if data_type == "ARRAY":
        return (
            Mapped(ColumnType.STRING_ARRAY)
            if udt_name in _PG_TEXT_ARRAYS
            else unsupported(f"array {udt_name.lstrip('_')}[]")
        )
    if data_type == "USER-DEFINED":
        if enum is not None:
            return Mapped(ColumnType.STRING, enum=enum)
        data_type = udt_name
    found = _PG_SIMPLE.get(data_type)
    return Mapped(found) if found else unsupported(data_type)


_DUCK_INTS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_DUCK_SIMPLE = {
    **dict.fromkeys(_DUCK_INTS, ColumnType.INT),
    "FLOAT": ColumnType.FLOAT,
    "DOUBLE": ColumnType.FLOAT,
    "VARCHAR": ColumnType.STRING,
    "UUID": ColumnType.STRING,
    "BOOLEAN": ColumnType.BOOL,
    "DATE": ColumnType.DATE,
    "JSON": ColumnType.JSON,
    "VARCHAR[]": ColumnType.STRING_ARRAY,
    "MAP(VARCHAR, DOUBLE)": ColumnType.FLOAT_MAP,
    "MAP(VARCHAR, FLOAT)": ColumnType.FLOAT_MAP,
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$", re.IGNORECASE)


def duckdb(spelled: str) -> Mapped:
    """A DuckDB type as DuckDB spells it (also what it reads off Parquet and CSV files)."""
    upper = spelled.upper()
    if upper in _DUCK_SIMPLE:
        return Mapped(_DUCK_SIMPLE[upper])
    if upper.startswith("TIMESTAMP"):
        return Mapped(ColumnType.TIMESTAMP)
    if upper in ("UBIGINT", "HUGEINT", "UHUGEINT"):
        return wide_int(spelled)
    if found := _DECIMAL.match(spelled):
        return decimal(spelled, int(found.group(2)))
    if upper.startswith("ENUM("):
        return Mapped(ColumnType.STRING, enum=labels(spelled))
    return unsupported(spelled)


_CH_WRAPPERS = re.compile(r"^(Nullable|LowCardinality)\((.*)\)$")
_CH_INTS = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32")
_CH_SIMPLE = {
    **dict.fromkeys(_CH_INTS, ColumnType.INT),
    "Float32": ColumnType.FLOAT,
    "Float64": ColumnType.FLOAT,
    "String": ColumnType.STRING,
    "UUID": ColumnType.STRING,
    "Bool": ColumnType.BOOL,
    "Date": ColumnType.DATE,
    "Date32": ColumnType.DATE,
    "JSON": ColumnType.JSON,
    "Object('json')": ColumnType.JSON,
    "Array(String)": ColumnType.STRING_ARRAY,
    "Array(LowCardinality(String))": ColumnType.STRING_ARRAY,
    "Map(String, Float64)": ColumnType.FLOAT_MAP,
    "Map(LowCardinality(String), Float64)": ColumnType.FLOAT_MAP,
}
_CH_DECIMAL = re.compile(r"^Decimal(?:32|64|128|256)?\((?:\d+,\s*)?(\d+)\)$")


def unwrap_clickhouse(spelled: str) -> tuple[str, bool]:
    """The type inside Nullable(...) and LowCardinality(...), and whether it is nullable."""
    nullable = False
    while found := _CH_WRAPPERS.match(spelled):
        nullable = nullable or found.group(1) == "Nullable"
        spelled = found.group(2)
    return spelled, nullable


def clickhouse(spelled: str) -> Mapped:
    """A ClickHouse type as `system.columns.type` spells it, wrappers removed."""
    if spelled in _CH_SIMPLE:
        return Mapped(_CH_SIMPLE[spelled])
    if spelled.startswith(("DateTime", "JSON(")):
        return Mapped(ColumnType.TIMESTAMP if spelled.startswith("Date") else ColumnType.JSON)
    if spelled in ("UInt64", "Int128", "UInt128", "Int256", "UInt256"):
        return wide_int(spelled)
    if spelled.startswith("FixedString("):
        return Mapped(ColumnType.STRING)
    if spelled.startswith(("Enum8(", "Enum16(")):
        return Mapped(ColumnType.STRING, enum=labels(spelled))
    if found := _CH_DECIMAL.match(spelled):
        return decimal(spelled, int(found.group(1)))
    return unsupported(spelled)
