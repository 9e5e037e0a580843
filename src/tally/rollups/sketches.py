"""The values a rollup keeps per cell beyond sums and counts, and the SQL functions that build,
merge and read them (DuckDB Python UDFs on Arrow batches, registered on the engine's connection
by `tally.rollups.store`).

Three kinds, each mergeable, so cells combine into any union of cells:
  ids  a roaring bitmap of dictionary ids of the field's distinct values: the union of cells'
       bitmaps is the set of the union's values, so its cardinality is `count(DISTINCT x)`
       exactly (the dictionary gives equal values one id, as SQL's equality does);
  hll  a HyperLogLog sketch (lg k = 12) of the values' text: an estimate of the distinct count
       within HLL_RELATIVE_ERROR at HLL_CONFIDENCE;
  kll  a KLL sketch (k = 200) of the values as doubles: a percentile whose rank is within
       KLL_RANK_ERROR of the asked one at KLL_CONFIDENCE.
A NULL blob (a cell no row of which gave a value yet) is the empty set or sketch. Bitmaps are
run-optimized before they are stored, so one set has one encoding, however it was reached.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import datasketches
import pyarrow as pa
from datasketches import hll_sketch, kll_doubles_sketch, tgt_hll_type
from pyroaring import BitMap

HLL_LG_K = 12
HLL_STD_DEVS = 2
HLL_CONFIDENCE = 0.954
HLL_RELATIVE_ERROR = round(
    max(abs(hll_sketch.get_rel_err(up, True, HLL_LG_K, HLL_STD_DEVS)) for up in (True, False)), 4
)
"""Of an estimate from merged sketches, at two standard deviations."""
KLL_K = 200
KLL_CONFIDENCE = 0.99
KLL_RANK_ERROR = round(kll_doubles_sketch.get_normalized_rank_error(KLL_K, False), 4)
"""Of one quantile, as a share of the rows (DataSketches' bound at 99 %)."""


def _stored(bitmap: BitMap) -> bytes:
    bitmap.run_optimize()
    return bitmap.serialize()


def ids_of(ids: list[int | None] | None) -> bytes:
    """A list goes to `BitMap` whole (filtered only when it holds a null): fed one by one, a
    spread batch's 5,000 small sets took 60 ms, and 15 ms so."""
    if ids and None in ids:
        ids = [i for i in ids if i is not None]
    return _stored(BitMap(ids or ()))


_RUNS_COOKIE, _NO_RUNS_COOKIE = 12347, 12346


def ids_cardinality(blob: bytes | None) -> int:
    """The size of one stored set: what a cell keeps beside it, so that a query whose groups
    each cover one cell counts without reading the set.

    Read off the serialized set's header (Roaring's portable format: per container its key
    and its size less one), not by deserializing it: a compaction counts every set it
    rewrites, and at 100M rows a daily set is about 20 KB, which took longer to inflate than
    to merge."""
    if not blob:
        return 0
    (cookie,) = struct.unpack_from("<I", blob)
    if cookie & 0xFFFF == _RUNS_COOKIE:
        containers = (cookie >> 16) + 1
        start = 4 + (containers + 7) // 8
    elif cookie == _NO_RUNS_COOKIE:
        (containers,) = struct.unpack_from("<I", blob, 4)
        start = 8
    else:
        raise ValueError("not a serialized roaring bitmap")
    keys_and_sizes = struct.unpack_from(f"<{2 * containers}H", blob, start)
    return containers + sum(keys_and_sizes[1::2])


_MANY_SETS = 16


def _ids_union(blobs: list[bytes | None] | None) -> BitMap:
    """Many sets (a query's cells) at once with `BitMap.union`, which merges them lazily: 90
    daily sets in 0.7 ms, where merging one by one took 10 ms. A few (a compaction's stored
    set and its pending ones), the smaller ones merged first and then into the largest:
    `BitMap.union` took five times as long over a large set and ten small ones, and merging
    each small one into the large set costs a pass over the large one."""
    sets = [BitMap.deserialize(b) for b in blobs or () if b]
    if len(sets) > _MANY_SETS:
        return BitMap.union(*sets)
    sets.sort(key=len)
    if len(sets) < 2:
        return sets[0] if sets else BitMap()
    smaller = sets[0]
    for other in sets[1:-1]:
        smaller |= other
    largest = sets[-1]
    largest |= smaller
    return largest


def ids_count(blobs: list[bytes | None] | None) -> int:
    return len(_ids_union(blobs))


def ids_union(blobs: list[bytes | None] | None) -> bytes:
    """One set of a cell's stored sets (its compacted row and its pending ones)."""
    return _stored(_ids_union(blobs))


def _hll(blob: bytes | None) -> hll_sketch:
    return hll_sketch.deserialize(blob) if blob else hll_sketch(HLL_LG_K, tgt_hll_type.HLL_4)


def _hll_union(sketches: Iterable[hll_sketch]) -> hll_sketch:
    union = datasketches.hll_union(HLL_LG_K)
    for sketch in sketches:
        union.update(sketch)
    return union.get_result(tgt_hll_type.HLL_4)


def _fed(sketch: Any, values: list[Any] | None) -> Any:
    """`sketch` with every non-null value of `values` added."""
    for value in values or ():
        if value is not None:
            sketch.update(value)
    return sketch


def hll_of(values: list[str | None] | None) -> bytes:
    return _fed(_hll(None), values).serialize_compact()


def hll_union(blobs: list[bytes | None] | None) -> bytes:
    return _hll_union(_hll(b) for b in blobs or ()).serialize_compact()


def hll_count(blobs: list[bytes | None] | None) -> int:
    return round(_hll_union(_hll(b) for b in blobs or ()).get_estimate())


def _kll(blob: bytes | None) -> kll_doubles_sketch:
    return kll_doubles_sketch.deserialize(blob) if blob else kll_doubles_sketch(KLL_K)


def kll_of(values: list[float | None] | None) -> bytes:
    return _fed(_kll(None), values).serialize()


def _kll_union(blobs: Iterable[bytes | None]) -> kll_doubles_sketch:
    merged = _kll(None)
    for blob in blobs:
        if blob:
            merged.merge(_kll(blob))
    return merged


def kll_union(blobs: list[bytes | None] | None) -> bytes:
    return _kll_union(blobs or ()).serialize()


def kll_quantile(blobs: list[bytes | None] | None, q: float | None) -> float | None:
    merged = _kll_union(blobs or ())
    return None if merged.is_empty() or q is None else merged.get_quantile(q)


@dataclass(frozen=True)
class SqlFunction:
    """A scalar SQL function computed row by row in Python over an Arrow batch."""

    name: str
    compute: Callable[..., Any]
    parameters: tuple[str, ...]
    returns: str

    def over(self, *columns: pa.Array | pa.ChunkedArray) -> pa.Array:
        rows = zip(*(column.to_pylist() for column in columns), strict=True)
        kind = pa.binary() if self.returns == "BLOB" else None
        return pa.array([self.compute(*row) for row in rows], type=kind)

    @property
    def batch(self) -> Callable[..., pa.Array]:
        """`over` with as many named parameters as the SQL function (DuckDB counts them)."""
        if len(self.parameters) == 1:
            return lambda values: self.over(values)
        return lambda left, right: self.over(left, right)


def _into_stored(union: Callable[[list[bytes | None]], bytes]) -> Callable[..., bytes]:
    """A cell's stored set or sketch merged with its pending ones (a compaction), taken as two
    arguments: put in one list with them, the stored one (hundreds of KB at 100M rows) was
    copied once more by SQL before Python read it."""

    def merged(stored: bytes | None, added: list[bytes | None] | None) -> bytes:
        return union([stored, *(added or ())])

    return merged


FUNCTIONS = (
    SqlFunction("tally_ids_of", ids_of, ("BIGINT[]",), "BLOB"),
    SqlFunction("tally_ids_count", ids_count, ("BLOB[]",), "BIGINT"),
    SqlFunction("tally_ids_cardinality", ids_cardinality, ("BLOB",), "BIGINT"),
    SqlFunction("tally_ids_union", ids_union, ("BLOB[]",), "BLOB"),
    SqlFunction("tally_hll_of", hll_of, ("VARCHAR[]",), "BLOB"),
    SqlFunction("tally_hll_count", hll_count, ("BLOB[]",), "BIGINT"),
    SqlFunction("tally_hll_union", hll_union, ("BLOB[]",), "BLOB"),
    SqlFunction("tally_kll_of", kll_of, ("DOUBLE[]",), "BLOB"),
    SqlFunction("tally_kll_union", kll_union, ("BLOB[]",), "BLOB"),
    SqlFunction("tally_kll_quantile", kll_quantile, ("BLOB[]", "DOUBLE"), "DOUBLE"),
)
_UNIONS = {"ids": ids_union, "hll": hll_union, "kll": kll_union}
FUNCTIONS += tuple(
    SqlFunction(f"tally_{kind}_merged", _into_stored(union), ("BLOB", "BLOB[]"), "BLOB")
    for kind, union in _UNIONS.items()
)
BUILD = {"ids": "tally_ids_of", "hll": "tally_hll_of", "kll": "tally_kll_of"}
MERGE = {kind: f"tally_{kind}_merged" for kind in _UNIONS}
CARDINALITY = "tally_ids_cardinality"
UNION = {"ids": "tally_ids_union", "hll": "tally_hll_union", "kll": "tally_kll_union"}
