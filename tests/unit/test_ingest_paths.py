"""The columnar fast path of ingestion must decide exactly what the row validator decides: the
same Arrow batch for clean rows, and a hand-over to the row validator for anything else."""

from __future__ import annotations

import pytest

from tally.catalog import Catalog
from tally.ingest.columnar import clean_batch
from tally.ingest.rows import MAX_STRING, RowValidator

CATALOG = Catalog.load()
EVENTS = CATALOG.get("agent_events")
FEEDBACK = CATALOG.get("feedback")


def _event(i: int, **changes) -> dict:
    row = {
        "workspace_id": "ws_a",
        "brand_id": "br_1",
        "event_id": f"e{i}",
        "event_type": "purchase",
        "ts": f"2026-03-{1 + i % 28:02d}T10:00:00+01:00",
        "amount": 10 + i,
        "price": 2.5,
        "quantity": i,
        "session_id": None if i % 3 else f"s{i}",
        "metadata": {"channel": "email", "n": i} if i % 2 else None,
    }
    row.update(changes)
    return row


def _slow(rows: list[dict], dataset) -> object:
    validator = RowValidator(dataset)
    checked = [validator.check(i, row) for i, row in enumerate(rows)]
    assert all(not problems for _, problems in checked)
    return validator.to_arrow([clean for clean, _ in checked])


def test_clean_events_give_the_row_validators_batch() -> None:
    rows = [_event(i) for i in range(50)]
    fast = clean_batch(rows, EVENTS, {"workspace_id": ("ws_a",)})
    assert fast is not None
    assert fast.equals(_slow(rows, EVENTS))


def test_clean_feedback_with_arrays_and_maps_gives_the_same_batch() -> None:
    rows = [
        {
            "project_id": "p1",
            "id": f"f{i}",
            "created_at": "2026-01-01T00:00:00Z",
            "feedback_type": "wandb.runnable.x",
            "scorer_tags": ["a", "b"][: i % 3],
            "ratings": {"_rating_": i / 10, "n": i} if i % 2 else None,
            "weave_ref": "weave:///e/p/call/agent_turn/1",
            "span_status_code": "UNSET",
        }
        for i in range(20)
    ]
    fast = clean_batch(rows, FEEDBACK, None)
    assert fast is not None
    assert fast.equals(_slow(rows, FEEDBACK))


@pytest.mark.parametrize(
    "change",
    [
        {"amount": True},
        {"amount": 12.345},
        {"amount": "12.345"},
        {"amount": "1e2"},
        {"amount": "NaN"},
        {"amount": "12345678901234567"},
        {"amount": 0.30000000000000004},
        {"quantity": 1.5},
        {"quantity": 2.0},
        {"quantity": 2**70},
        {"event_type": 5},
        {"event_type": None},
        {"ts": "2026-03-01T10:00:00"},
        {"ts": "yesterday"},
        {"metadata": "not an object"},
        {"unknown_field": 1},
        {"event_type": "x" * (MAX_STRING + 1)},
        {"workspace_id": "ws_other"},
    ],
    ids=lambda change: next(iter(change)) + "=" + repr(next(iter(change.values())))[:20],
)
def test_anything_unusual_goes_to_the_row_validator(change: dict) -> None:
    rows = [_event(i) for i in range(5)] + [_event(5, **change)]
    assert clean_batch(rows, EVENTS, {"workspace_id": ("ws_a",)}) is None


def test_money_as_numbers_and_strings_gives_the_row_validators_exact_batch() -> None:
    amounts = [0.1, "0.2", 12.3, "12.30", "12.300", 5, "-0.05", "9999999999999999.99", None]
    rows = [_event(i, amount=a, price=a) for i, a in enumerate(amounts)]
    fast = clean_batch(rows, EVENTS, {"workspace_id": ("ws_a",)})
    assert fast is not None
    assert fast.equals(_slow(rows, EVENTS))
    assert [str(v) if v is not None else None for v in fast.column("amount").to_pylist()] == [
        "0.10", "0.20", "12.30", "12.30", "12.30", "5.00", "-0.05", "9999999999999999.99", None
    ]  # fmt: skip


def test_nested_records_and_enums_go_to_the_row_validator() -> None:
    invoices = CATALOG.get("invoices")
    nested = {"workspace_id": "ws_a", "id": "i1", "grand_total": {"amount": 1, "currency": "EUR"}}
    assert clean_batch([nested], invoices, None) is None
    bad_enum = {"workspace_id": "ws_a", "id": "i1", "status": "unknown_status"}
    assert clean_batch([bad_enum], invoices, None) is None
