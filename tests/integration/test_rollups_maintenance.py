"""Rollups stay equal to what the stored rows say, through appends, idempotent replays, upserts
and failed batches: checked against aggregates and sets of distinct values computed in Python
from the rows that must be stored, and against a rebuild from scratch."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tally.catalog.loader import CatalogError
from tally.config import Settings
from tally.errors import TallyError
from tally.query.model import Query
from tally.service import Service
from tally.wiring import build_service
from tests.integration.rollup_support import (
    ADMIN,
    APPEND,
    COLUMNS,
    FIRST,
    KINDS,
    METAS,
    NO_COMPACTION,
    REGIONS,
    TENANTS,
    channel_text,
    expected_cells,
    expected_sets,
    instant,
    make_rows,
    open_service,
    rollup_rows,
    stored_sets,
    write_datasets,
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
    """The `fine` rollup's amount aggregates, keyed like `expected_cells`, once its pending
    rows are merged in."""
    service.rollups.compact_all()
    sql = AMOUNTS.format(key="region", table=f"{dataset}__rollup__fine")
    _, rows = service.engine.execute(sql, {}, 30)
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def _channel_cells(service: Service, dataset: str) -> dict:
    """The `channels` rollup's amount aggregates per (tenant, kind, channel text, hour)."""
    service.rollups.compact_all()
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
    tables = [
        f"{dataset}__rollup__{name}" for name in ("fine", "hourly", "channels", "regions_all")
    ]
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


def test_late_rows_reach_their_cells_behind_many_newer_ones(service: Service) -> None:
    """Rows that arrive in time order fill several row groups of the rollup table, and a batch
    looks its cells up only in the row groups within its grains' range: a late batch (old
    grains, null dimensions, spanning the whole range) must still find every cell it adds to."""
    rng = random.Random(5)
    combos = [(t, k, r) for t in TENANTS for k in KINDS for r in REGIONS]
    in_order = [
        {
            "tenant": tenant,
            "id": f"o{grain}_{i}",
            "ts": (FIRST + timedelta(seconds=grain * 900 + rng.randrange(900))).isoformat(),
            "kind": kind,
            "region": region,
            "amount": None if rng.random() < 0.1 else rng.randrange(-50, 1000),
        }
        for grain in range(2700)
        for i, (tenant, kind, region) in enumerate(combos)
    ]
    instants = [datetime.fromisoformat(r["ts"]) for r in in_order]
    table = pa.Table.from_pylist(in_order)
    table = table.set_column(2, "ts", pa.array(instants, pa.timestamp("us", tz="UTC")))
    for start in range(0, len(in_order), 20_000):
        service.ingestion.load_table("rollev", table.slice(start, 20_000), partial=False)
    service.rollups.compact_all()
    groups = "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('rollev__rollup__fine')"
    assert service.engine.execute(groups, {}, 30)[1][0][0] > 1
    late = make_rows(rng, 3000)  # anywhere in 40 days, a quarter of each dimension null
    first_grain = [{**r, "id": f"f{i}", "ts": FIRST.isoformat()} for i, r in enumerate(late[:50])]
    _ingest(service, "rollev", late)
    _ingest(service, "rollev", first_grain)
    expected = expected_cells(in_order + late + first_grain, 900, ("kind", "region"))
    assert _cells(service, "rollev") == expected
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


