"""Read every dataset file, refusing a bad file instead of failing the whole catalog.

At start-up a bad file stops the server (`Catalog.load`); a running server cannot stop, so a
reload reads through `load_catalog`: each file that cannot be used is reported as problems that
name the file and the field inside it (a JSON pointer), and the dataset that file defined before
keeps its previous definition. `tally datasets check` can report through the same function.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tally.catalog.loader import Catalog, user_files
from tally.catalog.model import Dataset
from tally.errors import pointer


@dataclass(frozen=True)
class Problem:
    """Why one file (or one field of it) cannot be used; `field` is a JSON pointer, empty when
    the problem is the whole file."""

    file: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "field": self.field, "message": self.message}


def read_dataset(path: Path) -> Dataset | list[Problem]:
    """The dataset a file defines, or every problem found in it."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        return [Problem(str(path), "", f"cannot be read: {_one_line(exc)}")]
    try:
        return Dataset.model_validate(data)
    except ValidationError as exc:
        return [_problem(str(path), error) for error in exc.errors()]


def load_catalog(
    extra_dir: Path | None, previous: Catalog | None = None
) -> tuple[Catalog, list[Problem]]:
    """The built-in datasets and the user directory's files; for a file that is refused, the
    datasets it defined in `previous` (none when it is new). Built-in files are part of the
    package: one that fails is a defect, raised as at start-up."""
    builtins = Catalog.load(None)
    found = {ds.name: ds for ds in builtins}
    origins: dict[str, str] = {}
    problems: list[Problem] = []
    refused: list[str] = []
    for path in user_files(extra_dir):
        read = read_dataset(path)
        if isinstance(read, Dataset):
            found[read.name] = read
            origins[read.name] = str(path)
        else:
            problems += read
            refused.append(str(path))
    if previous is not None:
        for name, origin in previous.origins.items():
            kept = previous.get(name)
            if origin in refused and kept is not None and name not in origins:
                found[name] = kept
                origins[name] = origin
    return Catalog(found.values(), origins), problems


def _problem(file: str, error: Any) -> Problem:
    message = error["msg"].removeprefix("Value error, ")
    return Problem(file, pointer(*error["loc"]), message)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
