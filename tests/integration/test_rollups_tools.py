"""`tally rollups verify` and `tally rollups suggest`, run as a user runs them, over questions
the service actually answered (and so recorded in its query log)."""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tally.catalog import Catalog
from tally.config import Settings
from tally.query.model import Query
from tally.rollups.layout import COUNT_COLUMN
from tally.rollups.querylog import FILE_NAME
from tally.service import Service
from tally.wiring import build_service
from tests.integration.rollup_support import (
    ADMIN,
    APPEND,
    COLUMNS,
    make_rows,
    rollups_cli,
    write_datasets,
)
from tests.integration.test_rollups_answers import random_query

ASKED = 120


def _open(root: Path, **settings: Any) -> Service:
    return build_service(
        Settings.from_env(data_dir=root / "data", datasets_dir=root / "datasets", **settings)
    )


def _filled(root: Path, rollups: bool, **settings: Any) -> Service:
    write_datasets(root / "datasets", rollups)
    service = _open(root, **settings)
    rows = make_rows(random.Random(11), 4000)
    for start in range(0, len(rows), 1000):
        outcome = service.ingestion.ingest("rollev", rows[start : start + 1000], ADMIN, False)
        assert not outcome.rejected
    return service


@pytest.fixture(scope="module", params=["whole questions", "shapes only"])
def asked(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A data directory whose service answered ASKED random questions: kept whole for verify
    (opt-in), or only their shapes (the default), which verify asks with values of its own."""
    root = tmp_path_factory.mktemp("rollup-verify")
    whole = request.param == "whole questions"
    service = _filled(root, rollups=True, query_log_samples=ASKED if whole else 0)
    rng = random.Random(2026)
    try:
        for _ in range(ASKED):
            service.answers.answer(Query.model_validate(random_query(rng)), ADMIN)
        service.answers.query_log.flush()
    finally:
        service.close()
    return root


def _summary(output: str) -> tuple[int, int, int]:
    found = re.search(r"compared (\d+) questions, (\d+) served from rollups.*; (\d+) diff", output)
    assert found, output
    compared, from_rollups, differences = map(int, found.groups())
    return compared, from_rollups, differences


def test_verify_finds_rollups_agree_with_the_rows_on_random_questions(asked: Path) -> None:
    checked = rollups_cli(asked, "verify", "--sample", str(ASKED))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    compared, from_rollups, differences = _summary(checked.stdout)
    print(f"\nverify: {compared} compared, {from_rollups} served from rollups")
    if "recent questions" in checked.stderr:
        assert compared == ASKED
        assert from_rollups >= ASKED // 5
    else:
        assert "recorded shapes" in checked.stderr
        assert compared >= ASKED // 2  # random questions share few shapes
        assert from_rollups >= compared // 5
    assert differences == 0


def test_verify_reports_a_corrupted_rollup_cell(asked: Path, tmp_path: Path) -> None:
    shutil.copytree(asked, tmp_path, dirs_exist_ok=True)
    # Pending rows too: whether the cells were merged in yet depends on whether an earlier
    # test's verify (a service over this folder) compacted them.
    tables = [
        f"rollev__rollup__{name}{part}" for name in ("fine", "hourly") for part in ("", "__pending")
    ]
    with duckdb.connect(str(tmp_path / "data" / "tally.duckdb")) as db:
        for table in tables:
            db.execute(f'UPDATE "{table}" SET "{COUNT_COLUMN}" = "{COUNT_COLUMN}" + 1')  # noqa: S608
    checked = rollups_cli(tmp_path, "verify", "--sample", str(ASKED))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    _, from_rollups, differences = _summary(checked.stdout)
    assert differences >= 1
    assert "DIFFERENT rollev" in checked.stdout


def test_verify_fails_when_no_question_could_be_compared(tmp_path: Path) -> None:
    """Recorded shapes are asked again over every whole day of the data (40 here): with the
    longest window cut to 10 days the service refuses each, and a verify that compared nothing
    verified nothing, which is not a success."""
    service = _filled(tmp_path, rollups=True)
    try:
        body = {**random_query(random.Random(3)), "cache": "no-cache"}
        service.answers.answer(Query.model_validate(body), ADMIN)
        service.answers.query_log.flush()
    finally:
        service.close()
    checked = rollups_cli(tmp_path, "verify", TALLY_MAX_WINDOW_DAYS="10")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "not compared (rollev)" in checked.stdout
    assert "no question could be compared" in checked.stderr
    assert _summary(checked.stdout)[0] == 0


def test_verify_and_suggest_say_when_nothing_is_recorded(tmp_path: Path) -> None:
    _filled(tmp_path, rollups=True).close()
    checked = rollups_cli(tmp_path, "verify")
    assert checked.returncode == 1
    assert "query_log_samples" in checked.stdout + checked.stderr
    suggested = rollups_cli(tmp_path, "suggest")
    assert suggested.returncode == 0
    assert "no questions answered from the rows are recorded yet" in suggested.stdout
    for command in ("suggest", "verify"):
        unknown = rollups_cli(tmp_path, command, "--dataset", "nope")
        assert unknown.returncode == 1
        assert "unknown dataset 'nope'" in unknown.stdout + unknown.stderr
        assert "Traceback" not in unknown.stderr


def test_rollup_commands_refuse_to_succeed_having_nothing_to_do(tmp_path: Path) -> None:
    """A build or verify of a dataset that declares no rollup, a build where none is declared
    (a datasets folder mistyped), and a suggest over a data folder that does not exist fail
    and say why, instead of succeeding having done nothing."""
    _filled(tmp_path, rollups=False).close()
    for command in ("build", "verify"):
        bare = rollups_cli(tmp_path, command, "--dataset", "rollev")
        assert bare.returncode == 1, bare.stdout
        assert "dataset 'rollev' declares no rollups" in bare.stdout + bare.stderr
    everything = rollups_cli(tmp_path, "build")
    assert everything.returncode == 1, everything.stdout
    assert "no dataset declares rollups" in everything.stdout + everything.stderr
    missing = rollups_cli(tmp_path, "suggest", TALLY_DATA_DIR=str(tmp_path / "mistyped"))
    assert missing.returncode == 1, missing.stdout
    assert "no data directory at" in missing.stdout + missing.stderr
    assert not (tmp_path / "mistyped").exists()
    for ran in (bare, everything, missing):
        assert "Traceback" not in ran.stderr


HEAVY = {
    "dataset": "rollev",
    "time": {"start": "2025-03-02T00:00:00+05:45", "end": "2025-03-30T00:00:00+05:45"},
    "timezone": "Asia/Kathmandu",
    "measures": [{"op": "sum", "field": "amount"}, {"op": "avg", "field": "score"}],
    "group_by": ["kind", {"time": "1 day"}],
    "filter": {"field": "region", "op": "in", "value": ["eu", "us"]},
    "cache": "no-cache",
}
LIGHT = {**HEAVY, "measures": [{"op": "count"}], "group_by": ["region"], "filter": None}
DISTINCT = {**HEAVY, "measures": [{"op": "count_distinct", "field": "note"}]}
PERCENTILE = {**HEAVY, "measures": [{"op": "p90", "field": "amount"}]}


def test_suggest_proposes_a_rollup_that_then_serves_the_heaviest_shape(tmp_path: Path) -> None:
    service = _filled(tmp_path, rollups=False)
    try:
        for body, times in ((HEAVY, 20), (LIGHT, 3), (DISTINCT, 2), (PERCENTILE, 1)):
            for _ in range(times):
                answered = service.answers.answer(Query.model_validate(body), ADMIN)
                assert answered.meta["served_from"] == "raw"
        service.answers.query_log.flush()
    finally:
        service.close()
    with sqlite3.connect(tmp_path / "data" / FILE_NAME) as log:
        kept = " ".join(shape for (shape,) in log.execute("SELECT shape FROM shapes"))
    assert '"region"' in kept and '"eu"' not in kept  # fields filtered, never their values

    suggested = rollups_cli(tmp_path, "suggest", "--dataset", "rollev", "--top", "1")
    assert suggested.returncode == 0, suggested.stderr
    assert "skipped" in suggested.stdout and "percentile" in suggested.stdout  # and why
    proposal = yaml.safe_load(suggested.stdout)["rollups"][0]
    assert {"op": "count_distinct", "field": "note"} in proposal["measures"]
    assert {"kind", "region"} <= set(proposal["dimensions"])
    assert {"op": "sum", "field": "score"} in proposal["measures"]
    assert {"op": "sum", "field": "amount"} in proposal["measures"]

    dataset_file = tmp_path / "datasets" / "rollev.yaml"
    dataset_file.write_text(APPEND + COLUMNS + yaml.safe_dump({"rollups": [proposal]}))
    assert Catalog.load(tmp_path / "datasets").require("rollev").rollups[0].name == proposal["name"]
    built = _open(tmp_path)
    try:
        built.rollups.build("rollev")
        for body in (HEAVY, LIGHT, DISTINCT):
            answered = built.answers.answer(Query.model_validate(body), ADMIN)
            assert answered.meta["served_from"] == proposal["name"]
    finally:
        built.close()


def test_the_query_log_keeps_the_most_recently_asked_shapes_only(tmp_path: Path) -> None:
    service = _filled(tmp_path, rollups=False, query_log_shapes=2)
    try:
        for body in (HEAVY, LIGHT, DISTINCT, LIGHT):
            service.answers.answer(Query.model_validate(body), ADMIN)
        service.answers.query_log.flush()
        kept = service.answers.query_log.shapes("rollev")
    finally:
        service.close()
    measures = sorted(tuple(map(tuple, s.shape["measures"])) for s in kept)
    assert measures == [(("count",),), (("count_distinct", "note"),)]
    assert sorted(s.answers for s in kept) == [1, 2]
