"""The SOURCE of `tally datasets infer` as the `source:` of a dataset file.

Secrets are not copied into the file: a password in a URL is replaced by `${<NAME>_PASSWORD}`
and the user is told to set that variable; a SOURCE given as `${VAR}` (a URL kept in the
environment) is written as that reference, its value read only to reach the source. Paths are
written absolute, so the file means the same wherever the server starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from tally.authoring.described import SourceError
from tally.authoring.duck_schema import hive_partitioned, matching_files, sniff_csv
from tally.catalog.model import DATASET_NAME
from tally.catalog.problems import validation_problems
from tally.catalog.sources import (
    DuckDBSource,
    FilesSource,
    Source,
    expand,
    is_reference,
    password_in_userinfo,
    password_parameter,
)

FORMS = (
    "postgresql://..., parquet:/path/glob, csv:/path/glob, duckdb:/path, "
    "clickhouse://... or http(s)://... (a ClickHouse server), chdb://PATH, or '${VAR}' "
    "holding a database URL"
)
_PREFIXES = {"parquet:": "parquet", "csv:": "csv", "duckdb:": "duckdb"}


class TargetError(ValueError):
    """A SOURCE or --table that cannot name a source; the message says what to write."""


@dataclass
class Target:
    """The declaration to write, the one to read the schema through (holding the password the
    written one names by a variable), and the variables the user must set."""

    source: Source
    reading: Source
    secret_variables: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How the file's header and description name the source (never with a password)."""
        kind, spec = self.source.kind, self.source.spec
        if isinstance(spec, DuckDBSource):
            return f"duckdb table {spec.table} of {spec.path}"
        if isinstance(spec, FilesSource):
            return f"{kind} files {spec.path}"
        return f"{kind} table {spec.table}"


def _hide_password(url: str, variable: str) -> tuple[str, bool]:
    """The URL with its password (userinfo or `password=` parameter) replaced by `${variable}`."""
    parts = urlsplit(url)
    hidden = False
    netloc = parts.netloc
    if password_in_userinfo(netloc):
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:${{{variable}}}@{host}"
        hidden = True
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(password_parameter(k, v) for k, v in query):
        query = [(k, f"${{{variable}}}" if k == "password" else v) for k, v in query]
        hidden = True
    text = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="${}"), ""))
    return text, hidden


def _path(text: str) -> str:
    """Absolute, unless it names a variable (then as written)."""
    return text if "${" in text else str(Path(text).absolute())


def _table(kind: str, table: str | None) -> str:
    if table is None:
        raise TargetError(f"a {kind} source needs --table ([schema.]table)")
    return table


def _declared(kind: str, spec: dict) -> Source:
    try:
        return Source.model_validate({kind: spec})
    except ValidationError as exc:
        problems = validation_problems("SOURCE", exc)
        raise TargetError("; ".join(f"{p.field}: {p.message}" for p in problems)) from None


def _database(kind: str, url: str, table: str | None, variable: str) -> Target:
    spec = {"url": url, "table": _table(kind, table)}
    written, hidden = _hide_password(url, variable) if not url.startswith("chdb:") else (url, False)
    return Target(
        _declared(kind, {**spec, "url": written}),
        _declared(kind, spec),
        [variable] if hidden else [],
    )


def _referenced(argument: str, table: str | None) -> Target:
    """SOURCE given as `${VAR}`: the kind is read from the variable's URL, and the file names
    the variable, never its value (which may hold a password, so no message shows it)."""
    try:
        value = expand(argument)
    except ValueError as exc:
        raise TargetError(str(exc)) from None
    scheme = value.partition("://")[0].lower() if "://" in value else ""
    kind = {"postgresql": "postgres", "postgres": "postgres"}.get(
        scheme, "clickhouse" if scheme in ("http", "https", "chdb") else None
    )
    if kind is None:
        raise TargetError(
            f"{argument} must hold a postgresql://, http(s):// (a ClickHouse server, not "
            "clickhouse://) or chdb:// URL; for files write the variable inside the path, "
            "e.g. parquet:${DATA_DIR}/**/*.parquet"
        )
    source = _declared(kind, {"url": argument, "table": _table(kind, table)})
    return Target(source, source)


def target(argument: str, table: str | None, name: str) -> Target:
    """Parse SOURCE (and --table) into the `source:` to write."""
    if not re.fullmatch(DATASET_NAME, name):
        raise TargetError(f"--name {name!r}: lowercase letters, digits and _, from a letter")
    if is_reference(argument):
        return _referenced(argument, table)
    variable = f"{name.upper()}_PASSWORD"
    scheme, sep, rest = argument.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme in ("postgresql", "postgres"):
        return _database("postgres", argument, table, variable)
    if scheme in ("clickhouse", "http", "https", "chdb"):
        url = f"http://{rest}" if scheme == "clickhouse" else argument
        return _database("clickhouse", url, table, variable)
    kind = next((k for p, k in _PREFIXES.items() if argument.startswith(p)), None)
    if kind is None:
        raise TargetError(f"SOURCE must be one of {FORMS}; got {argument!r}")
    path = _path(argument.split(":", 1)[1])
    if kind == "duckdb":
        source = _declared(kind, {"path": path, "table": _table(kind, table)})
        return Target(source, source)
    if table is not None:
        raise TargetError(f"--table is for databases; a {kind} source is its files' glob")
    try:
        files = matching_files(expand(path))
        spec: dict = {"path": path, "hive_partitioning": hive_partitioned(files)}
        if kind == "csv":
            spec["delimiter"], spec["header"] = sniff_csv(files[0])
    except (SourceError, ValueError) as exc:
        raise TargetError(str(exc)) from None
    source = _declared(kind, spec)
    return Target(source, source)