def test_an_upsert_recomputes_its_cells_from_the_rows_at_their_edges(service: Service) -> None:
    """An upsert recomputes a cell from the stored rows within its grains' range only: rows at
    the first and the last microsecond of a touched grain are read, rows of the grains on
    either side are not counted into it, and rows days away are left alone."""
    start = FIRST + timedelta(days=20)

    def row(key: str, at: datetime, amount: int) -> dict[str, Any]:
        values = {"tenant": "t_a", "kind": "buy", "region": None, "note": None, "score": None}
        return {**values, "id": key, "ts": at.isoformat(), "amount": amount}

    micro = timedelta(microseconds=1)
    stored = [
        row("before", start - micro, 1),
        row("first", start, 10),
        row("last", start + timedelta(seconds=900) - micro, 100),
        row("after", start + timedelta(seconds=900), 1000),
        row("early", FIRST, 5),
        row("late", FIRST + timedelta(days=39), 7),
    ]
    _ingest(service, "rollstate", stored)
    late = row("new", start + timedelta(seconds=1), -40)  # touches that one grain only
    _ingest(service, "rollstate", [late])
    rows = [*stored, late]
    assert _cells(service, "rollstate") == expected_cells(rows, 900, ("kind", "region"))
    moved = row("after", FIRST + timedelta(days=30), 3000)  # leaves the grain after it
    _ingest(service, "rollstate", [moved])
    rows = [*stored[:3], moved, *stored[4:], late]
    assert _cells(service, "rollstate") == expected_cells(rows, 900, ("kind", "region"))
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


def _pending_rows(service: Service) -> list[int]:
    tables = ("rollev__rollup__fine__pending", "rollev__rollup__channels__pending")
    return [service.engine.execute(f'SELECT count(*) FROM "{t}"', {}, 30)[1][0][0] for t in tables]  # noqa: S608


def test_a_batch_whose_rollup_fails_stores_nothing(service: Service) -> None:
    """The rows and every rollup are one transaction: when keeping the second rollup fails
    (its pending table is gone), neither the rows nor the first rollup change."""
    rows = make_rows(random.Random(4), 300)
    _ingest(service, "rollev", rows[:200])
    before = rollup_rows(service, "rollev__rollup__fine")
    channels = rollup_rows(service, "rollev__rollup__channels")
    numbered = rollup_rows(service, "rollev__ids__amount")
    assert _pending_rows(service) == [0, 0]  # all merged in by reading the rollups
    _, stored = service.engine.execute("SELECT count(*) FROM rollev", {}, 30)
    service.engine.transaction([('DROP TABLE "rollev__rollup__hourly__pending"', ())])
    waiting = service.rollups.pending.waiting()
    with pytest.raises(TallyError) as failed:
        service.ingestion.ingest("rollev", rows[200:], ADMIN, partial=False)
    assert failed.value.status == 500
    assert service.rollups.pending.waiting() == waiting  # its inserts are not counted
    assert service.engine.execute("SELECT count(*) FROM rollev", {}, 30)[1] == stored
    assert _pending_rows(service) == [0, 0]
    assert rollup_rows(service, "rollev__rollup__fine") == before
    assert rollup_rows(service, "rollev__rollup__channels") == channels
    assert rollup_rows(service, "rollev__ids__amount") == numbered
    # The values the failed batch numbered in memory were forgotten with it: stored again,
    # they get ids the dictionary table holds, and every set decodes to its cell's values.
    forget = "DELETE FROM _tally_rollups WHERE name = 'rollev__rollup__hourly'"
    service.engine.transaction([(forget, ())])
    service.rollups.ensure()  # made again, to be built
    _ingest(service, "rollev", rows[200:])
    _sets_agree(service, "rollev", rows)
    _dense_dictionaries(service, "rollev")


def test_appends_number_after_values_numbered_in_sql(service: Service) -> None:
    """A rebuild numbers values in SQL, behind the append path's mirror of the dictionary:
    the next append sees the table's count differ, reads it again, and gives a value the
    table already numbered that id, and new values ids after it."""
    rows = make_rows(random.Random(8), 900)
    _ingest(service, "rollev", rows[:300])
    seen = {row["amount"] for row in rows[:300]}
    unseen = sorted({row["amount"] for row in rows[300:600]} - seen - {None})
    numbered = 'INSERT INTO "rollev__ids__amount" SELECT max(id) + 1, ? FROM "rollev__ids__amount"'
    service.engine.transaction([(numbered, (unseen[0],))])
    _ingest(service, "rollev", rows[300:600])
    _dense_dictionaries(service, "rollev")
    service.rollups.build("rollev")
    _ingest(service, "rollev", rows[600:])
    _sets_agree(service, "rollev", rows)
    _dense_dictionaries(service, "rollev")
    _agrees_with_rebuild(service, "rollev")


