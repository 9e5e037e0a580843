"""The ids of an append's values, found in memory rather than by reading the whole dictionary.

A set of ids needs every value of a batch numbered by its field's dictionary (a table of
value -> dense id). Asked in SQL, each batch reads the whole dictionary: DuckDB's joins, `IN`
lists and `ON CONFLICT` all scan it or probe its index one key at a time (10,000 values against
20M: 350-800 ms whichever way), so a batch's cost grew with every value ever seen. `IdCache`
keeps a mirror of one dictionary in memory, loaded once, and finds a batch's ids in time that
follows the batch:
  - the committed values as DuckDB's 64-bit `hash` of each, sorted, with the id at each
    position, and the values themselves in id order (20M string values: about 0.5 GiB);
    a value is known when its hash is found AND the value at that id is equal, so two values
    sharing a hash never share an id;
  - the values numbered since the sorted arrays were last rebuilt, in a dict (folded into the
    arrays once they are many, `FOLD_AT`);
  - the values numbered by the running write, kept apart until its transaction commits
    (`settle(True)`) and forgotten when it rolls back, so the mirror never holds an id the
    table does not.
Only DuckDB writes its dictionaries, serialized by its write lock. A rebuild or an upsert
numbers values in SQL instead; each append first compares the table's count of values with the
mirror's and loads the mirror again when they differ.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tally.catalog.model import Column
from tally.rollups import statements

FOLD_AT = 250_000
BUCKET_HASHES = 16


def _comparable(values: pa.Array) -> pa.Array:
    """Values as the mirror holds them: text with 64-bit offsets (a dictionary may outgrow
    2 GiB of text), instants and dates as the integers Arrow stores (Python's datetime stops at
    year 9999, which Arrow's and DuckDB's do not: such a value failed its batch)."""
    kind = values.type
    if pa.types.is_string(kind):
        return values.cast(pa.large_string())
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return values.view(pa.int64() if kind.bit_width == 64 else pa.int32())
    return values


class _Numbered:
    """Values numbered after the sorted arrays, in id order from `first`: each value's id, and
    the values and their hashes as lists. Ids are consecutive, so a fold takes them in order
    without sorting (250,000 values folded in about 77 ms, 135 ms when sorted by id)."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.ids: dict[Any, int] = {}
        self.values: list[Any] = []
        self.hashes: list[int] = []

    def __len__(self) -> int:
        return len(self.values)

    def add(self, values: list[Any], hashes: list[int]) -> None:
        """Number `values` (distinct, none numbered yet) next, in their order."""
        start = self.first + len(self.values)
        self.ids.update(zip(values, range(start, start + len(values)), strict=True))
        self.values += values
        self.hashes += hashes

    def extend(self, other: _Numbered) -> None:
        """Take in `other`, numbered right after these."""
        self.ids.update(other.ids)
        self.values += other.values
        self.hashes += other.hashes


