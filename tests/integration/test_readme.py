"""The README as a new user follows it, from a fresh directory: `tally demo`, then the tour, the
key it makes and the query and ingest commands, each as printed (only the port differs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.server_support import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _blocks() -> list[str]:
    """The README's bash blocks after the first two (install-and-demo, and the CI run)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)[2:]


def test_the_readme_works_as_printed_against_the_demo(tmp_path: Path) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # `.venv/bin/tally` as `pip install -e .` makes it: this interpreter, this source.
    (bin_dir / "tally").write_text(f'#!/bin/sh\nexec {sys.executable} -m tally.cli "$@"\n')
    (bin_dir / "tally").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    env["COLUMNS"] = "200"
    port = free_port()
    demo = subprocess.Popen(
        [str(bin_dir / "tally"), "demo", "--rows", "20000", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}", 180), "the demo did not start"
        assert (tmp_path / "data" / "demo-admin.token").exists(), "the demo uses ./data"
        script = "set -e\n" + "\n".join(_blocks()).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        out = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert '{"error":' not in out.stdout, out.stdout
        assert '"rows":[{"event_type"' in out.stdout, "the viewer key reads the demo's rows"
        assert "event_type" in out.stdout and "sum" in out.stdout
        assert "stored 1 new" in out.stdout
    finally:
        demo.terminate()
        demo.wait(timeout=20)


def test_a_query_on_a_directory_without_data_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "q.json").write_text('{"dataset": "agent_events"}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    out = subprocess.run(
        [sys.executable, "-m", "tally.cli", "query", "q.json"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert f"data directory: {tmp_path / 'data'} (default)" in out.stderr
    assert "error: no database at data/tally.duckdb" in out.stderr
    assert not (tmp_path / "data").exists(), "nothing is created by a read"
