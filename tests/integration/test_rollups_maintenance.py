"""Rollups stay equal to what the stored rows say, through appends, idempotent replays, upserts
and failed batches: checked against aggregates and sets of distinct values computed in Python
from the rows that must be stored, and against a rebuild from scratch."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tally.errors import TallyError
from tally.service import Service
from tests.integration.rollup_support import (
    ADMIN,
    KINDS,
    METAS,
    REGIONS,
    channel_text,
    expected_cells,
    expected_sets,
    instant,
    make_rows,
    open_service,
    rollup_rows,
    stored_sets,
)

SET_FIELDS = ("note", "amount", "score")

AMOUNTS = (
    "SELECT tenant, kind, {key}, ts, _count, _n__amount, _sum__amount, _min__amount, "
    '_max__amount FROM "{table}"'
)


@pytest.fixture
def service(tmp_path: Path) -> Service:
    svc = open_service(tmp_path)
    yield svc
    svc.engine.close()


def _cells(service: Service, dataset: str) -> dict:
    """The `fine` rollup's amount aggregates, keyed like `expected_cells`."""
    sql = AMOUNTS.format(key="region", table=f"{dataset}__rollup__fine")
    _, rows = service.engine.execute(sql, {}, 30)
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def _channel_cells(service: Service, dataset: str) -> dict:
    """The `channels` rollup's amount aggregates per (tenant, kind, channel text, hour)."""
    sql = AMOUNTS.format(key='"_json0__meta__channel"', table=f"{dataset}__rollup__channels")
    _, rows = service.engine.execute(sql, {}, 30)
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def _cells_agree(service: Service, dataset: str, rows: list[dict[str, Any]]) -> None:
    """Both rollups' aggregates equal what Python computes from the rows that must be stored:
    per kind and region, and per kind and channel text (missing and null alike, 5 and "5"
    alike: no query tells them apart)."""
    assert _cells(service, dataset) == expected_cells(rows, 900, ("kind", "region"))
    texts = [{**row, "channel": channel_text(row)} for row in rows]
    assert _channel_cells(service, dataset) == expected_cells(texts, 3600, ("kind", "channel"))


def _ingest(service: Service, dataset: str, rows: list[dict[str, Any]]) -> Any:
    outcome = service.ingestion.ingest(dataset, rows, ADMIN, partial=False)
    assert not outcome.rejected
    return outcome


def _sets_agree(service: Service, dataset: str, rows: list[dict[str, Any]]) -> None:
    for field in SET_FIELDS:
        assert stored_sets(service, dataset, field) == expected_sets(rows, field), field


def _agrees_with_rebuild(service: Service, dataset: str) -> None:
    tables = [f"{dataset}__rollup__{name}" for name in ("fine", "hourly", "channels")]
    maintained = {t: rollup_rows(service, t) for t in tables}
    service.rollups.build(dataset)
    assert {t: rollup_rows(service, t) for t in tables} == maintained


def _changed(rng: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    """The same key (tenant and id) with other values: another cell, a lower or higher amount."""
    return {
        **row,
        "ts": instant(rng).isoformat(),
        "kind": rng.choice(KINDS),
        "region": rng.choice(REGIONS),
        "amount": rng.choice((None, -500, 5000, rng.randrange(1000))),
        "meta": rng.choice(METAS),
    }


def test_appends_and_replays_count_each_stored_row_once(service: Service) -> None:
    rng = random.Random(1)
    rows = make_rows(rng, 2000)
    _ingest(service, "rollev", rows[:1000])
    replay = _ingest(service, "rollev", rows[500:1500])
    assert (replay.accepted, replay.duplicates) == (500, 500)
    # Same keys, other values: an append keeps what it stored first.
    ignored = _ingest(service, "rollev", [_changed(rng, r) for r in rows[:100]])
    assert ignored.accepted == 0
    # Repeated keys inside one batch: stored once.
    _ingest(service, "rollev", rows[1500:] + rows[1500:1600])
    _cells_agree(service, "rollev", rows)
    _sets_agree(service, "rollev", rows)
    _agrees_with_rebuild(service, "rollev")


def test_upserts_move_rows_between_cells(service: Service) -> None:
    rng = random.Random(2)
    rows = make_rows(rng, 1200)
    stored = {(r["tenant"], r["id"]): r for r in rows[:1000]}
    _ingest(service, "rollstate", rows[:1000])
    changed = [_changed(rng, r) for r in rows[:300]]
    outcome = _ingest(service, "rollstate", changed + rows[1000:])
    assert (outcome.accepted, outcome.updated) == (200, 300)
    stored.update({(r["tenant"], r["id"]): r for r in changed + rows[1000:]})
    _ingest(service, "rollstate", changed)  # a replay of an upsert changes nothing
    # The same key twice in one batch: the later row wins.
    first, last = _changed(rng, rows[400]), _changed(rng, rows[400])
    _ingest(service, "rollstate", [first, last])
    stored[(last["tenant"], last["id"])] = last
    _cells_agree(service, "rollstate", list(stored.values()))
    _sets_agree(service, "rollstate", list(stored.values()))
    _agrees_with_rebuild(service, "rollstate")


def test_a_rejected_batch_leaves_rollups_untouched(service: Service) -> None:
    rows = make_rows(random.Random(3), 300)
    _ingest(service, "rollev", rows[:200])
    tables = ("rollev__rollup__fine", "rollev__rollup__channels")
    before = [rollup_rows(service, table) for table in tables]
    bad = [*rows[200:], {**rows[0], "id": "broken", "amount": "many"}]
    outcome = service.ingestion.ingest("rollev", bad, ADMIN, partial=False)
    assert outcome.rejected and outcome.accepted == 0
    assert [rollup_rows(service, table) for table in tables] == before


def test_a_batch_whose_rollup_fails_stores_nothing(service: Service) -> None:
    """The rows and every rollup are one transaction: when keeping the second rollup fails
    (its table is gone), neither the rows nor the first rollup change."""
    rows = make_rows(random.Random(4), 300)
    _ingest(service, "rollev", rows[:200])
    before = rollup_rows(service, "rollev__rollup__fine")
    channels = rollup_rows(service, "rollev__rollup__channels")
    numbered = rollup_rows(service, "rollev__rollup__fine__ids__amount")
    _, stored = service.engine.execute("SELECT count(*) FROM rollev", {}, 30)
    service.engine.transaction([('DROP TABLE "rollev__rollup__hourly"', ())])
    with pytest.raises(TallyError) as failed:
        service.ingestion.ingest("rollev", rows[200:], ADMIN, partial=False)
    assert failed.value.status == 500
    assert service.engine.execute("SELECT count(*) FROM rollev", {}, 30)[1] == stored
    assert rollup_rows(service, "rollev__rollup__fine") == before
    assert rollup_rows(service, "rollev__rollup__channels") == channels
    assert rollup_rows(service, "rollev__rollup__fine__ids__amount") == numbered
