"""A password written in a dataset file's source URL (userinfo, a `password=` parameter, a
ClickHouse URL) is a problem of the file, for `tally datasets check` and for the server's
start alike; a password named by `${VAR}` is fine (the check reads the file as written)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tally.catalog import CatalogError
from tests.helpers import live_app
from tests.integration.datasets_support import tally

COLUMNS = [
    {"name": "tenant_id", "type": "string"},
    {"name": "created_at", "type": "timestamp"},
]
HOLDING = {
    "userinfo": {"postgres": {"url": "postgresql://root:LiteralPw@127.0.0.1/test", "table": "e"}},
    "param": {
        "postgres": {"url": "postgresql://root@127.0.0.1/test?password=LiteralPw", "table": "e"}
    },
    "house": {"clickhouse": {"url": "http://default:LiteralPw@127.0.0.1:8123", "table": "e"}},
}
CLEAN = {
    "named": {"postgres": {"url": "postgresql://root:${PW_VAR}@127.0.0.1/test", "table": "e"}},
    "whole": {"postgres": {"url": "${WHOLE_URL}", "table": "e"}},
}


def _write(folder: Path, sources: dict[str, dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        body = {
            "name": name,
            "source": source,
            "tenant_columns": ["tenant_id"],
            "time_column": "created_at",
            "key_columns": ["tenant_id", "created_at"],
            "columns": COLUMNS,
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")


def test_check_reports_each_written_password_with_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    _write(folder, {**HOLDING, **CLEAN})
    out = tally("datasets", "check", str(folder), cwd=tmp_path, PW_VAR="x", WHOLE_URL="y")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = sorted(line for line in out.stdout.splitlines() if line)
    assert lines == [
        "house.yaml: source.clickhouse.url: a password is written in the file; write ${VAR} in "
        "its place (e.g. user:${HOUSE_PASSWORD}@host) and set that variable where Tally runs",
        "param.yaml: source.postgres.url: a password is written in the file; write ${VAR} in "
        "its place (e.g. user:${PARAM_PASSWORD}@host) and set that variable where Tally runs",
        "userinfo.yaml: source.postgres.url: a password is written in the file; write ${VAR} "
        "in its place (e.g. user:${USERINFO_PASSWORD}@host) and set that variable where Tally "
        "runs",
    ]
    assert "LiteralPw" not in out.stdout + out.stderr


def test_the_server_refuses_a_file_holding_a_password(tmp_path: Path) -> None:
    _write(tmp_path / "datasets", {"userinfo": HOLDING["userinfo"]})
    with pytest.raises(CatalogError) as refused, live_app(tmp_path, profiles="none"):
        pass
    problems = [str(p) for p in refused.value.problems]
    assert len(problems) == 1
    assert "userinfo.yaml: source.postgres.url: a password is written in the file" in problems[0]
    assert "LiteralPw" not in problems[0]
