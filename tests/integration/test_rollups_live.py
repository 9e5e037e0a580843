"""Rollups on a running server: built over HTTP while it serves (no request fails, every answer
equals plain SQL over the rows, served from the rows until the build commits and from a rollup
after), verified over HTTP, for admins of every tenant only; and `tally rollups --url`."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tally.api.rollups import RollupBuild, RollupList, VerifyReport
from tally.auth.keys import KeyStore
from tally.config import Settings
from tally.rollups.layout import COUNT_COLUMN
from tally.service import rollup_checks
from tally.service.rollup_builds import Build
from tests.helpers import LiveApp, bearer, live_app
from tests.integration.rollup_support import (
    ADMIN,
    FIRST,
    make_rows,
    open_service,
    rollups_cli,
    write_datasets,
)
from tests.server_support import running_server

ROLLUPS = {"fine", "hourly", "channels", "regions_all"}  # as rollup_support declares them
MARCH = {"start": "2025-03-01T00:00:00Z", "end": "2025-03-20T00:00:00Z"}
LATER = {"start": "2025-04-20T00:00:00Z", "end": "2025-06-01T00:00:00Z"}


def _question(window: dict[str, str]) -> dict[str, Any]:
    return {
        "dataset": "rollev",
        "time": window,
        "measures": [
            {"op": "count", "as": "n"},
            {"op": "sum", "field": "amount", "as": "total"},
            {"op": "max", "field": "amount", "as": "top"},
        ],
        "group_by": ["kind"],
        "cache": "no-cache",
    }


def _plain_sql(live: LiveApp, window: dict[str, str]) -> list[tuple]:
    """The same numbers straight from the dataset's table."""
    _, rows = live.service.engine.execute(
        "SELECT kind, count(*), sum(amount), max(amount) FROM rollev "
        "WHERE ts >= $start::TIMESTAMPTZ AND ts < $end::TIMESTAMPTZ GROUP BY kind",
        window,
        30,
    )
    return sorted(rows, key=repr)


def _asked(live: LiveApp, window: dict[str, str]) -> tuple[str, list[tuple]]:
    answered = live.client.post("/v1/query", json=_question(window), headers=live.admin)
    assert answered.status_code == 200, answered.text
    body = answered.json()
    rows = [(r["kind"], r["n"], r["total"], r["top"]) for r in body["rows"]]
    return body["meta"]["served_from"], sorted(rows, key=repr)


def _stored_without_rollups(root: Path, rows: int, seed: int) -> None:
    """Rows stored before any rollup is declared; then declared, so they start incomplete."""
    before = open_service(root, rollups=False)
    try:
        spread = make_rows(random.Random(seed), rows)
        for n, row in enumerate(spread):
            row["tenant"] = f"t_{n % 9}"  # more tenants: a build's progress has steps
        outcome = before.ingestion.ingest("rollev", spread, ADMIN, partial=False)
        assert not outcome.rejected
    finally:
        before.close()
    write_datasets(root / "datasets", rollups=True)


@pytest.fixture
def incomplete(tmp_path: Path) -> Iterator[LiveApp]:
    _stored_without_rollups(tmp_path, 3000, 31)
    with live_app(tmp_path) as live:
        yield live


def _polled(live: LiveApp, location: str) -> dict[str, Any]:
    found = live.client.get(location, headers=live.admin)
    assert found.status_code == 200, found.text
    RollupBuild.model_validate(found.json())
    return found.json()


def _until_ended(live: LiveApp, location: str) -> dict[str, Any]:
    for _ in range(600):
        found = _polled(live, location)
        if found["status"] not in ("pending", "running"):
            return found
        time.sleep(0.05)
    raise AssertionError(f"the build did not end: {found}")


