"""The rollups of a running service: their tables, whether each is complete, the statements that
keep them in step with ingestion, their compaction, the choice of one for a query, and their
rebuild.

A rollup answers only once it is complete: created while its dataset's table is empty, or
rebuilt by `tally rollups build`; every batch keeps every rollup, complete or not. Completeness
is recorded per table with the fingerprint of its declaration (`_tally_rollups`), so a changed
declaration drops the old table and answers from the rows until it is rebuilt. Rollups live on
DuckDB, the embedded default; on another engine they are declared but never used (every answer
comes from the rows). Appends leave their cells pending (`tally.rollups.pending` says when a
compaction merges them in; a server runs it on a thread of its own).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import duckdb

from tally.catalog import Catalog, Dataset
from tally.catalog.holder import CatalogHolder
from tally.catalog.model import Column
from tally.catalog.rollups import dictionary_of, rollup_owner
from tally.catalog.storage import TableSpec
from tally.engines.base import Engine, Maintenance
from tally.engines.duckdb import DuckDBEngine
from tally.errors import unavailable
from tally.query.model import Query
from tally.query.scope import Scope
from tally.rollups import statements
from tally.rollups.dictionary import Dictionary
from tally.rollups.layout import RollupTable, pending_name, rollup_tables
from tally.rollups.match import answers
from tally.rollups.pending import CompactionRules, Compactor, Pending
from tally.rollups.sketches import FUNCTIONS

log = logging.getLogger(__name__)
# The record of every rollup table: which table, built for which declaration (or made for one
# and not built yet: `_unbuilt`), so a table made and never built is dropped with its rollup;
# and of every dictionary table Tally made (`DICTIONARY`), the only tables its sweep drops.
CREATE_STATE = (
    "CREATE TABLE IF NOT EXISTS _tally_rollups "
    "(name VARCHAR PRIMARY KEY, fingerprint VARCHAR NOT NULL)"
)
READ_STATE = "SELECT name, fingerprint FROM _tally_rollups"
HAS_STATE = "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_tally_rollups'"
FORGET = "DELETE FROM _tally_rollups WHERE name = ?"
RECORD = "INSERT OR REPLACE INTO _tally_rollups VALUES (?, ?)"
DICTIONARY = "dictionary"
"""What the record of a dictionary holds for a fingerprint (no declaration's)."""
SIZES_TTL_S = 30.0
TIMEOUT_S = 30.0


class Rollups:
    def __init__(
        self,
        catalog: Catalog | CatalogHolder,
        engine: Engine,
        compaction: CompactionRules | None = None,
    ) -> None:
        self._catalogs = CatalogHolder.of(catalog)
        self.engine = engine if isinstance(engine, DuckDBEngine) else None
        self.pending = Pending(compaction or CompactionRules())
        self._compactor: Compactor | None = None
        self._warming: threading.Thread | None = None
        self._closing = threading.Event()
        # Rollups by (table, fingerprint): so a declaration changed by a reload of the catalog
        # is neither kept in nor read from the table of the one before. Layouts are remembered
        # by the dataset's fingerprint, for the same reason.
        self._kept: set[tuple[str, str]] = set()
        self._ready: set[tuple[str, str]] = set()
        self._layouts: dict[str, tuple[RollupTable, ...]] = {}
        # The datasets of the catalog last ensured, by name, and the maintenance of each: what
        # a write keeps is the rollups ensured when it holds the write lock, whichever catalog
        # the request that made it had read.
        self._ensured: dict[str, Dataset] = {}
        self._maintenance: dict[str, Maintenance] = {}
        self._dictionaries: dict[str, Dictionary] = {}
        self._changes = 0
        self._sizes: dict[str, int] = {}
        self._sizes_at = 0.0
        self._lock = threading.RLock()
        # One compaction at a time (the compactor's and an operator's): each forgets the appends
        # it saw when it ends, and one that started earlier would forget an append made after
        # another had ended, leaving its rows pending and unread.
        self._compacting = threading.Lock()
        for function in FUNCTIONS if self.engine is not None else ():
            self.engine.add_function(
                function.name, function.batch, function.parameters, function.returns
            )

    @property
    def catalog(self) -> Catalog:
        return self._catalogs.current

    def layouts(self, dataset: Dataset) -> tuple[RollupTable, ...]:
        """The dataset's rollup tables, made once per definition (their shapes are cached on
        them, and every query asks)."""
        if self.engine is None:
            return ()
        known = self._layouts.get(dataset.fingerprint)
        if known is None:
            known = self._layouts[dataset.fingerprint] = rollup_tables(dataset)
        return known

    def ensure(self, catalog: Catalog | None = None) -> None:
        """Create every declared rollup's table of `catalog` (default: the latest); a table whose
        declaration changed is dropped and created anew. A new table over rows is incomplete
        until it is built. Run at start, and by a reload before it swaps the catalog in: a
        rollup is kept and read only once ensured.

        With every other write held back (`DuckDBEngine.writes_held`), and writes choose their
        maintenance once they hold the write lock: so no write keeps a table dropped here (it
        failed), none stores rows a rollup found empty and marked built here misses (the rollup
        lied), and none fills a table made anew with the old declaration's cells."""
        engine = self.engine
        if engine is None:
            return
        catalog = catalog if catalog is not None else self._catalogs.latest
        with engine.writes_held():
            self._ensure(engine, catalog)

    def _ensure(self, engine: DuckDBEngine, catalog: Catalog) -> None:
        """In an order that keeps what is in memory true of the tables if a step fails (a reload
        then serves the datasets as before, `service.reload`): a table is taken out of what
        queries read before it is dropped or made anew, and out of what appends keep once that
        committed; no new table is marked built, and no dictionary dropped, before the last
        transaction, right before the new state is taken in. So an append never keeps a table
        made for another declaration, and no table is recorded built that appends skipped."""
        served = {dataset.fingerprint for dataset in catalog}
        ensured = {dataset.name: dataset for dataset in catalog}
        # No table of Tally's own appears in a database whose datasets declare no rollup (and
        # never did: records of rollups no longer declared are dropped below).
        declares = any(self.layouts(dataset) for dataset in catalog)
        if not declares and not self._has_state(engine):
            with self._lock:
                self._ensured = ensured
                self._maintenance.clear()
            return
        engine.transaction([(CREATE_STATE, ())])
        _, found = engine.execute(READ_STATE, {}, TIMEOUT_S)
        recorded = {name: print_ for name, print_ in found if print_ != DICTIONARY}
        dictionaries = {name for name, print_ in found if print_ == DICTIONARY}
        kept, ready, built = set(), set(), []
        for dataset in catalog:
            for layout in self.layouts(dataset):
                kept.add(layout.identity)
                if recorded.get(layout.name) == layout.fingerprint:
                    ready.add(layout.identity)
                    continue
                if recorded.get(layout.name) == _unbuilt(layout):
                    self._create(engine, layout)  # kept as it is (made again if missing)
                else:  # made anew, recorded as not built (were it removed before a build,
                    # its tables would still be dropped)
                    self._changing(layout.name, lambda name=layout.name: self._forget(engine, name))
                    self._create(engine, layout)
                if self._is_empty(engine, dataset):
                    built.append(layout)
                else:
                    log.warning(
                        "rollup %s is not built yet; `tally rollups build` (or POST "
                        "/v1/rollups/build on the running server) fills it",
                        layout.name,
                    )
        # A rollup no longer declared is not kept by the batches that follow: were it declared
        # again, its table would miss them, so it is dropped now (a reload can remove one).
        # Not one whose dataset is declared no more: no batch reaches that dataset either, so
        # the rollup still holds its rows, kept for when it returns (a datasets folder mistyped
        # or missing would otherwise drop every rollup, and building them again takes minutes).
        declared = {name for name, _ in kept}
        away: set[str] = set()  # datasets no longer declared whose rollups are kept
        for name in recorded.keys() - declared:
            if rollup_owner(name) in ensured:
                self._changing(name, lambda name=name: self._forget(engine, name))
            else:
                away.add(rollup_owner(name))
                log.warning("rollup %s kept: its dataset is not declared", name)
        self._count_pending(engine, catalog, declared)
        # A dictionary goes with the last rollup numbering with it. Only those Tally made and
        # recorded are dropped: a name alone (`<dataset>__ids__<field>`) could be a table made
        # by hand, or a dataset's from before such dataset names were refused. Those made
        # before dictionaries were recorded are recorded now. Kept too: those a kept rollup of a
        # dataset no longer declared may number with.
        needed = self._needed_dictionaries(catalog)
        unused = {
            table
            for table in dictionaries - set(needed)
            if not any(dictionary_of(table, dataset) for dataset in away)
        }
        steps = [self._record(layout) for layout in built]
        steps += [step for table in sorted(unused) for step in _dropped_dictionary(table)]
        steps += [_recorded_dictionary(table) for table in sorted(set(needed) - dictionaries)]
        if unused:
            with self._lock:  # no mirror outlives its table, whatever fails after this
                for table in unused:
                    self._dictionaries.pop(table, None)
        if steps:
            engine.transaction(steps)
        ready |= {layout.identity for layout in built}
        with self._lock:
            self._kept, self._ready, self._ensured = kept, ready, ensured
            self._maintenance.clear()
            # A mirror outlives a reload while its table does (none needed is dropped here)
            # and its field is the same: at 100M rows, loading one again held the next append
            # for about 10 s. Its count is checked against the table's at every append.
            self._dictionaries = {
                table: dictionary
                for table, dictionary in self._dictionaries.items()
                if needed.get(table) == dictionary.field
            }
            self._layouts = {k: v for k, v in self._layouts.items() if k in served}

    def _changing(self, name: str, change: Callable[[], None]) -> None:
        """Drop or make anew the rollup table `name` (`change`): no query reads it from now on,
        and once the change committed no append keeps it, until the new state is taken in."""
        with self._lock:
            self._ready = {identity for identity in self._ready if identity[0] != name}
            self._changes += 1
        change()
        with self._lock:
            self._kept = {identity for identity in self._kept if identity[0] != name}
            self._maintenance.clear()

    def _has_state(self, engine: DuckDBEngine) -> bool:
        _, rows = engine.execute(HAS_STATE, {}, TIMEOUT_S)
        return bool(rows[0][0])

    def _forget(self, engine: DuckDBEngine, name: str) -> None:
        """Drop a rollup's table, its pending rows and its record."""
        pending = statements.drop(pending_name(name))
        engine.transaction([(statements.drop(name), ()), (pending, ()), (FORGET, (name,))])

    def _count_pending(self, engine: DuckDBEngine, catalog: Catalog, kept: set[str]) -> None:
        """Make the pending table of every kept rollup (a database from before they existed
        has none) and note the rows left in them, so they are merged in soon."""
        for dataset in catalog:
            layouts = [layout for layout in self.layouts(dataset) if layout.name in kept]
            if not layouts:
                continue
            made = [(statements.create(layout, layout.pending), ()) for layout in layouts]
            engine.transaction(made)
            counts = {
                layout.pending: engine.execute(
                    statements.count_rows(layout.pending), {}, TIMEOUT_S
                )[1][0][0]
                for layout in layouts
            }
            self.pending.found(dataset.name, counts)

    def _needed_dictionaries(self, catalog: Catalog) -> dict[str, Column]:
        """The dictionary of every set of ids the catalog's rollups keep, and its field."""
        return {
            layout.dictionary(sketch.field): dataset.column(sketch.field)
            for dataset in catalog
            for layout in self.layouts(dataset)
            for sketch in layout.sketches
            if sketch.kind == "ids"
        }

    def _create(self, engine: DuckDBEngine, layout: RollupTable) -> None:
        """Make whichever of the rollup's tables is missing, and record it as not built."""
        spec = TableSpec(layout.name, (), upsert=False, order_by=())
        engine.ensure_table(statements.create(layout), spec, {})
        made = (statements.create(layout, layout.pending), *statements.create_dictionaries(layout))
        dictionaries = [_recorded_dictionary(table) for table in layout.dictionaries]
        unbuilt = (RECORD, (layout.name, _unbuilt(layout)))
        engine.transaction([*((create, ()) for create in made), *dictionaries, unbuilt])

    def _is_empty(self, engine: DuckDBEngine, dataset: Dataset) -> bool:
        _, rows = engine.execute(statements.holds_rows(dataset.name), {}, TIMEOUT_S)
        return not rows[0][0]

    def _record(self, layout: RollupTable) -> tuple[str, tuple[str, str]]:
        return RECORD, layout.identity

    def ready(self, dataset: Dataset) -> list[RollupTable]:
        with self._lock:
            return [layout for layout in self.layouts(dataset) if layout.identity in self._ready]

    def incomplete(self, dataset: Dataset) -> list[RollupTable]:
        """The dataset's rollups that answer nothing until they are built."""
        with self._lock:
            return [lay for lay in self.layouts(dataset) if lay.identity not in self._ready]

    def maintenance(self, dataset: Dataset) -> Maintenance | None:
        """The statements that keep every rollup of the dataset in step with a write, complete
        or not, so a rollup is complete from the moment its build commits (the build holds
        the writes back; a batch after it is kept whatever it was told before). Those of the
        dataset of that name last ensured (`ensure`): a write asks under the write lock, and
        the catalog its request read may be a reload behind (none: a dataset no longer served,
        whose rollups are dropped). A batch checked against other columns than that dataset's
        (a reload changed them meanwhile) is refused before anything is stored: its rollups'
        statements could read a column it lacks."""
        with self._lock:
            current = self._ensured.get(dataset.name)
            if current is None:
                return None
            if _stored(current) != _stored(dataset):
                raise unavailable(
                    f"dataset {dataset.name!r} changed while this batch waited to be stored; "
                    "nothing was stored, send it again"
                )
            known = self._maintenance.get(current.name)
            if known is None:
                layouts = [lay for lay in self.layouts(current) if lay.identity in self._kept]
                known = self._maintenance[current.name] = self._maintain(current, layouts)
        return known if known.statements else None

    def _maintain(self, dataset: Dataset, layouts: list[RollupTable]) -> Maintenance:
        """An upsert recomputes its cells from the stored rows (sets and sketches too); an
        append numbers its values in each dictionary (`tally.rollups.dictionary`), then stores
        its cells as pending rows of every rollup and counts them (`pending`)."""
        if dataset.mode == "upsert":
            recompute = (s for layout in layouts for s in statements.upsert_statements(layout))
            return Maintenance(tuple(recompute))
        if not layouts:
            return Maintenance(())
        numbering = self.dictionaries(dataset, layouts)
        appended = _Appended(dataset.name, self)
        inserts: list[str | Callable[[duckdb.DuckDBPyConnection], None]] = []
        for layout in layouts:
            *numbered_in_sql, insert = statements.append_statements(layout)
            inserts += [*numbered_in_sql, _CountedInsert(insert, layout, appended)]
        return Maintenance(
            (*(d.number for d in numbering), *inserts, *(d.release for d in numbering), appended),
            (*(d.settle for d in numbering), appended.settle),
        )

    def nudge(self) -> None:
        """An append committed: a dataset may have fallen due."""
        compactor = self._compactor
        if compactor is not None:
            compactor.nudge()

    def has_pending(self, dataset_name: str) -> bool:
        """Whether the dataset's rollups may hold pending rows: an append tells `pending` inside
        its transaction, before it commits, and a compaction forgets them only once it
        committed with no append told since, so a query planned while this is false finds
        every acknowledged row in the rollups' own tables. (Rows put in a pending table by
        hand are not known until a reload or a restart finds them.)"""
        return self.pending.has(dataset_name)

    def changes(self) -> int:
        """How many times a rollup table was about to be dropped or made anew: a query whose
        statement ran after this changed may have read a table other than the one it chose."""
        with self._lock:
            return self._changes

    def appends_told(self, dataset_name: str) -> int:
        """How many appends to the dataset were ever told to its rollups (`has_pending`)."""
        return self.pending.told(dataset_name)

    def compact(self, dataset_name: str) -> None:
        """Merge the dataset's pending rows into its rollups' cells, a rollup per transaction
        (appends wait for one rollup at a time). Answers are the same before and after. Each
        rollup is taken from those last ensured, as appends keep them, with the writes held
        from then until its pending table is told emptied: a reload between two rollups may
        have made one anew for another declaration, which the statements of the one before
        would merge wrongly."""
        engine = self.engine
        with self._compacting:
            seen = self.pending.appends(dataset_name)
            done: set[str] = set()
            while engine is not None:
                with engine.writes_held():
                    layout = self._next_to_compact(dataset_name, done)
                    if layout is None:
                        break
                    engine.transaction([(s, ()) for s in statements.compact_statements(layout)])
                    self.pending.emptied(dataset_name, layout.pending)
                done.add(layout.name)
            self.pending.compacted(dataset_name, seen)

    def _next_to_compact(self, dataset_name: str, done: set[str]) -> RollupTable | None:
        with self._lock:
            dataset, kept = self._ensured.get(dataset_name), self._kept
        layouts = self.layouts(dataset) if dataset is not None else ()
        return next((x for x in layouts if x.identity in kept and x.name not in done), None)

    def compact_due(self) -> list[str]:
        """Compact every dataset whose pending rows are due (`pending.CompactionRules`)."""
        due = self.pending.due()
        for name in due:
            try:
                self.compact(name)
            except Exception as exc:  # the others still compact; this one is tried again
                log.warning("rollups of %s not compacted (%s); pending rows stay read", name, exc)
        return due

    def compact_all(self) -> None:
        for name in self.pending.waiting():
            self.compact(name)

    def start_compaction(self) -> None:
        """Compact on a thread of its own as datasets fall due (a server; `close` stops it)."""
        engine = self.engine
        if engine is not None and self._compactor is None:
            rules = self.pending.rules
            ended = lambda: engine.closed  # noqa: E731
            self._compactor = Compactor(self.compact_due, rules.idle_s, ended).start()

    def close(self) -> None:
        """Stop the compactor and the dictionaries' load (after the dictionary it is loading):
        no thread of theirs may still hold a DuckDB cursor when the process exits."""
        self._closing.set()
        if self._compactor is not None:
            self._compactor.stop()
            self._compactor = None
        if self._warming is not None:
            self._warming.join()
            self._warming = None

    def dictionaries(self, dataset: Dataset, layouts: list[RollupTable]) -> list[Dictionary]:
        """The dictionaries an append to the dataset numbers its values in, one object (and
        mirror) per table."""
        made = []
        for layout in layouts:
            for sketch in layout.sketches:
                column = dataset.column(sketch.field)
                if sketch.kind != "ids" or not statements.mirrored(column):
                    continue
                table = layout.dictionary(sketch.field)
                if table not in self._dictionaries:
                    self._dictionaries[table] = Dictionary(table, column)
                if self._dictionaries[table] not in made:
                    made.append(self._dictionaries[table])
        return made

    def warm(self, stopping: threading.Event | None = None) -> None:
        """Load the mirror of every dictionary appends number values in, so the first append
        after a start does not wait for it (a 20M-value dictionary: a few seconds); none more
        once `stopping` is set."""
        engine = self.engine
        if engine is None:
            return
        for dataset in self.catalog:
            if dataset.mode != "upsert":
                self.maintenance(dataset)
        with self._lock:
            dictionaries = list(self._dictionaries.values())
        for dictionary in dictionaries:
            if stopping is not None and stopping.is_set():
                return
            engine.serialized(dictionary.warm)

    def warm_in_background(self) -> threading.Thread:
        """`warm` on a thread of its own, so a server answers queries at once (at 100M rows the
        session dictionary's 20M values took 10 s to load); appends wait for it, holding the
        write lock. A failure (the engine closed meanwhile) only leaves the first append to
        load the mirror."""

        def run() -> None:
            try:
                self.warm(self._closing)
            except Exception as exc:
                log.warning("rollup dictionaries not loaded at start (%s); appends load them", exc)

        thread = threading.Thread(target=run, name="tally-rollup-dictionaries", daemon=True)
        thread.start()
        self._warming = thread
        return thread

    def choose(self, query: Query, dataset: Dataset, scope: Scope) -> RollupTable | None:
        """The smallest complete rollup that answers `query` exactly, or None (the rows)."""
        fitting = [layout for layout in self.ready(dataset) if answers(query, scope, layout)]
        if len(fitting) <= 1:
            return fitting[0] if fitting else None
        sizes = self._estimated_sizes()
        return min(
            fitting,
            key=lambda layout: sizes.get(layout.name, 0) + sizes.get(layout.pending, 0),
        )

    def _estimated_sizes(self) -> dict[str, int]:
        """Rows per rollup table as DuckDB estimates them, re-read every SIZES_TTL_S."""
        engine = self.engine
        now = time.monotonic()
        if engine is not None and now - self._sizes_at > SIZES_TTL_S:
            _, rows = engine.execute(
                "SELECT table_name, estimated_size FROM duckdb_tables()", {}, TIMEOUT_S
            )
            self._sizes, self._sizes_at = dict(rows), now
        return self._sizes

    def build(
        self,
        dataset_name: str,
        started: Callable[[RollupTable, int], None] = lambda layout, tenants: None,
        advanced: Callable[[], None] = lambda: None,
        incomplete_only: bool = False,
    ) -> list[RollupTable]:
        """Rebuild every rollup of a dataset (or only the incomplete ones) from its stored rows,
        tenant by tenant (one across tenants in one fill), each in one transaction with the
        writes held back (it is complete when it commits)."""
        engine = self.engine
        dataset = self.catalog.require(dataset_name)
        if engine is None:
            return []
        layouts = self.incomplete(dataset) if incomplete_only else list(self.layouts(dataset))
        built = []
        for layout in layouts:
            # Held from the check to the state taken in: a reload meanwhile may have made the
            # table anew for another declaration, which this one's statements must not fill.
            with engine.writes_held():
                with self._lock:
                    current = layout.identity in self._kept
                if not current:
                    log.warning(
                        "rollup %s is not the one last prepared (a reload changed it, or failed "
                        "to prepare it); not built",
                        layout.name,
                    )
                    continue
                self._rebuild(engine, layout, started, advanced)
                with self._lock:
                    self._ready = self._ready | {layout.identity}
            built.append(layout)
        return built

    def _rebuild(
        self,
        engine: DuckDBEngine,
        layout: RollupTable,
        started: Callable[[RollupTable, int], None],
        advanced: Callable[[], None],
    ) -> None:
        rebuild = statements.rebuild_statements(layout)
        clear = [(statement, ()) for statement in rebuild.clear]
        if rebuild.per_tenant is None or rebuild.tenants is None:
            # Across tenants: one fill of every row, the one step shown.
            fills, rest = [(rebuild.rest, ())], []
        else:
            _, found = engine.execute(rebuild.tenants, {}, TIMEOUT_S)
            fills = [(rebuild.per_tenant, (row[0],)) for row in found]
            rest = [(rebuild.rest, ())]
        started(layout, len(fills))
        filled = range(len(clear), len(clear) + len(fills))
        place = [(statement, ()) for statement in rebuild.place]
        engine.transaction(
            [*clear, *fills, *rest, *place, self._record(layout)],
            lambda i: advanced() if i in filled else None,
        )


def _unbuilt(layout: RollupTable) -> str:
    """The record of a rollup table made for this declaration and not built yet: no
    declaration's fingerprint."""
    return f"unbuilt {layout.fingerprint}"


def _dropped_dictionary(table: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(statements.drop(table), ()), (FORGET, (table,))]


def _recorded_dictionary(table: str) -> tuple[str, tuple[str, str]]:
    return RECORD, (table, DICTIONARY)


def _stored(dataset: Dataset) -> tuple[tuple[str, str], ...]:
    """What a batch checked against the dataset holds: its stored columns and their types."""
    return tuple((c.physical, c.type.value) for c in dataset.stored_columns)


class _Appended:
    """The last step of an append's maintenance: tells `Rollups.pending` the rows its inserts
    put in each pending table (`_CountedInsert`), inside the transaction (before it is
    acknowledged; an append failing before this step tells nothing); once it commits, wakes
    the compactor. Writes run one at a time, so one instance serves them all."""

    def __init__(self, dataset: str, rollups: Rollups) -> None:
        self._dataset, self._rollups = dataset, rollups
        self._inserted: dict[str, int] = {}

    def inserted(self, table: str, rows: int) -> None:
        self._inserted[table] = rows

    def __call__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._rollups.pending.appended(self._dataset, self._inserted)

    def settle(self, committed: bool) -> None:
        self._inserted = {}
        if committed:
            self._rollups.nudge()


class _CountedInsert:
    """An append's insert of its cells into a rollup's pending table, which notes how many
    rows it put there."""

    def __init__(self, insert: str, layout: RollupTable, appended: _Appended) -> None:
        self._insert, self._table, self._appended = insert, layout.pending, appended

    def __call__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        ((rows,),) = cursor.execute(self._insert).fetchall()
        self._appended.inserted(self._table, rows)
