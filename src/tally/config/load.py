"""Where each setting comes from: its default, then `tally.toml`, then `TALLY_*` variables, then
command-line flags, each source remembered so `tally config show` can say which one won.

A bad value stops the start with one line per problem, naming the variable (or the file key)
and the form expected; an unknown `TALLY_*` variable is a warning that names the closest known
one, since a misspelled variable silently left at its default is the worst outcome.
"""

from __future__ import annotations

import difflib
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

CONFIG_VARIABLE = "TALLY_CONFIG"
DEFAULT_FILE = Path("tally.toml")
# Variables the command line reads for itself (not settings of the service).
CLIENT_VARIABLES = (CONFIG_VARIABLE, "TALLY_URL", "TALLY_TOKEN")
DEFAULT = "default"


class ConfigError(ValueError):
    """Settings that cannot start the service; one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Loaded:
    settings: Any
    origins: dict[str, str]
    warnings: list[str]
    file: Path | None


def settings_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The fields that are settings (not the views built from them)."""
    return {name: info for name, info in model.model_fields.items() if not info.exclude}


def key_of(name: str, info: FieldInfo) -> str:
    """The setting's key in `tally.toml`; its variable is `TALLY_<KEY>`."""
    extra = info.json_schema_extra
    return str(extra.get("name", name)) if isinstance(extra, dict) else name


def variable_of(name: str, info: FieldInfo) -> str:
    return f"TALLY_{key_of(name, info).upper()}"


def config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """`--config`, else `$TALLY_CONFIG`, else `./tally.toml` when there is one."""
    named = explicit or (Path(environ[CONFIG_VARIABLE]) if environ.get(CONFIG_VARIABLE) else None)
    if named is not None:
        if not named.is_file():
            raise ConfigError([f"config file {named} does not exist"])
        return named
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def load(
    model: type[BaseModel],
    file: Path | None,
    environ: Mapping[str, str],
    overrides: Mapping[str, tuple[Any, str]],
) -> Loaded:
    """Validated settings from the file, the environment and `overrides` ({field: (value,
    where it came from)}), in rising priority."""
    fields = settings_fields(model)
    path = config_file(file, environ)
    raw: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if path is not None:
        _read_file(path, fields, raw, origins)
    for name, info in fields.items():
        variable = variable_of(name, info)
        if environ.get(variable):
            raw[name], origins[name] = environ[variable], variable
    for name, (value, origin) in overrides.items():
        raw[name], origins[name] = value, origin
    try:
        settings = model(**raw)
    except ValidationError as exc:
        raise ConfigError([_problem(e, fields, origins, path) for e in exc.errors()]) from None
    for name in fields:
        origins.setdefault(name, DEFAULT)
    return Loaded(settings, origins, _unknown_variables(fields, environ), path)


def _read_file(
    path: Path, fields: dict[str, FieldInfo], raw: dict[str, Any], origins: dict[str, str]
) -> None:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    by_key = {key_of(name, info): name for name, info in fields.items()}
    unknown = [
        f"{key} in {path} is not a setting{_closest(key, by_key)}" for key in table
        if key not in by_key
    ]  # fmt: skip
    if unknown:
        raise ConfigError(unknown)
    for key, value in table.items():
        raw[by_key[key]], origins[by_key[key]] = value, str(path)


def _unknown_variables(fields: dict[str, FieldInfo], environ: Mapping[str, str]) -> list[str]:
    known = [variable_of(name, info) for name, info in fields.items()] + list(CLIENT_VARIABLES)
    return [
        f"{variable} is not a Tally setting{_closest(variable, known)}; it is ignored"
        for variable in sorted(environ)
        if variable.startswith("TALLY_") and variable not in known
    ]


def _closest(name: str, known: Any) -> str:
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {found[0]}?)" if found else ""


def _problem(
    error: Any, fields: dict[str, FieldInfo], origins: dict[str, str], path: Path | None
) -> str:
    name = str(error["loc"][0]) if error["loc"] else ""
    info = fields.get(name)
    if info is None:
        return str(error["msg"])
    origin = origins.get(name, DEFAULT)
    if origin.startswith(("TALLY_", "--")):
        where = origin
    elif path is not None and origin == str(path):
        where = f"{key_of(name, info)} in {path}"
    else:
        where = name
    if error["type"] == "value_error":
        reason = str(error["msg"]).removeprefix("Value error, ")
    else:
        reason = f"expected {expected_form(info)}"
    return f"{where}={error['input']!r}: {reason} ({info.description})"


def expected_form(info: FieldInfo) -> str:
    """The form a value must have, in words: from the field's type and bounds."""
    kinds = [a for a in get_args(info.annotation) if a is not type(None)]
    if get_origin(info.annotation) not in (Union, types.UnionType):
        kinds = [info.annotation]
    kind = kinds[0]
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(get_args(kind))
    words = {bool: "on or off", int: "a whole number", float: "a number", Path: "a path"}
    form = words.get(kind, "text")
    for bound in info.metadata:
        if isinstance(bound, annotated_types.Ge):
            form += f" >= {bound.ge}"
        elif isinstance(bound, annotated_types.Gt):
            form += f" > {bound.gt}"
    return form