def test_a_build_over_http_while_the_server_answers_and_stores(
    incomplete: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = incomplete
    expected = _plain_sql(live, MARCH)
    assert _asked(live, MARCH) == ("raw", expected)
    listed = live.client.get("/v1/rollups", headers=live.admin).json()["rollups"]
    RollupList.model_validate({"rollups": listed})
    assert {(r["dataset"], r["name"], r["complete"]) for r in listed} == {
        *(("rollev", name, False) for name in ROLLUPS),
        # declared over no rows: complete from the start
        *(("rollstate", name, True) for name in ROLLUPS),
    }

    # The build stops inside its transaction, after its first tenant, until released.
    inside, release = threading.Event(), threading.Event()
    advanced = Build.advanced

    def held(build: Build) -> None:
        advanced(build)
        if not inside.is_set():
            inside.set()
            assert release.wait(60)

    monkeypatch.setattr(Build, "advanced", held)
    started = live.client.post("/v1/rollups/build", json={}, headers=live.admin)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert location == f"/v1/rollups/builds/{started.json()['id']}"
    assert inside.wait(60)

    # Meanwhile: questions are answered from the rows, a batch waits for the writer.
    during = _polled(live, location)
    assert during["status"] == "running"
    assert during["progress"]["tenants_done"] == 1
    assert during["progress"]["tenants_total"] == 9
    assert during["progress"]["rollups_total"] == len(ROLLUPS)
    for _ in range(3):
        assert _asked(live, MARCH) == ("raw", expected)
    listed = live.client.get("/v1/rollups", headers=live.admin).json()["rollups"]
    building = [(r["dataset"], r["name"]) for r in listed if r["building"]]
    assert building == [("rollev", during["progress"]["rollup"])]
    assert not any(r["complete"] for r in listed if r["dataset"] == "rollev")
    later = make_rows(random.Random(32), 200, range(10_000, 10_200))
    for n, row in enumerate(later):  # in LATER, a window of its own
        row["ts"] = (FIRST + timedelta(days=60, minutes=97 * n)).isoformat()
    stored: list[httpx.Response] = []
    writer = threading.Thread(
        target=lambda: stored.append(
            live.client.post("/v1/datasets/rollev/rows", json=later, headers=live.admin)
        )
    )
    writer.start()
    writer.join(0.5)
    assert writer.is_alive()  # it cannot store while the build holds the writer
    release.set()

    ended = _until_ended(live, location)
    writer.join(60)
    assert stored[0].status_code == 200, stored[0].text
    assert ended["status"] == "succeeded", ended
    assert ended["error"] is None and ended["ended_at"] is not None
    assert [(b["dataset"], sorted(b["rollups"])) for b in ended["built"]] == [
        ("rollev", sorted(ROLLUPS))
    ]
    served_from, answered = _asked(live, MARCH)
    assert served_from in ROLLUPS
    assert answered == expected == _plain_sql(live, MARCH)
    # The batch stored right after the build is in the rollups too.
    served_from, answered = _asked(live, LATER)
    assert served_from in ROLLUPS
    assert answered == _plain_sql(live, LATER)
    assert sum(n for _, n, _, _ in answered) == len(later)
    live.service.rollups.compact_all()  # no merge changes the rows between the two counts
    listed = live.client.get("/v1/rollups", headers=live.admin).json()["rollups"]
    assert all(r["complete"] and not r["building"] for r in listed)
    assert all(r["pending_rows"] == 0 for r in listed)
    _, counted = live.service.engine.execute('SELECT count(*) FROM "rollev__rollup__hourly"', {}, 9)
    rows = {(r["dataset"], r["name"]): r["rows"] for r in listed}
    assert rows["rollev", "hourly"] == counted[0][0] > 0

    # Nothing is incomplete now: a build without datasets builds nothing.
    again = live.client.post("/v1/rollups/build", headers=live.admin)
    assert again.status_code == 202
    assert _until_ended(live, again.headers["Location"])["built"] == []


def _ask_shapes(live: LiveApp) -> None:
    """Questions of a few shapes, so the query log has recent ones to ask again."""
    for body in (
        _question(MARCH),
        {**_question(MARCH), "group_by": ["kind", "region"]},
        {**_question(LATER), "group_by": [{"time": "1 day"}]},
        {**_question(MARCH), "filter": {"field": "region", "op": "eq", "value": "eu"}},
    ):
        answered = live.client.post("/v1/query", json=body, headers=live.admin)
        assert answered.status_code == 200, answered.text


@pytest.fixture
def complete(tmp_path: Path) -> Iterator[LiveApp]:
    write_datasets(tmp_path / "datasets")
    with live_app(tmp_path) as live:
        rows = make_rows(random.Random(41), 2000)
        stored = live.client.post("/v1/datasets/rollev/rows", json=rows, headers=live.admin)
        assert stored.status_code == 200, stored.text
        yield live


def test_verify_over_http_reports_agreement_then_a_corrupted_cell(
    complete: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = complete
    _ask_shapes(live)

    # Verify runs off the event loop: held in its thread, other requests are answered.
    verifying, release = threading.Event(), threading.Event()
    verify = rollup_checks.verify

    def held(*args: Any) -> Any:
        verifying.set()
        assert release.wait(60)
        return verify(*args)

    monkeypatch.setattr(rollup_checks, "verify", held)
    reports: list[httpx.Response] = []
    asking = threading.Thread(
        target=lambda: reports.append(
            live.client.post("/v1/rollups/verify", json={"sample": 50}, headers=live.admin)
        )
    )
    asking.start()
    assert verifying.wait(60)
    assert _asked(live, MARCH)[1] == _plain_sql(live, MARCH)
    release.set()
    asking.join(120)
    assert reports[0].status_code == 200, reports[0].text
    report = reports[0].json()
    VerifyReport.model_validate(report)
    assert report["questions"] == {"source": "shapes", "count": 4}
    assert report["compared"] == 4
    assert report["from_rollups"] == 4 == sum(report["served_from"].values())
    assert set(report["served_from"]) <= ROLLUPS
    assert report["differences"] == [] and report["not_compared"] == []

    live.service.rollups.compact_all()  # the cells to corrupt are merged in
    live.service.engine.transaction(
        [(f'UPDATE "rollev__rollup__{n}" SET "{COUNT_COLUMN}" = "{COUNT_COLUMN}" + 1', ())  # noqa: S608
         for n in sorted(ROLLUPS)]
    )  # fmt: skip
    found = live.client.post(
        "/v1/rollups/verify", json={"datasets": ["rollev"]}, headers=live.admin
    )
    assert found.status_code == 200, found.text
    differences = found.json()["differences"]
    assert len(differences) == 4
    for difference in differences:
        assert difference["dataset"] == "rollev"
        assert difference["served_from"] in ROLLUPS
        assert len(difference["query_hash"]) == 16
        assert "from the rollup" in difference["detail"]


def _key(live: LiveApp, role: str, scopes: dict[str, tuple[str, ...]] | None = None) -> dict:
    _, token = live.keys.create(role, scopes or {}, all_tenants=scopes is None)
    return bearer(token)


ROUTES = (
    ("GET", "/v1/rollups"),
    ("POST", "/v1/rollups/verify"),
    ("POST", "/v1/rollups/build"),
    ("GET", "/v1/rollups/builds/anything"),
)


def test_only_an_admin_of_every_tenant_may_use_them(complete: LiveApp) -> None:
    live = complete
    callers = {
        "nobody": ({}, 401),
        "viewer": (_key(live, "viewer"), 403),
        "editor": (_key(live, "editor"), 403),
        "a tenant's admin": (_key(live, "admin", {"tenant": ("t_a",)}), 403),
    }
    for who, (headers, status) in callers.items():
        for method, path in ROUTES:
            refused = live.client.request(method, path, json={}, headers=headers)
            assert refused.status_code == status, (who, method, path, refused.text)
            assert refused.json()["error"]["code"] in ("unauthorized", "forbidden")


def test_bad_requests_name_the_offending_field(complete: LiveApp) -> None:
    live = complete
    for path in ("/v1/rollups/verify", "/v1/rollups/build"):
        unknown = live.client.post(path, json={"datasets": ["rollev", "nope"]}, headers=live.admin)
        assert unknown.status_code == 400, unknown.text
        error = unknown.json()["error"]
        assert error["code"] == "unknown_dataset"
        assert error["details"] == [{"path": "/datasets/1", "reason": "unknown dataset 'nope'"}]
        # A built-in dataset declares none: building or verifying it would do nothing.
        bare = {"datasets": ["rollev", "agent_events"]}
        refused = live.client.post(path, json=bare, headers=live.admin)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "no_rollups"
        reason = "dataset 'agent_events' declares no rollups"
        assert error["details"] == [{"path": "/datasets/1", "reason": reason}]
        extra = live.client.post(path, json={"dataset": "rollev"}, headers=live.admin)
        assert extra.status_code == 400
        assert extra.json()["error"]["details"][0]["path"] == "/dataset"
    small = live.client.post("/v1/rollups/verify", json={"sample": 0}, headers=live.admin)
    assert small.status_code == 400
    assert small.json()["error"]["details"][0]["path"] == "/sample"
    missing = live.client.get("/v1/rollups/builds/nope", headers=live.admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["details"][0]["path"] == "/id"


def test_the_cli_builds_and_verifies_through_a_running_server(tmp_path: Path) -> None:
    _stored_without_rollups(tmp_path, 2000, 51)
    settings = Settings.from_env(data_dir=tmp_path / "data", datasets_dir=tmp_path / "datasets")
    keys = KeyStore(settings.keys_path)
    _, token = keys.create("admin", {}, all_tenants=True, name="cli")
    keys.close()
    served = {"TALLY_DATASETS_DIR": str(tmp_path / "datasets")}
    with running_server(tmp_path / "data", **served) as url:
        held = rollups_cli(tmp_path, "build")
        assert held.returncode == 1
        assert "tally rollups build --url" in held.stderr
        assert "Traceback" not in held.stderr

        built = rollups_cli(tmp_path, "build", "--url", url, "--token", token)
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"built {len(ROLLUPS)} rollup(s) of rollev" in built.stdout
        again = rollups_cli(tmp_path, "build", "--url", url, "--token", token)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "nothing to build: every rollup is complete" in again.stdout
        answered = httpx.post(f"{url}/v1/query", json=_question(MARCH), headers=bearer(token))
        assert answered.json()["meta"]["served_from"] in ROLLUPS

        checked = rollups_cli(tmp_path, "verify", "--url", url, TALLY_TOKEN=token)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "compared 1 questions, 1 served from rollups" in checked.stdout
        assert "; 0 difference(s)" in checked.stdout
        assert "asking 1 recorded shapes" in checked.stderr

        unknown = rollups_cli(
            tmp_path, "verify", "--url", url, "--dataset", "nope", TALLY_TOKEN=token
        )
        assert unknown.returncode == 1
        assert "unknown dataset 'nope'" in unknown.stderr
        refused = rollups_cli(tmp_path, "verify", "--url", url)
        assert refused.returncode == 1
        assert "HTTP 401" in refused.stderr

    with duckdb.connect(str(settings.database_path)) as db:
        db.execute(f'UPDATE "rollev__rollup__hourly" SET "{COUNT_COLUMN}" = 0')  # noqa: S608
        db.execute(f'UPDATE "rollev__rollup__fine" SET "{COUNT_COLUMN}" = 0')  # noqa: S608
    with running_server(tmp_path / "data", **served) as url:
        differs = rollups_cli(tmp_path, "verify", "--url", url, "--token", token)
        assert differs.returncode == 1, differs.stdout + differs.stderr
        assert "DIFFERENT rollev query" in differs.stdout
        assert "; 1 difference(s)" in differs.stdout


def test_building_or_verifying_where_no_dataset_declares_rollups_is_refused(
    tmp_path: Path,
) -> None:
    """Over a datasets folder with no rollup (the built-in datasets only: a folder mistyped, say)
    a build or verify of every dataset would succeed having done nothing: a 400 says why, as
    the CLI does with or without --url."""
    with live_app(tmp_path) as live:
        for path in ("/v1/rollups/build", "/v1/rollups/verify"):
            refused = live.client.post(path, json={}, headers=live.admin)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["code"] == "no_rollups"
            assert error["details"][0]["path"] == "/datasets"
