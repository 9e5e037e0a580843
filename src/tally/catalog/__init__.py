from tally.catalog.loader import Catalog, CatalogError
from tally.catalog.model import Column, ColumnType, Dataset

__all__ = ["Catalog", "CatalogError", "Column", "ColumnType", "Dataset"]
