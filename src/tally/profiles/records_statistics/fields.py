"""Record roots and the data types the records API speaks, read from the catalog.

The catalog stores nested record fields as dotted columns (`grand_total.amount`); the records API
talks about five data types. The mapping (decided): a string column with an `enum` is `enum`,
any other string is `text`, int, float and decimal are `number`, date and timestamp are `date`,
bool is `boolean`. Columns of any other type are not part of a records root.
"""

from __future__ import annotations

from enum import StrEnum

from tally.catalog import Catalog
from tally.catalog.model import Column, ColumnType, Dataset
from tally.profiles.records_statistics.errors import Problems

ROOTS = ("invoices", "transactions", "companies", "contacts", "documents")
WORKSPACE_FIELDS = frozenset({"workspace_id"})
"""Fields of the workspace type: they name the tenant, and the records API compares them with
`eq` only (a pattern or a range over workspace ids would be a way to probe for others)."""


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    ENUM = "enum"


_KINDS = {
    ColumnType.INT: Kind.NUMBER,
    ColumnType.FLOAT: Kind.NUMBER,
    ColumnType.DECIMAL: Kind.NUMBER,
    ColumnType.DATE: Kind.DATE,
    ColumnType.TIMESTAMP: Kind.DATE,
    ColumnType.BOOL: Kind.BOOLEAN,
}


class UnknownField(ValueError):
    """A path that is not a field of the root; the message is safe to show."""


def kind_of(column: Column) -> Kind | None:
    if column.type is ColumnType.STRING:
        return Kind.ENUM if column.enum else Kind.TEXT
    return _KINDS.get(column.type)


def root_dataset(catalog: Catalog, root: str) -> Dataset | None:
    return catalog.get(root) if root in ROOTS else None


def children(dataset: Dataset, prefix: str) -> list[str]:
    """Fields below a nested object, e.g. `grand_total` -> amount and currency paths."""
    return [c.name for c in dataset.columns if c.name.startswith(prefix + ".")]


def field_column(dataset: Dataset, path: str) -> Column:
    """The column a dotted path names, or UnknownField saying what the path could have meant."""
    if dataset.has_column(path):
        column = dataset.column(path)
        if kind_of(column) is not None:
            return column
    below = children(dataset, path)
    if below:
        raise UnknownField(f"{path!r} is an object: use one of {', '.join(below)}")
    raise UnknownField(f"unknown field {path!r} in root {dataset.name!r}")


def lookup(dataset: Dataset, path: str, problems: Problems, *where: str | int) -> Column | None:
    """The column of `path`, or None with the problem recorded at `where` in the request."""
    try:
        return field_column(dataset, path)
    except UnknownField as exc:
        problems.add(str(exc), *where)
        return None
