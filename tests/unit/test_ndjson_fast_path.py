"""The NDJSON fast path (DuckDB splits the lines into columns) must build exactly the batch the
row validator builds from orjson's rows, and decline everything else."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tally.catalog import Catalog
from tally.catalog.model import Column, Dataset
from tally.ingest import json_texts
from tally.ingest.ndjson import NdjsonBody
from tally.ingest.rows import RowValidator
from tests.ndjson_support import (
    EVERY_TYPE,
    PROBLEMS,
    clean_body,
    clean_row,
    encode,
    problem_body,
    reference_rows,
)

VALIDATOR = RowValidator(EVERY_TYPE)


def _row_validator_batch(data: bytes) -> pa.Table | None:
    """The batch the row validator stores for this body, or None if it rejects any row."""
    checked = [VALIDATOR.check(i, row) for i, row in enumerate(reference_rows(data))]
    if any(problems for _, problems in checked):
        return None
    return VALIDATOR.to_arrow([clean for clean, _ in checked])


def test_a_varied_clean_body_gives_the_row_validators_batch() -> None:
    data = clean_body(300)
    fast = NdjsonBody(data).clean_batch(EVERY_TYPE, None)
    assert fast is not None
    expected = _row_validator_batch(data)
    assert expected is not None and expected.num_rows == 300
    assert fast.schema.equals(expected.schema)
    assert fast.equals(expected)


def test_threads_each_get_their_own_batch() -> None:
    """Every thread has its own DuckDB cursor, so concurrent bodies never mix."""
    bodies = [clean_body(100 + 40 * i, prefix=f"th{i}-") for i in range(4)]
    expected = [_row_validator_batch(b) for b in bodies]
    with ThreadPoolExecutor(4) as pool:
        got = list(
            pool.map(lambda i: NdjsonBody(bodies[i % 4]).clean_batch(EVERY_TYPE, None), range(24))
        )
    assert all(g is not None and g.equals(expected[i % 4]) for i, g in enumerate(got))


def test_the_row_count_ignores_blank_lines() -> None:
    data = clean_body(50)
    assert len(NdjsonBody(data)) == 50 == len(reference_rows(data))
    assert len(NdjsonBody(b"{\n\r\n  \n[1]\r")) == len(reference_rows(b"{\n\r\n  \n[1]\r")) == 2


def test_a_scope_that_holds_every_row_accepts_and_one_that_does_not_declines() -> None:
    data = clean_body(20)
    assert NdjsonBody(data).clean_batch(EVERY_TYPE, {"tenant": ("t_a", "t_b")}) is not None
    assert NdjsonBody(data).clean_batch(EVERY_TYPE, {"tenant": ("t_a",)}) is None


def test_a_body_on_a_builtin_dataset_with_dotted_nested_columns() -> None:
    invoices = Catalog.load().get("invoices")
    rows = [
        {
            "id": f"inv_{i}",
            "workspace_id": "ws_a",
            "number": f"N-{i}",
            "status": "paid",
            "issue_date": "2026-11-01",
            "grand_total.amount": 10.5 * i,
            "grand_total.currency": "EUR",
        }
        for i in range(5)
    ]
    data = b"\n".join(orjson.dumps(r) for r in rows)
    fast = NdjsonBody(data).clean_batch(invoices, None)
    validator = RowValidator(invoices)
    assert fast is not None
    assert fast.equals(validator.to_arrow([validator.check(i, r)[0] for i, r in enumerate(rows)]))


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_anything_unusual_is_declined(name: str) -> None:
    """Declined, so orjson and the row validator decide (and name the problems) as before."""
    assert NdjsonBody(problem_body(name)).clean_batch(EVERY_TYPE, None) is None


LOOSE = Dataset(
    name="loose",
    columns=(Column(name="tenant", type="string"), Column(name="id", type="string")),
    tenant_columns=("tenant",),
)


@pytest.mark.parametrize("line", [b"[1, 2]", b"[]", b"5", b'"row"', b"true", b"null", b" \t[{}]"])
def test_a_line_that_is_not_an_object_is_declined_even_if_no_column_is_required(
    line: bytes,
) -> None:
    """Such a line would otherwise read as a row of nulls; orjson's row is no object at all."""
    row = b'{"tenant": "t", "id": "1"}'
    assert NdjsonBody(row).clean_batch(LOOSE, None) is not None
    assert NdjsonBody(row + b"\n" + line).clean_batch(LOOSE, None) is None