def _dense_dictionaries(service: Service, dataset: str) -> None:
    """Each dictionary numbers distinct values 0..n-1, one id each."""
    for field in SET_FIELDS:
        table = f'"{dataset}__ids__{field}"'
        sql = f"SELECT count(*), count(DISTINCT id), count(DISTINCT value), max(id) FROM {table}"  # noqa: S608
        _, ((count, ids, values, top),) = service.engine.execute(sql, {}, 30)
        assert count == ids == values == (top + 1 if top is not None else 0), field


@pytest.mark.parametrize("name", ["rollev__rollup__fine", "rollev__ids__note"])
def test_a_dataset_named_like_another_datasets_rollup_or_dictionary_is_refused(
    tmp_path: Path, name: str
) -> None:
    """Its table would be `rollev`'s rollup or dictionary, which Tally drops and makes anew
    (and a dataset named so was once served on the rollup's own table): the file is refused at
    its name, at start and by a live reload, and the rollup keeps its rows."""
    folder = tmp_path / "datasets"
    write_datasets(folder)
    extra = folder / f"{name}.yaml"
    extra.write_text(APPEND.replace("name: rollev", f"name: {name}") + COLUMNS)
    with pytest.raises(CatalogError) as refused:
        build_service(Settings.from_env(data_dir=tmp_path / "data", datasets_dir=folder))
    assert [(p.file, p.field) for p in refused.value.problems] == [(extra.name, "name")]
    extra.unlink()
    service = build_service(Settings.from_env(data_dir=tmp_path / "data", datasets_dir=folder))
    try:
        rows = make_rows(random.Random(10), 50)
        _ingest(service, "rollev", rows)
        service.rollups.compact_all()
        before = rollup_rows(service, "rollev__rollup__fine")
        extra.write_text(APPEND.replace("name: rollev", f"name: {name}") + COLUMNS)
        report = service.reloader.reload()
        assert [p.field for p in report.problems] == ["name"] and not report.added
        service.rollups.ensure()
        assert rollup_rows(service, "rollev__rollup__fine") == before
        counted = 'SELECT sum(_count) FROM "rollev__rollup__fine"'
        assert service.engine.execute(counted, {}, 30)[1] == [(len(rows),)]
    finally:
        service.engine.close()


def test_a_table_named_and_shaped_like_a_dictionary_is_kept_unless_tally_made_it(
    tmp_path: Path,
) -> None:
    """A table made by hand in the database, named like a dictionary of a served dataset and
    with a dictionary's columns, is not Tally's to drop (it was, when the sweep went by name
    and shape); a dictionary Tally made is dropped with the last rollup using it, also one
    made before dictionaries were recorded (recorded at the next start)."""
    service = open_service(tmp_path)
    try:
        service.engine.transaction(
            [('CREATE TABLE "rollev__ids__kept" (id BIGINT, value VARCHAR)', ()),
             ("INSERT INTO \"rollev__ids__kept\" VALUES (0, 'mine')", ())]
        )  # fmt: skip
        _ingest(service, "rollev", make_rows(random.Random(11), 50))
        forget = "DELETE FROM _tally_rollups WHERE fingerprint = 'dictionary'"
        service.engine.transaction([(forget, ())])  # as a database of an earlier version
        service.rollups.ensure()
        write_datasets(tmp_path / "datasets", rollups=False)
        assert not service.reloader.reload().problems
        service.rollups.ensure()
        _, tables = service.engine.execute(
            "SELECT table_name FROM duckdb_tables() WHERE contains(table_name, '__ids__') "
            "ORDER BY 1",
            {},
            30,
        )
        assert tables == [("rollev__ids__kept",)]
        kept = service.engine.execute('SELECT * FROM "rollev__ids__kept"', {}, 30)[1]
        assert kept == [(0, "mine")]
    finally:
        service.engine.close()


