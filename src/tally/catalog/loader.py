"""Load datasets from the files shipped in the package and from a user directory.

A user adds a dataset by dropping a `.toml`, `.yaml` or `.yml` file into the configured
directory; a user file with the name of a built-in dataset replaces it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from tally.catalog.model import Dataset
from tally.errors import ErrorDetail, TallyError, not_found

SUFFIXES = (".toml", ".yaml", ".yml")


class CatalogError(Exception):
    """A dataset file that cannot be used; raised at start-up, never during a request."""


def _parse(name: str, text: str) -> Dataset:
    data = tomllib.loads(text) if name.endswith(".toml") else yaml.safe_load(text)
    try:
        return Dataset.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{name}: {exc}") from exc


def builtin_files() -> Iterable[tuple[str, str]]:
    root = resources.files("tally.catalog").joinpath("datasets")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(SUFFIXES):
            yield entry.name, entry.read_text(encoding="utf-8")


def user_files(extra_dir: Path | None) -> list[Path]:
    """The dataset files of the user directory, in the order they are read (a later file with
    the name of an earlier dataset replaces it)."""
    if extra_dir is None or not extra_dir.is_dir():
        return []
    return [path for path in sorted(extra_dir.iterdir()) if path.suffix in SUFFIXES]


class Catalog:
    """The datasets a running service knows, by name, and the user file each came from (a
    reload keeps serving a dataset whose file turned invalid, so it must know which file)."""

    def __init__(self, datasets: Iterable[Dataset], origins: dict[str, str] | None = None) -> None:
        self._datasets = {d.name: d for d in datasets}
        self.origins = origins or {}

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> Catalog:
        found: dict[str, Dataset] = {}
        origins: dict[str, str] = {}
        for name, text in builtin_files():
            ds = _parse(name, text)
            found[ds.name] = ds
        for path in user_files(extra_dir):
            ds = _parse(path.name, path.read_text(encoding="utf-8"))
            found[ds.name] = ds
            origins[ds.name] = str(path)
        return cls(found.values(), origins)

    def get(self, name: str) -> Dataset | None:
        return self._datasets.get(name)

    def require(self, name: str, *, in_body: bool = False) -> Dataset:
        """The named dataset; unknown is a 400 at /dataset in a query body, else a 404."""
        dataset = self._datasets.get(name)
        if dataset is None:
            reason = f"there is no dataset {name!r}"
            if in_body:
                raise TallyError("unknown_dataset", reason, 400, [ErrorDetail("/dataset", reason)])
            raise not_found(reason)
        return dataset

    def __contains__(self, name: object) -> bool:
        return name in self._datasets

    def __iter__(self):
        return iter(sorted(self._datasets.values(), key=lambda d: d.name))

    def names(self) -> list[str]:
        return sorted(self._datasets)