class IdCache:
    """The mirror of one dictionary table (see the module's reasoning)."""

    def __init__(self, hashes: np.ndarray, values: pa.Array) -> None:
        """From the table's rows in id order (ids 0..n-1): each value and its hash, held as
        `_comparable` makes them."""
        order = np.argsort(hashes)
        self._hashes = hashes[order]
        self._ids = order.astype(np.int64)
        self._type = values.type
        self._values = _comparable(values)
        self._recent = _Numbered(len(self._values))
        self._pending = _Numbered(len(self._values))
        self._index()

    @property
    def size(self) -> int:
        """How many values are numbered, the running write's included: the next id."""
        return len(self._values) + len(self._recent) + len(self._pending)

    def assign(self, values: pa.Array, hashes: np.ndarray) -> tuple[np.ndarray, int]:
        """The id of each of `values` (distinct, non-null; `hashes` theirs), numbering the new
        ones after every id given; and the first new id (ids from it on are new). The values
        outside the sorted arrays are looked up in the recent ones, and the new ones numbered
        together (10,000 new values: about 8 ms)."""
        first_new = self.size
        values = _comparable(values.cast(self._type))
        ids = self._found(values, hashes)
        unfound = np.flatnonzero(ids < 0)
        if not len(unfound):
            return ids, first_new
        rest = values.take(pa.array(unfound)).to_pylist()
        recent, pending = self._recent.ids, self._pending.ids
        if pending:  # the write numbered values already (a second call: not expected)
            found = [recent.get(v, pending.get(v, -1)) for v in rest]
        else:
            found = [recent.get(v, -1) for v in rest]
        known = np.array(found, dtype=np.int64)
        new = np.flatnonzero(known < 0)
        if len(new):
            fresh = [rest[i] for i in new]
            # Equal values in one call (not expected: the batch's values are distinct) share
            # the first one's id and hash.
            hashed = dict(zip(fresh, hashes[unfound[new]].tolist(), strict=True))
            self._pending.add(list(hashed), list(hashed.values()))
            known[new] = [pending[v] for v in fresh]
        ids[unfound] = known
        return ids, first_new

    def _found(self, values: pa.Array, hashes: np.ndarray) -> np.ndarray:
        """Ids of the values in the sorted arrays, -1 for the others."""
        ids = np.full(len(values), -1, dtype=np.int64)
        if not len(self._hashes):
            return ids
        low = self._first_at_least(hashes)
        end = len(self._hashes)
        at = np.minimum(low, end - 1)
        hit = self._hashes[at] == hashes
        following = self._hashes[np.minimum(low + 1, end - 1)] == hashes
        shared = hit & following & (low + 1 < end)
        single = np.flatnonzero(hit & ~shared)
        if len(single):
            candidates = self._ids[low[single]]
            same = pc.equal(self._values.take(pa.array(candidates)), values.take(pa.array(single)))
            matched = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
            ids[single[matched]] = candidates[matched]
        for i in np.flatnonzero(shared):  # values sharing a hash: compare each
            value, position = values[i].as_py(), int(low[i])
            while position < end and self._hashes[position] == hashes[i]:
                if self._values[int(self._ids[position])].as_py() == value:
                    ids[i] = self._ids[position]
                position += 1
        return ids

    def _first_at_least(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, the first position in the sorted hashes holding one not below it.
        `np.searchsorted` over 20M hashes costs ~1.8 us a key in cache misses (18 ms a batch);
        the directory of each top-bits bucket's start narrows every key to its bucket (~16
        hashes), searched for all keys at once in a few vectorized halvings (~2 ms)."""
        bucket = (hashes >> np.uint64(self._shift)).astype(np.int64)
        low, high = self._directory[bucket], self._directory[bucket + 1]
        last = len(self._hashes) - 1
        while True:
            open_ = low < high
            if not open_.any():
                return low
            middle = (low + high) // 2
            below = open_ & (self._hashes[np.minimum(middle, last)] < hashes)
            low = np.where(below, middle + 1, low)
            high = np.where(open_ & ~below, middle, high)

    def _index(self) -> None:
        """The bucket directory of the sorted hashes (`_first_at_least`)."""
        bits = max(1, int(np.log2(max(len(self._hashes), 1) / BUCKET_HASHES)))
        self._shift = 64 - bits
        starts = np.arange(1 << bits, dtype=np.uint64) << np.uint64(self._shift)
        self._directory = np.append(np.searchsorted(self._hashes, starts), len(self._hashes))

    def settle(self, committed: bool) -> None:
        """The running write's ids become the table's when it committed, else are forgotten."""
        if committed:
            self._recent.extend(self._pending)
        self._pending = _Numbered(len(self._values) + len(self._recent))
        if len(self._recent) >= FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        """Move the recent values into the sorted arrays (one pass over them)."""
        recent = self._recent
        added = pa.array(recent.values, type=self._values.type)
        hashes = np.array(recent.hashes, dtype=np.uint64)
        ids = np.arange(recent.first, recent.first + len(recent), dtype=np.int64)
        order = np.argsort(hashes, kind="stable")
        at = np.searchsorted(self._hashes, hashes[order], side="right")
        # Made apart, then swapped in: a failure midway leaves the arrays as they were.
        folded = (
            np.insert(self._hashes, at, hashes[order]),
            np.insert(self._ids, at, ids[order]),
            pa.concat_arrays([self._values, added]),
        )
        self._hashes, self._ids, self._values = folded
        self._recent = _Numbered(len(self._values))
        self._pending = _Numbered(len(self._values))
        self._index()


class Dictionary:
    """One dictionary table, numbering each append's values through its mirror (loaded from the
    table at the first append that needs it, or by `warm`)."""

    def __init__(self, table: str, field: Column) -> None:
        self.table, self.field = table, field
        self.mapped = statements.mapped_ids(field.physical)
        self._read_batch = statements.batch_values(field)
        self._read_table = statements.dictionary_rows(table)
        self._count = statements.count_rows(table)
        self._store = statements.store_numbered(table, self.mapped)
        self._cache: IdCache | None = None

    def warm(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Load the mirror unless it holds as many values as the table: ids are 0..n-1 and
        only ever added, so a table numbered in SQL meanwhile (a rebuild, an upsert) or made
        anew holds another count, and is read again. Under the engine's write lock, so no
        write numbers values meanwhile."""
        ((count,),) = cursor.execute(self._count).fetchall()
        if self._cache is not None and self._cache.size == count:
            return
        rows = cursor.sql(self._read_table).to_arrow_table()
        ids = rows["id"].to_numpy()
        if len(ids) and (ids.min() != 0 or ids.max() != len(ids) - 1):
            raise RuntimeError(f"{self.table}: ids are not 0..n-1")
        order = np.empty(len(ids), dtype=np.int64)
        order[ids] = np.arange(len(ids))
        values = rows["value"]
        if pa.types.is_string(values.type):  # before joining chunks: 2 GiB of text overflows
            values = values.cast(pa.large_string())
        values = values.combine_chunks().take(pa.array(order))
        self._cache = IdCache(rows["h"].to_numpy()[order], values)

    def number(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """A write's step: every value of `_written` gets its id, new ones stored in the
        table, and the batch's (value, id) pairs are registered on the cursor as `mapped`,
        which the rollups' statements join (until `release`)."""
        self.warm(cursor)
        assert self._cache is not None
        found = cursor.sql(self._read_batch).to_arrow_table()
        values = found["value"].combine_chunks()
        ids, first_new = self._cache.assign(values, found["h"].to_numpy())
        cursor.register(self.mapped, pa.table({"value": values, "id": ids}))
        cursor.execute(self._store, [first_new])

    def release(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """The write's last step: the batch's pairs are no longer read."""
        cursor.unregister(self.mapped)

    def settle(self, committed: bool) -> None:
        if self._cache is not None:
            self._cache.settle(committed)