def test_a_rollup_named_like_a_dictionary_is_kept(tmp_path: Path) -> None:
    """A declared rollup named `ids` (its pending table `rollev__rollup__ids__pending`) is not
    taken for a dictionary, however often the catalog is ensured."""
    write_datasets(tmp_path / "datasets")
    path = tmp_path / "datasets" / "rollev.yaml"
    path.write_text(path.read_text() + "  - name: ids\n    grain: 1 hour\n    dimensions: [kind]\n")
    settings = Settings.from_env(
        data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets", **NO_COMPACTION
    )
    service = build_service(settings)  # its rows stay pending while the catalog is ensured
    try:
        rows = make_rows(random.Random(9), 200)
        _ingest(service, "rollev", rows)
        service.rollups.ensure()
        service.rollups.ensure()
        kinds = rollup_rows(service, "rollev__rollup__ids")
        assert sum(row[-1] for row in kinds) == len(rows)
    finally:
        service.engine.close()


def test_a_reload_keeps_the_mirrors_of_dictionaries_it_keeps(tmp_path: Path) -> None:
    """A reload that keeps a dictionary keeps its mirror in memory (at 100M rows, loading one
    again held the next append for seconds); one whose rollups were removed is forgotten with
    its table, so declared again and rebuilt (numbering its values anew) its appends number
    through a mirror of the new table: every set still decodes to its
    cell's values."""
    service = open_service(tmp_path, compacting=False)
    try:
        rows = make_rows(random.Random(12), 900)
        _ingest(service, "rollev", rows[:300])
        mirrors = dict(service.rollups._dictionaries)
        assert {"rollev__ids__note", "rollev__ids__amount"} <= mirrors.keys()
        report = service.reloader.reload()  # nothing changed
        assert not report.problems
        _ingest(service, "rollev", rows[300:400])
        assert service.rollups._dictionaries == mirrors  # the same objects: not read again
        _sets_agree(service, "rollev", rows[:400])

        write_datasets(tmp_path / "datasets", rollups=False)
        service.reloader.reload()
        assert not service.rollups._dictionaries
        _ingest(service, "rollev", rows[400:600])
        write_datasets(tmp_path / "datasets")
        service.reloader.reload()
        service.rollups.build("rollev")
        _ingest(service, "rollev", rows[600:])
        assert all(m not in service.rollups._dictionaries.values() for m in mirrors.values())
        _sets_agree(service, "rollev", rows)
        _dense_dictionaries(service, "rollev")
        _agrees_with_rebuild(service, "rollev")
    finally:
        service.engine.close()


FAR = APPEND.replace("name: rollev", "name: far") + COLUMNS + "  - {name: seen, type: timestamp}\n"
FAR += "rollups:\n  - name: seen\n    measures: [{op: count}, {op: count_distinct, field: seen}]\n"


