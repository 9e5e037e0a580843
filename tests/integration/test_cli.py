"""The `tally` command as a user runs it: real processes, real files, real database."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def tally(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TALLY_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "tally.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _events(n: int, workspace: str = "ws_cli") -> list[dict]:
    now = datetime.now(UTC)
    return [
        {
            "workspace_id": workspace,
            "brand_id": "br_1",
            "event_id": f"c{i}",
            "event_type": ["view", "purchase", "search"][i % 3],
            "ts": (now - timedelta(minutes=i)).isoformat(),
            "amount": float(i % 17),
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("command", ["serve", "demo", "ingest", "query", "datasets", "keys"])
def test_every_command_has_help(command: str, tmp_path: Path) -> None:
    result = tally(command, "--help", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    created = tally(
        "keys", "create", "--scope", "workspace_id=ws_acme", "--role", "viewer", data_dir=tmp_path
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert re.fullmatch(r"tly_[0-9a-f]{12}_[A-Za-z0-9_\-]{43}", token)
    key_id = token.split("_")[1]
    listed = tally("keys", "list", data_dir=tmp_path)
    assert key_id in listed.stdout and "workspace_id=ws_acme" in listed.stdout
    assert token not in listed.stdout
    stored = (tmp_path / "keys.sqlite").read_bytes()
    assert token.encode() not in stored, "only a hash of the token may be stored"
    assert tally("keys", "revoke", key_id, data_dir=tmp_path).returncode == 0
    assert tally("keys", "revoke", key_id, data_dir=tmp_path).returncode != 0
    bad = tally("keys", "create", "--scope", "nonsense", data_dir=tmp_path)
    assert bad.returncode == 2 and "COLUMN=VALUE" in bad.stderr


def test_ingest_jsonl_csv_parquet_then_query(tmp_path: Path) -> None:
    rows = _events(300)
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows[:100]) + "\n")
    out = tally("ingest", str(jsonl), "--dataset", "agent_events", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "stored 100 new" in out.stdout

    csv_path = tmp_path / "b.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[100:200])
    out = tally("ingest", str(csv_path), "--dataset", "agent_events", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "stored 100 new" in out.stdout

    table = pa.Table.from_pylist([{**r, "ts": datetime.fromisoformat(r["ts"])} for r in rows[200:]])
    pq.write_table(table, tmp_path / "c.parquet")
    out = tally("ingest", str(tmp_path / "c.parquet"), "-d", "agent_events", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "stored 100 new" in out.stdout
    again = tally("ingest", str(tmp_path / "c.parquet"), "-d", "agent_events", data_dir=tmp_path)
    assert "stored 0 new, 0 updated, 100 duplicates" in again.stdout

    query = {"dataset": "agent_events", "group_by": ["event_type"], "measures": [{"op": "count"}]}
    answer = tally("query", "-", "--json", data_dir=tmp_path, stdin=json.dumps(query))
    assert answer.returncode == 0, answer.stderr
    got = {r["event_type"]: r["count"] for r in json.loads(answer.stdout)["rows"]}
    expected: dict[str, int] = {}
    for row in rows:
        expected[row["event_type"]] = expected.get(row["event_type"], 0) + 1
    assert got == expected
    table_out = tally("query", "-", data_dir=tmp_path, stdin=json.dumps(query))
    assert "event_type" in table_out.stdout and "purchase" in table_out.stdout
    assert "served from raw" in table_out.stdout  # a table says where its values came from
    assert "approximate" not in table_out.stdout
    estimate = {
        **query,
        "measures": [{"op": "count_distinct", "field": "session_id", "approx": True}],
    }
    table_out = tally("query", "-", data_dir=tmp_path, stdin=json.dumps(estimate))
    assert "approximate: count_distinct_session_id (engine)" in table_out.stdout


def test_ingest_rejects_a_bad_file_and_stores_nothing(tmp_path: Path) -> None:
    rows = _events(10)
    rows[4]["amount"] = "lots"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tally("ingest", str(path), "--dataset", "agent_events", data_dir=tmp_path)
    assert out.returncode == 1
    assert "row 4: amount: expected a number" in out.stderr
    assert "nothing was stored" in out.stderr
    partial = tally("ingest", str(path), "-d", "agent_events", "--partial", data_dir=tmp_path)
    assert partial.returncode == 0 and "stored 9 new" in partial.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_prints_a_key_and_curl_commands_that_work(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "COLUMNS": "10000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tally.cli", "demo", "--rows", "20000", "--port", str(port),
         "--data-dir", str(tmp_path / "demo")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if line.startswith("curl") and sum(s.startswith("curl") for s in lines) == 3:
                break
        curls = [s.strip() for s in lines if s.startswith("curl")]
        assert len(curls) == 3, "".join(lines)
        token = (tmp_path / "demo" / "demo-admin.token").read_text().strip()
        assert any(token in s for s in lines)
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        for command in curls:
            out = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
            answer = json.loads(out.stdout)
            assert "error" not in answer, answer
            assert answer.get("rows") or answer.get("datasets"), answer
    finally:
        process.terminate()
        process.wait(timeout=10)
