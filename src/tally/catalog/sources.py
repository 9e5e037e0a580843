"""Where an external dataset's rows live, as declared in its file (`source:`).

A dataset without a source is owned by Tally: Tally creates its table and ingests into it. A
dataset with one is read in place and never written: no DDL, no index, no ingestion. The
declaration names exactly one kind (`postgres`, `parquet`, `csv`, `duckdb`, `clickhouse`) and
how fresh answers over it must be. Connection strings and paths may hold `${VAR}` references,
resolved from the environment when the source is opened, so secrets never sit in the file.
"""

from __future__ import annotations

import os
import re
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# schema.table or table; each part a plain SQL identifier (quoted when the SQL is built).
# A JSON key on a path: it ends up inside a quoted path literal, so no quotes or dots.
_JSON_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,63}$")
_TABLE = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$"


def variables_in(text: str) -> list[str]:
    """The `${VAR}` names a declared string refers to."""
    return _VARIABLE.findall(text)


def is_reference(text: str) -> bool:
    """Whether `text` is one `${VAR}` reference and nothing else."""
    return _VARIABLE.fullmatch(text) is not None


def _written(secret: str) -> bool:
    """A password spelled out, not an empty one and not a single `${VAR}` reference."""
    return bool(secret) and not is_reference(secret)


def password_in_userinfo(netloc: str) -> bool:
    """`user:secret@host` with the secret written out."""
    user, at, _ = netloc.rpartition("@")
    return bool(at) and ":" in user and _written(user.split(":", 1)[1])


def password_parameter(key: str, value: str) -> bool:
    """A `password=secret` query parameter with the secret written out."""
    return key == "password" and _written(value)


def written_password(url: str) -> bool:
    """Whether a declared URL holds a password itself rather than naming a variable: what
    `tally datasets infer` replaces by `${VAR}`, and what a dataset file may not hold."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    return password_in_userinfo(parts.netloc) or any(password_parameter(*kv) for kv in query)


def expand(text: str) -> str:
    """`text` with every `${VAR}` replaced from the environment; a missing one is an error
    naming the variable (never its would-be value)."""
    missing = [name for name in variables_in(text) if name not in os.environ]
    if missing:
        raise ValueError(f"environment variable {missing[0]} is not set")
    return _VARIABLE.sub(lambda m: os.environ[m.group(1)], text)


class _Kind(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostgresSource(_Kind):
    """A table or view of an existing PostgreSQL database."""

    url: str = Field(description="postgresql:// URL; use ${VAR} for secrets.")
    table: str = Field(pattern=_TABLE, description="[schema.]table")


class FilesSource(_Kind):
    """Parquet or CSV files read in place by DuckDB; a glob may span a folder tree."""

    path: str = Field(min_length=1, description="A file, or a glob such as /data/**/*.parquet.")
    hive_partitioning: bool = Field(
        False, description="Read key=value folder names as columns, and prune on them."
    )


class CsvSource(FilesSource):
    header: bool = Field(True, description="Whether the first line names the columns.")
    delimiter: str = Field(",", min_length=1, max_length=1)


class DuckDBSource(_Kind):
    """A table of a DuckDB database file, opened read-only."""

    path: str = Field(min_length=1, description="The database file.")
    table: str = Field(pattern=_TABLE, description="[schema.]table")


class ClickHouseSource(_Kind):
    """A ClickHouse table: http(s):// for a server, chdb://PATH for an in-process store."""

    url: str = Field(description="http(s)://user:${VAR}@host:port or chdb://PATH.")
    table: str = Field(pattern=_TABLE, description="[database.]table")


SourceKind = Literal["postgres", "parquet", "csv", "duckdb", "clickhouse"]
KINDS: tuple[SourceKind, ...] = ("postgres", "parquet", "csv", "duckdb", "clickhouse")


class Source(BaseModel):
    """Exactly one kind, plus how fresh answers over the source must be."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": [kind]} for kind in KINDS]},
    )

    postgres: PostgresSource | None = None
    parquet: FilesSource | None = None
    csv: CsvSource | None = None
    duckdb: DuckDBSource | None = None
    clickhouse: ClickHouseSource | None = None
    refresh_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="Longest a cached answer may be older than the source; 0 never caches.",
    )
    watermark_interval_seconds: float = Field(
        30.0, ge=0, description="How long the source's newest time per scope is remembered."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        named = [kind for kind in KINDS if getattr(self, kind)]
        if len(named) != 1:
            raise ValueError(
                "a source names exactly one of postgres, parquet, csv, duckdb, clickhouse"
            )
        return self

    @property
    def kind(self) -> SourceKind:
        for kind in KINDS:
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated to name one kind")

    @property
    def spec(self) -> PostgresSource | FilesSource | DuckDBSource | ClickHouseSource:
        return getattr(self, self.kind)


class SourcePath(BaseModel):
    """A column's `from`: a source column, or a JSON path inside one (`payload:user.id`,
    the notation Snowflake uses for semi-structured values)."""

    model_config = ConfigDict(frozen=True)

    column: str
    json_path: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SourcePath:
        column, colon, path = text.partition(":")
        parts = tuple(path.split(".")) if colon else ()
        if not column.strip() or any(not _JSON_KEY.match(part) for part in parts):
            raise ValueError(
                f"from {text!r}: write a source column, or column:json.path "
                "(keys of letters, digits, _ and -)"
            )
        return cls(column=column, json_path=parts)
