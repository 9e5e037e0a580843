"""What an engine needs to know of a dataset to store it, read off the catalog.

Engines import this instead of the catalog's models, so they stay ignorant of the IR while the
compiler and the table DDL read the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.catalog.model import Dataset


@dataclass(frozen=True)
class TableSpec:
    name: str
    key_columns: tuple[str, ...]
    upsert: bool
    order_by: tuple[str, ...]


def table_spec(dataset: Dataset) -> TableSpec:
    """Keys are the primary tenant plus the dataset's key columns; rows are kept in (tenant,
    time) order, which lets a tenant's scan skip other tenants' row groups."""
    keys = tuple(dict.fromkeys((dataset.primary_tenant, *dataset.key_columns)))
    physical = {c.name: c.physical for c in dataset.columns}
    order = [*dataset.tenant_columns[:1], *filter(None, [dataset.time_column])]
    return TableSpec(
        name=dataset.name,
        key_columns=tuple(physical[k] for k in keys),
        upsert=dataset.mode == "upsert",
        order_by=tuple(physical[c] for c in order),
    )
