"""Tally: exact, fast, tenant-scoped aggregate answers for dashboards."""

__version__ = "0.1.0"
