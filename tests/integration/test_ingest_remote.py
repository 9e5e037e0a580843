"""`tally ingest --url` against a real server that is restarted in the middle of the load: the
CLI retries, and re-sent batches store nothing twice."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.server_support import free_port, running_server

ROWS = 12_000


def _count(base: str, token: str) -> int:
    query = {"dataset": "agent_events", "measures": [{"op": "count"}], "cache": "no-cache"}
    answer = httpx.post(
        f"{base}/v1/query", json=query, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"][0]["count"]


def test_ingest_through_a_server_restarted_mid_load(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "exports"
    folder.mkdir()
    now = datetime.now(UTC)
    for part in range(3):
        lines = [
            json.dumps({"workspace_id": "ws_r", "brand_id": "br_1", "event_id": f"r{part}_{i}",
                        "event_type": "view", "ts": (now - timedelta(seconds=i)).isoformat()})
            for i in range(ROWS // 3)
        ]  # fmt: skip
        (folder / f"part{part}.jsonl").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "TALLY_DATA_DIR": str(data), "COLUMNS": "120"}
    made = subprocess.run(
        [sys.executable, "-m", "tally.cli", "keys", "create", "--role", "admin", "--scope", "*"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = made.stdout.strip()
    port = free_port()
    loader = None
    try:
        with running_server(data, port=port) as base:
            loader = subprocess.Popen(
                [sys.executable, "-m", "tally.cli", "ingest", str(folder), "-d", "agent_events",
                 "--url", base, "--token", token, "--batch-rows", "200", "--retry-for", "60"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while _count(base, token) < ROWS // 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            stored_before = _count(base, token)
        assert 0 < stored_before < ROWS, "the server must stop in the middle of the load"
        time.sleep(1)
        with running_server(data, port=port) as base:
            out, errors = loader.communicate(timeout=120)
            assert loader.returncode == 0, errors
            assert _count(base, token) == ROWS
        assert "retried" in errors, errors
        found = re.search(r"stored ([\d,]+) new, [\d,]+ updated, ([\d,]+) duplicates", out)
        assert found is not None, out
        new, duplicates = (int(n.replace(",", "")) for n in found.groups())
        assert new == ROWS, "the CLI counted each row stored once, whatever it re-sent"
        assert new + duplicates >= ROWS, "every row was sent at least once"
    finally:
        if loader is not None and loader.poll() is None:
            loader.kill()