@pytest.mark.parametrize(
    "line",
    [
        b'{"t\\u0065nant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z"}',
        b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","meta":{"a":1,"b":0,"a":2}}',
        b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","scores":{"a":1,"a":2.5}}',
        b'{"tenant":"t_a","id":"p1","ts":"2026-03-01T10:00:00Z","note":"\\ud83d\\ude00\\n"}',
    ],
    ids=["escaped key", "duplicate key in json", "duplicate key in map", "escaped string"],
)
def test_lines_orjson_reads_alike_are_stored_as_it_reads_them(line: bytes) -> None:
    """An escaped key is the key it spells; in a nested object the last of two keys wins."""
    fast = NdjsonBody(line).clean_batch(EVERY_TYPE, None)
    assert fast is not None and fast.equals(_row_validator_batch(line))


FLOAT_TEXTS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).flatmap(
        lambda f: st.sampled_from([repr(f), f"{f:.17e}", f"{f:.25g}", f"{f:.3E}", f"{f:f}"])
    ),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(FLOAT_TEXTS, min_size=1, max_size=5))
def test_numbers_in_any_spelling_become_the_same_double(texts: list[str]) -> None:
    lines = [
        f'{{"tenant":"t_a","id":"p{i}","ts":"2026-03-01T10:00:00Z","x":{t},"meta":{{"v":{t}}}}}'
        for i, t in enumerate(texts)
    ]
    data = "\n".join(lines).encode()
    fast = NdjsonBody(data).clean_batch(EVERY_TYPE, None)
    expected = _row_validator_batch(data)
    if fast is not None:
        assert expected is not None
        assert fast.equals(expected)
        for value, text in zip(fast.column("x").to_pylist(), texts, strict=True):
            assert math.isfinite(value) and value == float(json.loads(text))


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["2026-03-01T10:00:00Z", "2026-03-01", "a", "b", "t_a", "2026-03-01T10:00"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from([c.name for c in EVERY_TYPE.stored_columns] + ["rec", "other"])


@st.composite
def _rows(draw) -> dict:
    row = clean_row(draw(st.integers(0, 1000)))
    for key in draw(st.lists(KEYS, max_size=3)):
        if draw(st.booleans()):
            row.pop(key, None)
        else:
            row[key] = draw(JSON_VALUES)
    return row


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_rows(), min_size=1, max_size=4), style=st.integers(0, 3))
def test_random_rows_are_declined_or_stored_as_the_row_validator_would(
    rows: list[dict], style: int
) -> None:
    data = b"\n".join(encode(r, style) for r in rows)
    fast = NdjsonBody(data).clean_batch(EVERY_TYPE, None)
    if fast is not None:
        expected = _row_validator_batch(data)
        assert expected is not None, "the fast path accepted a batch the row validator rejects"
        assert fast.equals(expected)


@pytest.mark.parametrize("counted", [2**22, 0], ids=["counted", "sorted"])
def test_repeated_keys_are_found_per_row(monkeypatch, counted: int) -> None:
    monkeypatch.setattr(json_texts, "COUNTED_PAIRS", counted)
    rows = [["a", "b"], [], None, ["a", "a"], ["b", "c", "b"], ["c"], ["x", "y", "z", "x"]]
    keys = pa.array(rows, pa.list_(pa.string()))
    encoded = pc.dictionary_encode(keys.flatten())
    codes = encoded.indices.to_numpy().astype(np.int64)
    found = json_texts.rows_with_repeats(keys, codes, len(encoded.dictionary))
    assert found.tolist() == [r is not None and len(set(r)) < len(r) for r in rows]
