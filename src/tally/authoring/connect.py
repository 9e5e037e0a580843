"""`tally datasets check --connect`: the columns a file reads exist in its source, with a type
the declared one can be read from."""

from __future__ import annotations

import difflib

from tally.authoring.compat import unreadable
from tally.authoring.described import SourceError
from tally.authoring.reading import source_columns
from tally.catalog.model import Dataset
from tally.catalog.problems import Problem


def missing_columns(file: str, dataset: Dataset) -> list[Problem]:
    """Each stored column whose source column (its `from`, else its name) the source lacks, or
    holds in a type it cannot be read as; an unreadable source is one problem at its
    declaration."""
    if dataset.source is None:
        return []
    try:
        found = {c.name: c for c in source_columns(dataset.source)}
    except SourceError as exc:
        return [Problem(file, f"source.{dataset.source.kind}", str(exc))]
    problems = []
    for i, col in enumerate(dataset.columns):
        wanted = col.source_path.column
        if col.derived is not None:
            continue
        field = f"columns[{i}].from" if col.from_ else f"columns[{i}].name"
        if wanted not in found:
            close = difflib.get_close_matches(wanted, list(found), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(Problem(file, field, f"the source has no column {wanted!r}{hint}"))
        elif reason := unreadable(col, found[wanted]):
            problems.append(Problem(file, f"columns[{i}].type", reason))
    return problems
