"""Load datasets from the files shipped in the package and from a user directory.

A user adds a dataset by dropping a `.toml`, `.yaml` or `.yml` file into the configured
directory; a user file with the name of a built-in dataset replaces it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from tally.catalog.model import Dataset
from tally.catalog.problems import SUFFIXES, Problem, dataset_files, inspect, read_dataset
from tally.errors import ErrorDetail, TallyError, not_found


class CatalogError(Exception):
    """Dataset files that cannot be used, one line per problem (file, field path, message);
    raised at start-up, never during a request."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _parse(name: str, text: str) -> Dataset:
    dataset, problems = read_dataset(name, text)
    if dataset is None:
        raise CatalogError(problems)
    return dataset


def builtin_files() -> Iterable[tuple[str, str]]:
    root = resources.files("tally.catalog").joinpath("datasets")
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(SUFFIXES):
            yield entry.name, entry.read_text(encoding="utf-8")


class Catalog:
    """The datasets a running service knows, by name, and the file each came from (a reload
    keeps serving a dataset whose file turned invalid, so it must know which file)."""

    def __init__(self, datasets: Iterable[Dataset], origins: dict[str, str] | None = None) -> None:
        """`origins`: the file that declared each dataset, for messages about it."""
        self._datasets = {d.name: d for d in datasets}
        self._origins = {k: v for k, v in (origins or {}).items() if k in self._datasets}

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> Catalog:
        found: dict[str, Dataset] = {}
        origins: dict[str, str] = {}
        for name, text in builtin_files():
            ds = _parse(name, text)
            found[ds.name], origins[ds.name] = ds, f"built-in {name}"
        if extra_dir is not None and extra_dir.is_dir():
            for path in dataset_files(extra_dir):
                ds = _parse(path.name, path.read_text(encoding="utf-8"))
                found[ds.name], origins[ds.name] = ds, str(path)
        return cls(found.values(), origins)

    def origin(self, name: str) -> str:
        """The file that declared dataset `name`."""
        return self._origins.get(name, f"dataset {name}")

    @property
    def origins(self) -> dict[str, str]:
        """The file of every dataset, by name."""
        return dict(self._origins)

    def is_builtin(self, name: str) -> bool:
        return self._origins.get(name, "").startswith("built-in ")

    def without_builtins(self, names: Iterable[str]) -> Catalog:
        """This catalog less the named built-in datasets (those of profiles that are not
        served); a user file with such a name is kept."""
        dropped = {name for name in names if self.is_builtin(name)}
        kept = [d for d in self._datasets.values() if d.name not in dropped]
        return Catalog(kept, self._origins)

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


def load_catalog(
    extra_dir: Path | None,
    previous: Catalog | None = None,
    unserved: Iterable[str] = (),
    environ: Mapping[str, str] = os.environ,
) -> tuple[Catalog, list[Problem]]:
    """What a reload reads: the built-in datasets less `unserved` (as at start-up), and each
    user file read and checked on its own (problems.py), so a bad file is reported instead of
    failing the whole catalog; for a refused file, the datasets it defined in `previous` (none
    when it is new). A built-in file that fails is a defect, raised as at start-up."""
    builtins = Catalog.load(None).without_builtins(unserved)
    found = {ds.name: ds for ds in builtins}
    origins = builtins.origins
    problems: list[Problem] = []
    refused: set[str] = set()
    declared: set[str] = set()
    for path in dataset_files(extra_dir) if extra_dir is not None and extra_dir.is_dir() else []:
        dataset, mine = inspect(path, environ)
        if dataset is None:
            problems += mine
            refused.add(str(path))
            continue
        found[dataset.name], origins[dataset.name] = dataset, str(path)
        declared.add(dataset.name)
    if previous is not None:
        for name, origin in previous.origins.items():
            kept = previous.get(name)
            if origin in refused and kept is not None and name not in declared:
                found[name], origins[name] = kept, origin
    return Catalog(found.values(), origins), problems
