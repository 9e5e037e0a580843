"""Settings as an operator meets them: a file, the environment, one-line errors, warnings, and a
reference generated from the definitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tally.config import Settings
from tally.config.reference import markdown

ROOT = Path(__file__).resolve().parents[2]


def tally(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    return subprocess.run(
        [sys.executable, "-m", "tally.cli", *args],
        env={**clean, "COLUMNS": "80", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TALLY_QUERY_TIMEOUT_S", "ten", "expected a number > 0"),
        ("TALLY_MAX_ROWS", "0", "expected a whole number >= 1"),
        ("TALLY_ENGINE", "oracle", "expected one of duckdb, postgres, clickhouse"),
        ("TALLY_CACHE", "maybe", "expected on or off"),
        ("TALLY_RATE_LIMIT_VIEWER", "lots", "<requests>/<seconds>[:<burst>] or off"),
        ("TALLY_JWT_CLAIMS", "{nope", "TALLY_JWT_CLAIMS is not valid JSON"),
        ("TALLY_LOG_FORMAT", "xml", "expected one of text, json"),
    ],
)
def test_a_bad_setting_stops_with_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    out = tally("serve", cwd=tmp_path, **{variable: value})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"error: {variable}=") and expected in lines[0], lines[0]


def test_a_bad_value_in_the_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "tally.toml").write_text('query_timeout_s = "soon"\n')
    out = tally("config", "show", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: query_timeout_s in tally.toml='soon': expected a number > 0 "
        "(Seconds a query may run.)"
    )
    (tmp_path / "tally.toml").write_text("query_timout_s = 5\n")
    out = tally("config", "show", cwd=tmp_path)
    assert out.returncode == 2 and "did you mean query_timeout_s?" in out.stderr


def test_a_misspelled_variable_is_warned_about_with_the_closest_name(tmp_path: Path) -> None:
    out = tally("config", "show", cwd=tmp_path, TALLY_QUERY_TIMOUT_S="5")
    assert out.returncode == 0
    assert "warning: TALLY_QUERY_TIMOUT_S is not a Tally setting (did you mean " in out.stderr
    assert "TALLY_QUERY_TIMEOUT_S?)" in out.stderr


def test_config_show_reflects_the_file_the_environment_and_redacts_secrets(
    tmp_path: Path,
) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('query_timeout_s = 4.5\nmax_rows = 50\ndata_dir = "store"\n')
    out = tally(
        "--config", str(config), "config", "show", "--json", cwd=tmp_path,
        TALLY_MAX_ROWS="70", TALLY_JWT_HS256_SECRET="hunter2",
        TALLY_REDIS_URL="redis://user:pa55@127.0.0.1:6379/0",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    shown = {s["variable"]: s for s in json.loads(out.stdout)["settings"]}
    assert (shown["TALLY_QUERY_TIMEOUT_S"]["value"], shown["TALLY_QUERY_TIMEOUT_S"]["origin"]) == (
        "4.5",
        str(config),
    )
    assert (shown["TALLY_MAX_ROWS"]["value"], shown["TALLY_MAX_ROWS"]["origin"]) == (
        "70",
        "TALLY_MAX_ROWS",
    )
    assert shown["TALLY_DATA_DIR"]["value"] == "store"
    assert shown["TALLY_DEFAULT_LIMIT"]["origin"] == "default"
    assert "hunter2" not in out.stdout and "pa55" not in out.stdout
    assert shown["TALLY_REDIS_URL"]["value"] == "redis://user:********@127.0.0.1:6379/0"
    flagged = tally("config", "show", "--json", "--data-dir", "there", cwd=tmp_path,
                    TALLY_CONFIG=str(config))  # fmt: skip
    data_dir = next(s for s in json.loads(flagged.stdout)["settings"] if s["key"] == "data_dir")
    assert (data_dir["value"], data_dir["origin"]) == ("there", "--data-dir")


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    out = tally("config", "show", cwd=tmp_path, TALLY_CONFIG=str(tmp_path / "nope.toml"))
    assert out.returncode == 2 and "nope.toml does not exist" in out.stderr


def test_the_committed_reference_is_what_the_definitions_generate() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == markdown(Settings), "run: tally config docs --out docs/configuration.md"
    for name in Settings.model_fields:
        if name not in ("limits", "jwt", "rate_limits"):
            assert f"`{name}`" in committed or name == "cache_enabled"


def test_a_missing_optional_engine_package_names_the_install_command(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # An interpreter where chdb cannot be imported, as on an install without the extra.
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['chdb'] = None\n")
    paths = [str(blocker), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    out = tally(
        "serve", "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
        TALLY_ENGINE="clickhouse", TALLY_CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}",
        PYTHONPATH=os.pathsep.join(p for p in paths if p),
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "needs the optional package chdb: pip install 'tally[clickhouse]'" in out.stderr
    assert "Traceback" not in out.stderr
