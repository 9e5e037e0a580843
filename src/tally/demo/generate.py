"""Build demo tables for the built-in datasets, shaped exactly as the catalog declares them.

The generators only decide values; this module owns the contract with storage: physical column
names, catalog order, arrow types and the row budget per dataset. A generator that forgets a
column or produces the wrong type fails here, loudly, instead of in an engine's bulk insert.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.catalog import Catalog, Dataset
from tally.catalog.arrow import arrow_schema
from tally.demo import decisioning, events, feedback, records

Columns = dict[str, pa.Array | np.ndarray]
Generator = Callable[[np.random.Generator, int, int], Columns]


# Share of a total row budget per dataset: events dominate as they do in production, the records
# roots are small and companies/contacts the smallest; the decisioning datasets share a tenth.
# Sums to 1.
BUILTIN_SHARES: dict[str, float] = {
    "agent_events": 0.54,
    "agent_metrics": 0.225,
    "feedback": 0.072,
    "transactions": 0.027,
    "invoices": 0.0225,
    "contacts": 0.0054,
    "documents": 0.0045,
    "companies": 0.0036,
    **decisioning.SHARES,
}

GENERATORS: dict[str, Generator] = {
    "agent_events": events.agent_events,
    "agent_metrics": events.agent_metrics,
    "feedback": feedback.feedback,
    "invoices": records.invoices,
    "transactions": records.transactions,
    "companies": records.companies,
    "documents": records.documents,
    **decisioning.GENERATORS,
}


@cache
def _catalog() -> Catalog:
    return Catalog.load()


def _rng(dataset_name: str, seed: int) -> np.random.Generator:
    """Independent, reproducible streams per dataset (crc32, not hash(): stable across runs)."""
    return np.random.default_rng(seed + zlib.crc32(dataset_name.encode()))


def _now_us(now: datetime) -> int:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    delta = now.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _table(dataset: Dataset, columns: Columns) -> pa.Table:
    schema = arrow_schema(dataset)
    missing = [f.name for f in schema if f.name not in columns]
    extra = sorted(set(columns) - set(schema.names))
    if missing or extra:
        raise ValueError(f"demo {dataset.name}: missing columns {missing}, unexpected {extra}")
    arrays = []
    for field in schema:
        values = columns[field.name]
        if not isinstance(values, pa.Array):
            # Arrow builds decimals from Decimal objects only: money arrives as rounded floats
            # and is cast below (to the nearest decimal of the scale, which is the value)
            decimal = pa.types.is_decimal(field.type)
            values = pa.array(values, type=pa.float64() if decimal else field.type)
        arr = values
        if arr.type != field.type:
            arr = arr.cast(field.type)
        if not field.nullable and arr.null_count:
            raise ValueError(f"demo {dataset.name}: nulls in non-nullable {field.name}")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _dataset(name: str) -> Dataset:
    dataset = _catalog().get(name)
    if dataset is None or name not in BUILTIN_SHARES:
        raise KeyError(f"no demo generator for dataset {name!r}")
    return dataset


def _companies_for_contacts(contact_rows: int) -> int:
    share = BUILTIN_SHARES["companies"] / BUILTIN_SHARES["contacts"]
    return max(1, round(contact_rows * share))


def generate(dataset_name: str, rows: int, now: datetime, seed: int = 7) -> pa.Table:
    """A deterministic demo table of `rows` rows, with history over the year before `now`.

    `contacts` references companies; generated alone it references the companies table that
    generate("companies", ...) would give for the budget share of companies.
    """
    dataset = _dataset(dataset_name)
    if rows <= 0:
        return arrow_schema(dataset).empty_table()
    now_us = _now_us(now)
    if dataset_name == "contacts":
        company = generate("companies", _companies_for_contacts(rows), now, seed)
        return _contacts(dataset, rows, now_us, seed, company)
    columns = GENERATORS[dataset_name](_rng(dataset_name, seed), rows, now_us)
    return _table(dataset, columns)


def _contacts(dataset: Dataset, rows: int, now_us: int, seed: int, company: pa.Table) -> pa.Table:
    company_columns: Columns = {
        name: company.column(name).combine_chunks()
        for name in ("id", "workspace_id", "name", "country")
    }
    company_columns["created_at"] = pc.cast(company.column("created_at"), pa.int64()).to_numpy()
    columns = records.contacts(_rng("contacts", seed), rows, now_us, company_columns)
    return _table(dataset, columns)


def split_rows(total_rows: int) -> dict[str, int]:
    """Rows per dataset for a total budget; rounding goes to agent_events so the sum is exact."""
    counts = {name: max(1, round(total_rows * share)) for name, share in BUILTIN_SHARES.items()}
    counts["agent_events"] = max(1, total_rows - sum(counts.values()) + counts["agent_events"])
    return counts


def generate_all(total_rows: int, now: datetime, seed: int = 7) -> dict[str, pa.Table]:
    """Every built-in dataset, sharing `total_rows` by BUILTIN_SHARES; contacts point at the
    companies generated here."""
    counts = split_rows(total_rows)
    tables = {
        name: generate(name, rows, now, seed) for name, rows in counts.items() if name != "contacts"
    }
    tables["contacts"] = _contacts(
        _dataset("contacts"), counts["contacts"], _now_us(now), seed, tables["companies"]
    )
    return {name: tables[name] for name in BUILTIN_SHARES}
