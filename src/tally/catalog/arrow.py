"""The Arrow shape of a dataset: how batches travel from ingestion and the demo to engines."""

from __future__ import annotations

import pyarrow as pa

from tally.catalog.model import DECIMAL_PRECISION, Column, ColumnType, Dataset

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INT: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOL: pa.bool_(),
    ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    ColumnType.DATE: pa.date32(),
    ColumnType.STRING_ARRAY: pa.list_(pa.string()),
    ColumnType.JSON: pa.string(),
    ColumnType.FLOAT_MAP: pa.map_(pa.string(), pa.float64()),
}


def arrow_type(column: Column) -> pa.DataType:
    """A decimal's type carries its scale; every other type is the same for all columns."""
    if column.type is ColumnType.DECIMAL:
        return pa.decimal128(DECIMAL_PRECISION, column.scale or 0)
    return ARROW_TYPES[column.type]


def arrow_schema(dataset: Dataset) -> pa.Schema:
    """Physical column names (dots flattened), catalog order, catalog nullability."""
    return pa.schema(
        [pa.field(c.physical, arrow_type(c), nullable=c.nullable) for c in dataset.stored_columns]
    )
