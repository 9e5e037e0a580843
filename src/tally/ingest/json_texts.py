"""One column of JSON texts, as DuckDB writes JSON values (minified), to its Arrow array.

A text goes through only if orjson would read the same value from the request and the row
validator would store it unchanged; anything else raises NotClean. Checks run as Arrow kernels
over the whole column. Python sees only the rare values whose text cannot be taken as it is:
strings with escapes, JSON objects other than flat ones of strings and short integers, and maps.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tally.catalog.arrow import ARROW_TYPES
from tally.catalog.decimals import FLOAT_DIGITS
from tally.catalog.model import Column, ColumnType
from tally.ingest.columnar import NotClean, all_true, convert, finish
from tally.ingest.decimal_arrays import from_texts

INTEGER = r"^-?[0-9]+$"
NUMBER = r"^-?[0-9]"
STRING_LIST = r'^\[("([^"\\]|\\.)*"(,"([^"\\]|\\.)*")*)?\]$'
# DuckDB and orjson write these alike: strings without escapes, integers, true, false, null
_MEMBER = r'"[^"\\]*":("[^"\\]*"|-?[0-9]{1,15}|true|false|null)'
FLAT_OBJECT = rf"^\{{({_MEMBER}(,{_MEMBER})*)?\}}$"
BOOLEAN = r"^(true|false)$"  # a regex, not `is_in` an array: made at import, it imported pandas
TEXTS = (ColumnType.STRING, ColumnType.TIMESTAMP, ColumnType.DATE)
COUNTED_PAIRS = 2**22  # above this many (row, key) cells, repeats are found by sorting


def _require(mask: pa.Array) -> None:
    if not all_true(mask):
        raise NotClean


def _unquote(texts: pa.Array) -> pa.Array:
    """JSON strings as strings: quotes dropped, and orjson for the few with escapes."""
    inner = pc.utf8_slice_codeunits(texts, 1, -1)
    escaped = pc.fill_null(pc.match_substring(texts, "\\"), False)
    if not pc.any(escaped).as_py():
        return inner
    decoded = [orjson.loads(t) for t in texts.filter(escaped).to_pylist()]
    return pc.replace_with_mask(inner, escaped, pa.array(decoded, pa.string()))


def _parsed(texts: pa.Array) -> list:
    """orjson's values for JSON texts (None for null). A value is one level less deep than
    its row, so orjson may read it where it refused the row; no such value is stored, as
    orjson writes at most 254 levels and lists and maps hold no containers."""
    try:
        return [None if t is None else orjson.loads(t) for t in texts.to_pylist()]
    except orjson.JSONDecodeError:
        raise NotClean from None


def rows_with_repeats(keys: pa.ListArray, codes: np.ndarray, width: int) -> np.ndarray:
    """Per row of `keys`, whether a key occurs twice in it; `codes` number the flattened keys
    (0 <= code < width). Counted per (row, code) when that table is small, else sorted."""
    rows = pc.list_parent_indices(keys).to_numpy().astype(np.int64)
    pairs = rows * width + codes
    if len(keys) * width <= COUNTED_PAIRS:
        counts = np.bincount(pairs, minlength=len(keys) * width)
        return (counts.reshape(len(keys), width) > 1).any(axis=1)
    ordered = np.sort(pairs)
    repeats = np.zeros(len(keys), dtype=bool)
    repeats[ordered[1:][ordered[1:] == ordered[:-1]] // width] = True
    return repeats


def _without_repeated_keys(keys: pa.ListArray) -> pa.Array:
    """Per row: whether no key occurs twice in its list of keys."""
    flat = keys.flatten()
    if not len(flat):
        return pa.array(np.ones(len(keys), dtype=bool))
    encoded = pc.dictionary_encode(flat)
    codes = encoded.indices.to_numpy().astype(np.int64)
    return pa.array(~rows_with_repeats(keys, codes, len(encoded.dictionary)))


def _objects(column: Column, texts: pa.Array, keys: pa.ListArray) -> pa.Array:
    """JSON objects stored as orjson writes them: a flat object without repeated keys is
    already written so; any other goes through orjson (the last of repeated keys wins)."""
    _require(pc.starts_with(texts, "{"))
    direct = pc.and_(
        pc.fill_null(pc.match_substring_regex(texts, FLAT_OBJECT), False),
        _without_repeated_keys(keys),
    )
    rest = pc.and_(pc.invert(direct), pc.is_valid(texts))
    if pc.any(rest).as_py():
        try:
            written = [orjson.dumps(v).decode() for v in _parsed(texts.filter(rest))]
        except TypeError:  # nested too deeply for orjson to write
            raise NotClean from None
        texts = pc.replace_with_mask(texts, rest, pa.array(written, pa.string()))
    return finish(column, texts)


def _decimals(column: Column, texts: pa.Array) -> pa.Array:
    """Numbers as written and numeric strings, cast exactly (`decimal_arrays.from_texts`)."""
    quoted = pc.fill_null(pc.starts_with(texts, '"'), False)
    digits = pc.if_else(quoted, pc.utf8_slice_codeunits(texts, 1, -1), texts)
    # a number orjson reads as this very value: at most 15 digits (strings are read as written)
    digit_count = pc.utf8_length(pc.replace_substring_regex(digits, r"[-.]", ""))
    _require(pc.or_(quoted, pc.less_equal(digit_count, FLOAT_DIGITS)))
    exact = from_texts(column, digits)
    if exact is None:
        raise NotClean
    return finish(column, exact)


def column_array(column: Column, texts: pa.Array, extra: pa.Array | None) -> pa.Array:
    """The column's array from its JSON texts (null if null or absent). `extra` is DuckDB's
    list of strings for a string[] column, its keys per row for a JSON column."""
    if texts.null_count and not column.nullable:
        raise NotClean
    kind = column.type
    if kind in TEXTS:
        _require(pc.starts_with(texts, '"'))
        return finish(column, _unquote(texts))
    if kind is ColumnType.BOOL:
        _require(pc.match_substring_regex(texts.drop_null(), BOOLEAN))
        return pc.equal(texts, "true")
    if kind in (ColumnType.INT, ColumnType.FLOAT):
        _require(pc.match_substring_regex(texts, INTEGER if kind is ColumnType.INT else NUMBER))
        try:
            return finish(column, texts.cast(ARROW_TYPES[kind]))
        except pa.ArrowInvalid:
            raise NotClean from None
    if kind is ColumnType.DECIMAL:
        return _decimals(column, texts)
    if kind is ColumnType.STRING_ARRAY:
        _require(pc.match_substring_regex(texts, STRING_LIST))
        return finish(column, extra.cast(ARROW_TYPES[kind]))
    if kind is ColumnType.JSON:
        return _objects(column, texts, extra)
    _require(pc.starts_with(texts, "{"))
    return convert(column, _parsed(texts))