def test_instants_past_year_9999_are_numbered_and_counted(tmp_path: Path) -> None:
    """An Arrow file may carry instants past year 9999 (DuckDB keeps them; Python's datetime
    cannot): an append numbers them like any value, and the distinct count from the rollup
    equals the rows'."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    (folder / "far.yaml").write_text(FAR)
    service = build_service(Settings.from_env(data_dir=tmp_path / "data", datasets_dir=folder))
    try:
        rng = random.Random(14)
        year_10000 = 253_402_300_800_000_000  # microseconds since 1970
        micros = pa.timestamp("us", tz="UTC")
        for batch in range(3):
            n = 40
            seen = [
                None if rng.random() < 0.1 else year_10000 + rng.randrange(25) for _ in range(n)
            ]
            table = pa.table(
                {
                    "tenant": [rng.choice(TENANTS) for _ in range(n)],
                    "id": [f"f{batch}_{i}" for i in range(n)],
                    "ts": pa.array([instant(rng) for _ in range(n)], micros),
                    "seen": pa.array(seen, pa.int64()).cast(micros),
                }
            )
            outcome = service.ingestion.load_table("far", table, partial=False)
            assert (outcome.accepted, outcome.rejected) == (n, [])
        body = {
            "dataset": "far",
            "time": {"start": FIRST.isoformat(), "end": (FIRST + timedelta(days=40)).isoformat()},
            "measures": [{"op": "count_distinct", "field": "seen"}],
            "group_by": ["tenant"],
            "cache": "no-cache",
        }
        answered = service.answers.answer(Query.model_validate(body), ADMIN)
        assert answered.meta["served_from"] == "seen"
        raw = "SELECT tenant, count(DISTINCT seen) FROM far GROUP BY tenant"
        expected = dict(service.engine.execute(raw, {}, 30)[1])
        assert {r["tenant"]: r["count_distinct_seen"] for r in answered.rows} == expected
    finally:
        service.engine.close()


TIMELESS = """name: timeless
mode: upsert
tenant_columns: [tenant]
time_column: ts
key_columns: [id]
columns:
  - {name: tenant, type: string, nullable: false}
  - {name: id, type: string, nullable: false}
  - {name: ts, type: timestamp}
  - {name: kind, type: string}
  - {name: amount, type: int}
rollups:
  - name: by_kind
    grain: 1 hour
    dimensions: [kind]
    measures: [{op: count}, {op: sum, field: amount}, {op: count_distinct, field: amount}]
