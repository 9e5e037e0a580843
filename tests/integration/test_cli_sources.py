"""The `tally` command with datasets read in place, as a user runs it (real processes): commands
that write (compact, ingest) leave them alone or refuse them in one line, never a traceback, and
the listing shows what the server would serve (TALLY_PROFILES)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.sources_support import dataset_file, make_rows, write_parquet_folder


def tally(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TALLY_DATA_DIR": str(data_dir), "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "tally.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_error_line(out: subprocess.CompletedProcess, wanted: str) -> None:
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "TallyError" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and wanted in errors[0], out.stderr


def _setup(tmp_path: Path) -> Path:
    """An owned dataset holding 5 rows, and a Parquet dataset read in place."""
    data = tmp_path / "data"
    glob = write_parquet_folder(tmp_path / "events", make_rows(20))
    dataset_file(data / "datasets", "ev_pq", {"parquet": {"path": glob, "hive_partitioning": True}})
    dataset_file(data / "datasets", "ev_own", None)
    rows = [
        {"tenant_id": "t1", "id": i, "created_at": f"2026-01-0{i + 1}T00:00:00Z"} for i in range(5)
    ]
    (tmp_path / "rows.ndjson").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    loaded = tally("ingest", str(tmp_path / "rows.ndjson"), "-d", "ev_own", data_dir=data)
    assert loaded.returncode == 0 and "stored 5 new" in loaded.stdout, loaded.stderr
    return data


def test_compact_and_ingest_leave_a_dataset_read_in_place_alone(tmp_path: Path) -> None:
    data = _setup(tmp_path)
    everything = tally("compact", data_dir=data, TALLY_PROFILES="none")
    assert everything.returncode == 0, everything.stderr
    assert "compacted ev_own: 5 rows" in everything.stdout
    assert "skipped ev_pq: read in place" in everything.stdout
    assert "compacted ev_pq" not in everything.stdout

    named = tally("compact", "-d", "ev_pq", data_dir=data, TALLY_PROFILES="none")
    _one_error_line(named, "dataset ev_pq is read in place from its parquet source")
    ingest = tally("ingest", str(tmp_path / "rows.ndjson"), "-d", "ev_pq", data_dir=data)
    _one_error_line(ingest, "dataset ev_pq is read in place from its parquet source")
    unknown = tally("compact", "-d", "nope", data_dir=data, TALLY_PROFILES="none")
    _one_error_line(unknown, "nope")


def test_the_listing_shows_the_served_profiles_datasets_only(tmp_path: Path) -> None:
    data = _setup(tmp_path)
    none = tally("datasets", data_dir=data, TALLY_PROFILES="none")
    assert none.returncode == 0, none.stderr
    listed = {line.split()[1] for line in none.stdout.splitlines() if line.startswith("│")}
    assert {"ev_pq", "ev_own"} <= listed
    assert "agent_events" not in listed
    everything = tally("datasets", data_dir=data, TALLY_PROFILES="all")
    assert "agent_events" in everything.stdout
