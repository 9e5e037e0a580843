"""What is wrong with a dataset file, each problem with its file and the path of its field.

One reading of a file serves the server's start, `tally datasets check` and live reload, so a
file refused by one is refused by all, with the same words: `shop.yaml: columns[2].type:
'money' is not one of 'string', 'int', ...`.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from tally.catalog.model import Column, Dataset, Derived, RowAccess, reference_problems
from tally.catalog.rollups import Location, reserved_name_problem, rollup_problems
from tally.catalog.sources import (
    ClickHouseSource,
    CsvSource,
    DuckDBSource,
    PostgresSource,
    Source,
    variables_in,
    written_password,
)
from tally.errors import pointer

SUFFIXES = (".toml", ".yaml", ".yml")
_MODELS: tuple[type[BaseModel], ...] = (
    Dataset, Column, Derived, RowAccess, Source, PostgresSource, CsvSource, DuckDBSource,
    ClickHouseSource,
)  # fmt: skip
_ROLLUPS_READ = ("columns", "time_column", "source", "rollups")
_PARTS = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
KNOWN_FIELDS = sorted({i.alias or n for m in _MODELS for n, i in m.model_fields.items()})


@dataclass(frozen=True)
class Problem:
    """`field` is the path as a reader writes it (`columns[4].type`, what the CLI prints);
    `pointer` is the same path as a JSON pointer (`/columns/4/type`, what the API answers, like
    the paths of its error shape). Empty when the problem is the whole file."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"

    @property
    def pointer(self) -> str:
        parts = _PARTS.findall(self.field)
        return pointer(*(int(index) if index else key for index, key in parts))

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "field": self.field, "message": self.message}


def field_path(loc: Iterable[str | int]) -> str:
    """pydantic's location as a reader writes it: `columns[2].derived.of`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _message(error: Mapping[str, Any]) -> str:
    kind, given = error["type"], error.get("input")
    if kind in ("enum", "literal_error"):
        return f"{given!r} is not one of {error['ctx']['expected']}"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, KNOWN_FIELDS, n=1)
        return "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing":
        return "required"
    if kind == "string_pattern_mismatch":
        return f"{given!r} does not match {error['ctx']['pattern']}"
    return str(error["msg"]).removeprefix("Value error, ")


def validation_problems(file: str, exc: ValidationError) -> list[Problem]:
    return [Problem(file, field_path(e["loc"]), _message(e)) for e in exc.errors()]


def _document(file: str, text: str) -> tuple[Any, list[Problem]]:
    """The parsed file, or why it cannot be parsed (with its line)."""
    if file.endswith(".toml"):
        try:
            return tomllib.loads(text), []
        except tomllib.TOMLDecodeError as exc:
            return None, [Problem(file, "", f"not valid TOML: {exc}")]
    try:
        return yaml.safe_load(text), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(file, "", f"not valid YAML: {reason}{where}")]


def read_dataset(
    file: str, text: str, environ: Mapping[str, str] | None = None
) -> tuple[Dataset | None, list[Problem]]:
    """The dataset a file declares, or every problem found in it at once: a field's own, those
    across fields and those of its source (with `environ`, an unset `${VAR}` is one too), as
    far as the fields they read are valid."""
    data, problems = _document(file, text)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        return None, [Problem(file, "", "the file must hold one dataset (a mapping of fields)")]
    try:
        dataset: Dataset | None = Dataset.model_validate(data)
    except ValidationError as exc:
        dataset = None
        found = reference_problems(data) + rollups_of_draft(data)
        problems = validation_problems(file, exc) + [
            Problem(file, field_path(loc), reason) for loc, reason in found
        ]
    name = data.get("name")
    reserved = reserved_name_problem(name) if isinstance(name, str) else None
    if reserved:
        problems.append(Problem(file, "name", reserved))
    source = dataset.source if dataset is not None else _valid_source(data.get("source"))
    if source is not None:
        problems += written_passwords(file, str(data.get("name") or "dataset"), source)
        problems += unset_variables(file, source, environ) if environ is not None else []
    problems = list(dict.fromkeys(problems))
    return (None if problems else dataset), problems


def rollups_of_draft(data: Mapping[str, Any]) -> list[tuple[Location, str]]:
    """The rollup problems of a file with problems elsewhere, when the fields rollups are
    checked against (columns, time column, source) are valid on their own."""
    valid = {}
    for name in _ROLLUPS_READ:
        if name in data:
            try:
                valid[name] = _field_value(name, data[name])
            except ValidationError:
                return []
    if not valid.get("rollups") or "columns" not in valid:
        return []
    try:
        # Only a rollup key named like DuckDB's row id is checked against them.
        tenants = _field_value("tenant_columns", data.get("tenant_columns"))
    except ValidationError:
        tenants = ()
    return rollup_problems(Dataset.model_construct(tenant_columns=tenants, **valid))


def _field_value(name: str, value: object) -> object:
    info = Dataset.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, info]).validate_python(value)


def _valid_source(declared: object) -> Source | None:
    """The source of a file with problems elsewhere, when it is valid on its own."""
    try:
        return Source.model_validate(declared) if declared is not None else None
    except ValidationError:
        return None


def written_passwords(file: str, name: str, source: Source) -> list[Problem]:
    """A source URL that holds its password (as declared, before `${VAR}` expansion): secrets
    come from the environment, never from a file that is copied, committed and shared."""
    spec = source.spec
    if not isinstance(spec, (PostgresSource, ClickHouseSource)) or not written_password(spec.url):
        return []
    message = (
        "a password is written in the file; write ${VAR} in its place (e.g. "
        f"user:${{{name.upper()}_PASSWORD}}@host) and set that variable where Tally runs"
    )
    return [Problem(file, f"source.{source.kind}.url", message)]


def unset_variables(file: str, source: Source, environ: Mapping[str, str]) -> list[Problem]:
    """`${VAR}`s of the source that the environment does not set: the source cannot be opened."""
    problems = []
    for key, value in source.spec.model_dump().items():
        if isinstance(value, str):
            for name in variables_in(value):
                if name not in environ:
                    message = f"environment variable {name} is not set"
                    problems.append(Problem(file, f"source.{source.kind}.{key}", message))
    return problems


def inspect(
    path: Path, environ: Mapping[str, str] | None = None
) -> tuple[Dataset | None, list[Problem]]:
    """A file's dataset (None when it has problems) and its problems; with `environ`, an unset
    `${VAR}` is one too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path.name, "", f"cannot be read: {exc}")]
    return read_dataset(path.name, text, environ)


def problems_in(path: Path, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of one dataset file (what live reload refuses a file for)."""
    return inspect(path, environ)[1]


def dataset_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SUFFIXES)


def problems_in_directory(
    directory: Path, environ: Mapping[str, str] | None = os.environ
) -> tuple[dict[Path, Dataset], list[Problem]]:
    """The valid datasets of a directory by file, and the problems of the others; two files
    declaring one name are a problem of the second (the server would keep only one)."""
    found: dict[Path, Dataset] = {}
    problems: list[Problem] = []
    first: dict[str, Path] = {}
    for path in dataset_files(directory):
        dataset, mine = inspect(path, environ)
        problems += mine
        if dataset is None:
            continue
        if dataset.name in first:
            message = f"dataset {dataset.name!r} is also declared by {first[dataset.name].name}"
            problems.append(Problem(path.name, "name", message))
            continue
        first[dataset.name] = path
        found[path] = dataset
    return found, problems