"""


REQUIRED_TIME = ("{name: ts, type: timestamp}", "{name: ts, type: timestamp, nullable: false}")


def _timeless_service(tmp_path: Path, text: str = TIMELESS, **settings: Any) -> Service:
    folder = tmp_path / "datasets"
    folder.mkdir(exist_ok=True)
    (folder / "timeless.yaml").write_text(text)
    chosen = Settings.from_env(data_dir=tmp_path / "data", datasets_dir=folder, **settings)
    return build_service(chosen)


def _upsert_timeless(
    service: Service, rng: random.Random, stored: dict, keys: list[int], untimed: float
) -> None:
    """Upsert rows `k<key>`, a share `untimed` of them with no time value; `stored` follows."""
    batch = []
    for key in keys:
        at = None if rng.random() < untimed else instant(rng).isoformat()
        kind, amount = rng.choice(("a", "b")), rng.randrange(100)
        batch.append({"tenant": "t_a", "id": f"k{key}", "ts": at, "kind": kind, "amount": amount})
    _ingest(service, "timeless", batch)
    stored.update({row["id"]: row for row in batch})


def _timeless_answer(service: Service) -> Any:
    measures = [
        {"op": "count"},
        {"op": "sum", "field": "amount"},
        {"op": "count_distinct", "field": "amount"},
    ]
    body = {"dataset": "timeless", "measures": measures, "group_by": ["kind"], "cache": "no-cache"}
    return service.answers.answer(Query.model_validate(body), ADMIN)


def _timeless_agrees(service: Service, stored: dict) -> None:
    """The answer by kind (no window: from the rollup) equals Python over the stored rows."""
    answer = _timeless_answer(service)
    assert answer.meta["served_from"] == "by_kind"
    got = {
        r["kind"]: (r["count"], r["sum_amount"], r["count_distinct_amount"]) for r in answer.rows
    }
    kinds: dict[str, list] = {}
    for row in stored.values():
        kinds.setdefault(row["kind"], []).append(row["amount"])
    assert got == {k: (len(v), sum(v), len(set(v))) for k, v in kinds.items()}


def _timeless_agrees_with_rebuild(service: Service) -> None:
    table = "timeless__rollup__by_kind"
    maintained = rollup_rows(service, table)
    service.rollups.build("timeless")
    assert rollup_rows(service, table) == maintained


def test_upserts_keep_the_cell_of_rows_with_no_time(tmp_path: Path) -> None:
    """Rows with no time value (a nullable time column) share a cell with no grain. An upsert
    recomputes the cells it touches from the stored rows in their grains' range, which no such
    row is in: the cell must be recomputed from those rows too, not emptied. Checked against
    Python over the rows that must be stored, and against a rebuild."""
    service = _timeless_service(tmp_path)
    rng = random.Random(15)
    stored: dict[str, dict[str, Any]] = {}
    try:
        _upsert_timeless(service, rng, stored, list(range(40)), 0.5)
        for _ in range(6):  # rows move in and out of the timeless cell, and within it
            _upsert_timeless(service, rng, stored, rng.sample(range(50), 8), 0.5)
            _timeless_agrees(service, stored)
        _upsert_timeless(service, rng, stored, [3], 1.0)  # a batch touching that cell only
        _timeless_agrees(service, stored)
        _timeless_agrees_with_rebuild(service)
    finally:
        service.engine.close()


def test_upserts_empty_the_timeless_cell_after_the_time_column_became_required(
    tmp_path: Path,
) -> None:
    """A time column made required (`nullable: false`) by a later reload: the rows stored with
    no time value keep their cell, which appends then match by plain equality on the grain (a
    range DuckDB prunes by). Upserts that move those rows out must still empty that cell."""
    service = _timeless_service(tmp_path)
    rng = random.Random(16)
    stored: dict[str, dict[str, Any]] = {}
    try:
        _upsert_timeless(service, rng, stored, list(range(30)), 0.5)
        path = tmp_path / "datasets" / "timeless.yaml"
        path.write_text(TIMELESS.replace(*REQUIRED_TIME))
        assert not service.reloader.reload().problems
        service.rollups.build("timeless")
        _timeless_agrees(service, stored)
        untimed = [int(key[1:]) for key, row in stored.items() if row["ts"] is None]
        for start in range(0, len(untimed), 4):
            _upsert_timeless(service, rng, stored, untimed[start : start + 4], 0.0)
            _timeless_agrees(service, stored)
        _timeless_agrees_with_rebuild(service)
    finally:
        service.engine.close()


def test_a_time_column_made_required_remakes_its_rollups(tmp_path: Path) -> None:
    """Appends and compactions match the cells of a required time column by plain equality on
    the grain (a range DuckDB prunes by): rows appended with no time before it became required
    would keep a cell that pending rows never merge into, two rows for one cell. So the change
    remakes the rollup: the rows answer until it is built, and then it equals a rebuild."""
    appends = TIMELESS.replace("mode: upsert\n", "")
    service = _timeless_service(tmp_path, appends, **NO_COMPACTION)
    rng = random.Random(17)
    stored: dict[str, dict[str, Any]] = {}
    try:
        _upsert_timeless(service, rng, stored, list(range(30)), 0.5)
        service.rollups.compact_all()
        _upsert_timeless(service, rng, stored, list(range(30, 40)), 1.0)  # left pending
        (tmp_path / "datasets" / "timeless.yaml").write_text(appends.replace(*REQUIRED_TIME))
        assert not service.reloader.reload().problems
        assert _timeless_answer(service).meta["served_from"] == "raw"
        service.rollups.build("timeless")
        _upsert_timeless(service, rng, stored, list(range(40, 50)), 0.0)
        _timeless_agrees(service, stored)
        _timeless_agrees_with_rebuild(service)
    finally:
        service.engine.close()


def test_rollups_of_a_dataset_no_longer_declared_are_kept_until_it_returns(
    tmp_path: Path,
) -> None:
    """A service opened with its datasets folder mistyped (or the file away for a moment)
    declares none of them: no batch reaches their tables, so their rollups and dictionaries
    still hold their rows. Dropping them cost a build of every rollup (minutes at 100M rows);
    kept, they answer as soon as the dataset is back. A rollup its dataset no longer declares
    is dropped."""
    service = open_service(tmp_path)
    rows = make_rows(random.Random(18), 400)
    try:
        _ingest(service, "rollev", rows)
        before = rollup_rows(service, "rollev__rollup__fine")
    finally:
        service.engine.close()
    elsewhere = Settings.from_env(data_dir=tmp_path / "data", datasets_dir=tmp_path / "mistyped")
    build_service(elsewhere).engine.close()
    service = build_service(
        Settings.from_env(data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets")
    )
    try:
        body = {"dataset": "rollev", "measures": [{"op": "count"}], "group_by": ["kind"]}
        answer = service.answers.answer(Query.model_validate({**body, "cache": "no-cache"}), ADMIN)
        assert answer.meta["served_from"] in {"fine", "hourly", "channels"}
        assert sum(r["count"] for r in answer.rows) == len(rows)
        assert rollup_rows(service, "rollev__rollup__fine") == before
        _sets_agree(service, "rollev", rows)
        write_datasets(tmp_path / "datasets", rollups=False)
        assert not service.reloader.reload().problems
        _, tables = service.engine.execute("SELECT table_name FROM duckdb_tables()", {}, 30)
        assert not [t for (t,) in tables if t.startswith("rollev__")]
    finally:
        service.engine.close()


@pytest.mark.parametrize("name", ["ev__ids", "ev__rollup"])
def test_datasets_named_like_a_marker_keep_and_drop_their_own_rollups(
    tmp_path: Path, name: str
) -> None:
    """A dataset's name may end in part of the markers of derived tables (`ev__ids`), next to a
    dataset `ev`: its rollup `ev__ids__rollup__daily` and its dictionaries
    (`ev__ids__ids__note`) are its own, not `ev`'s. Its file away for a moment, they are kept
    and answer, rows appended after it returns included; a rollup removed from its file is
    dropped, and declared again it does not answer with the rows it missed."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    sets = "    measures: [{op: count}, {op: count_distinct, field: note}]\n"
    ev = APPEND.replace("rollev", "ev") + COLUMNS + "rollups:\n  - name: hourly\n" + sets
    (folder / "ev.yaml").write_text(ev)
    head = APPEND.replace("rollev", name) + COLUMNS
    daily = "rollups:\n  - name: daily\n    grain: 1 hour\n    dimensions: [kind]\n" + sets
    (folder / "ds.yaml").write_text(head + daily)
    service = build_service(Settings.from_env(data_dir=tmp_path / "data", datasets_dir=folder))
    rows = make_rows(random.Random(19), 600)
    body = {
        "dataset": name,
        "measures": [{"op": "count"}, {"op": "count_distinct", "field": "note"}],
        "group_by": ["kind"],
        "cache": "no-cache",
    }

    def agrees(served_from: str) -> None:
        answer = service.answers.answer(Query.model_validate(body), ADMIN)
        assert answer.meta["served_from"] == served_from
        rollups, service.answers.rollups = service.answers.rollups, None
        try:
            assert answer.rows == service.answers.answer(Query.model_validate(body), ADMIN).rows
        finally:
            service.answers.rollups = rollups

    try:
        _ingest(service, "ev", make_rows(random.Random(20), 100))
        _ingest(service, name, rows[:200])
        (folder / "ds.yaml").unlink()
        assert not service.reloader.reload().problems
        (folder / "ds.yaml").write_text(head + daily)
        assert not service.reloader.reload().problems
        _ingest(service, name, rows[200:400])
        agrees("daily")
        (folder / "ds.yaml").write_text(head)
        assert not service.reloader.reload().problems
        _ingest(service, name, rows[400:])
        (folder / "ds.yaml").write_text(head + daily)
        assert not service.reloader.reload().problems
        agrees("raw")  # made anew: until it is built, the rows answer
    finally:
        service.engine.close()
