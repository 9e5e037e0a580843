"""The catalog a running service serves, swapped whole when the dataset files change.

A reload builds a new `Catalog` and swaps it in with one assignment, so no reader ever sees half
of one. A request pins the catalog it started with (`pinned`): the profile that translates it,
the queries it runs and the report built from them all read the same definitions, even when a
reload lands in the middle. The pin is a context variable, so it follows the request into the
worker threads it hands its queries to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tally.catalog.loader import Catalog


class CatalogHolder:
    def __init__(self, catalog: Catalog) -> None:
        self._latest = catalog
        self._pinned: ContextVar[Catalog | None] = ContextVar(f"catalog_{id(self)}", default=None)

    @classmethod
    def of(cls, catalog: Catalog | CatalogHolder) -> CatalogHolder:
        """A holder for `catalog`, or `catalog` itself when it is one already (tests and tools
        build the service's parts over a plain catalog)."""
        return catalog if isinstance(catalog, CatalogHolder) else cls(catalog)

    @property
    def current(self) -> Catalog:
        """The catalog pinned by the running request, else the latest one."""
        pinned = self._pinned.get()
        return pinned if pinned is not None else self._latest

    @property
    def latest(self) -> Catalog:
        """The newest catalog, whatever is pinned: what a reload compares its files with."""
        return self._latest

    def swap(self, catalog: Catalog) -> None:
        self._latest = catalog

    @contextmanager
    def pinned(self) -> Iterator[Catalog]:
        """Serve the latest catalog to everything this context runs until it ends."""
        token = self._pinned.set(self._latest)
        try:
            yield self._latest
        finally:
            self._pinned.reset(token)
