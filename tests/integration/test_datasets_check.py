"""`tally datasets check` as a user runs it: every problem of every file, each with its file and
the path of its field, exit 1; a clean folder exits 0. The server refuses the same files with
the same lines."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tally.catalog.problems import Problem, problems_in
from tests.integration.datasets_support import duckdb_orders, tally

GOOD = """
name: shop
tenant_columns: [tenant_id]
time_column: ts
key_columns: [id]
columns:
  - {name: tenant_id, type: string}
  - {name: id, type: string}
  - {name: ts, type: timestamp}
  - {name: amount, type: decimal, scale: 2}
"""
# file -> (content, the lines check must print for it)
BROKEN = {
    "money.yaml": (
        GOOD.replace("name: shop", "name: money").replace("type: decimal, scale: 2", "type: money"),
        ["money.yaml: columns[3].type: 'money' is not one of 'string', 'int', "],
    ),
    "typo.toml": (
        'name = "typo"\ntenant_columns = ["t"]\ncolums = []\n',
        [
            "typo.toml: colums: unknown field (did you mean 'columns'?)",
            "typo.toml: columns: required",
        ],
    ),
    "refs.yaml": (
        GOOD.replace("name: shop", "name: refs")
        .replace("[tenant_id]", "[tenant_id, brand_id]")
        .replace("time_column: ts", "time_column: id")
        + "  - {name: kind, type: string, derived: {fn: path_segment, of: nowhere}}\n",
        [
            "refs.yaml: tenant_columns[1]: unknown column 'brand_id'",
            "refs.yaml: time_column: the time column is a timestamp or a date",
            "refs.yaml: columns[4].derived.of: not a stored column",
            "refs.yaml: columns[4].derived.index: path_segment needs one",
        ],
    ),
    "scale.yaml": (
        GOOD.replace("name: shop", "name: scale").replace(", scale: 2", ""),
        ["scale.yaml: columns[3].scale: a decimal needs a scale"],
    ),
    "narrow.yaml": (
        GOOD.replace("name: shop", "name: narrow").replace(
            "type: decimal, scale: 2", "type: int, ops: [eq, contains], measures: [sum, p95]"
        ),
        [
            "narrow.yaml: columns[3].ops[1]: 'contains' is not allowed on type int (eq, neq, ",
            "narrow.yaml: columns[3].measures[1]: 'p95' is not allowed on type int (count, ",
        ],
    ),
    "rows.yaml": (
        GOOD.replace("name: shop", "name: rows")
        + "row_access: {subject_column: id, teams_column: tenant_id}\n",
        ["rows.yaml: row_access.teams_column: teams are a string[] column"],
    ),
    "mixed.yaml": (
        GOOD.replace("name: shop", "name: mixed")
        .replace("[tenant_id]", "[tenant_id, brand_id]")
        .replace("type: decimal, scale: 2", "type: money")
        + "source: {postgres: {url: 'postgresql://u:pw@h/db', table: t}}\n",
        [  # a field's own problem does not hide those across fields or of the source
            "mixed.yaml: columns[3].type: 'money' is not one of ",
            "mixed.yaml: tenant_columns[1]: unknown column 'brand_id'",
            "mixed.yaml: source.postgres.url: a password is written in the file",
        ],
    ),
    "syntax.toml": ('name = "x"\ntenant_columns = [\n', ["syntax.toml: not valid TOML: "]),
    "syntax.yml": ("name: x\n  columns: [\n", ["syntax.yml: not valid YAML: "]),
    "list.yaml": ("- a\n- b\n", ["list.yaml: the file must hold one dataset"]),
    "twice.yaml": (GOOD, ["twice.yaml: name: dataset 'shop' is also declared by shop.yaml"]),
    "secret.yaml": (
        GOOD.replace("name: shop", "name: secret")
        + "source: {postgres: {url: 'postgresql://u:${TALLY_TEST_UNSET_PW}@h/db', table: t}}\n",
        ["secret.yaml: source.postgres.url: environment variable TALLY_TEST_UNSET_PW is not set"],
    ),
}


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def test_every_problem_is_printed_with_its_file_and_field(tmp_path: Path) -> None:
    files = {"shop.yaml": GOOD} | {name: text for name, (text, _) in BROKEN.items()}
    folder = _write(tmp_path / "datasets", files)
    out = tally("datasets", "check", str(folder), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    printed = out.stdout.splitlines()
    for _, expected in BROKEN.values():
        for line in expected:
            assert any(p.startswith(line) for p in printed), (line, printed)
    assert not any(p.startswith("shop.yaml") for p in printed), "the good file has no problem"
    assert f"problem(s) in {len(BROKEN)} file(s)" in out.stderr
    assert "Traceback" not in out.stderr
    as_json = tally("datasets", "check", str(folder), "--json", cwd=tmp_path)
    assert as_json.returncode == 1
    assert [str(Problem(**p)) for p in json.loads(as_json.stdout)] == printed


def test_a_clean_folder_and_the_default_folder(tmp_path: Path) -> None:
    folder = _write(tmp_path / "mine", {"shop.yaml": GOOD})
    out = tally("datasets", "check", cwd=tmp_path, TALLY_DATASETS_DIR=str(folder))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok: 1 dataset file(s)" in out.stderr
    (folder / "bad.yaml").write_text(BROKEN["scale.yaml"][0])
    again = tally("datasets", "check", cwd=tmp_path, TALLY_DATASETS_DIR=str(folder))
    assert again.returncode == 1 and "bad.yaml: columns[3].scale" in again.stdout
    missing = tally("datasets", "check", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr


def test_connect_names_columns_the_source_lacks_or_holds_in_another_type(tmp_path: Path) -> None:
    db = duckdb_orders(tmp_path)
    text = f"""
        name: orders
        source: {{duckdb: {{path: "{db}", table: sales.orders}}}}
        tenant_columns: [tenant_id]
        key_columns: [id]
        columns:
          - {{name: tenant_id, type: string, from: TenantId}}
          - {{name: id, type: int}}
          - {{name: amount_cents, type: int}}
          - {{name: channel, type: string, from: "payload:channel"}}
          - {{name: state, type: string, from: "Order Stat"}}
          - {{name: day, type: int}}
          - {{name: ratio, type: decimal, scale: 2}}
        """
    folder = _write(tmp_path / "datasets", {"orders.yaml": text})
    offline = tally("datasets", "check", str(folder), cwd=tmp_path)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    out = tally("datasets", "check", str(folder), "--connect", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "orders.yaml: columns[2].name: the source has no column 'amount_cents' "
        "(did you mean 'amount'?)",
        "orders.yaml: columns[4].from: the source has no column 'Order Stat' "
        "(did you mean 'Order Status'?)",
        "orders.yaml: columns[5].type: the source column 'day' is DATE (date), not int",
        "orders.yaml: columns[6].type: the source column 'ratio' is DOUBLE (float), not decimal "
        "(a decimal reads integers as minor units or exact decimals, never floats)",
    ]
    (folder / "orders.yaml").write_text(textwrap.dedent(text).replace(str(db), "/no/such.duckdb"))
    gone = tally("datasets", "check", str(folder), "--connect", cwd=tmp_path)
    assert gone.returncode == 1 and "orders.yaml: source.duckdb: DuckDB cannot open" in gone.stdout


@pytest.mark.parametrize("command", [["datasets"], ["serve", "--port", "0"]])
def test_the_server_and_the_listing_refuse_a_bad_file_with_the_same_lines(
    tmp_path: Path, command: list[str]
) -> None:
    folder = _write(tmp_path / "datasets", {"money.yaml": BROKEN["money.yaml"][0]})
    expected = problems_in(folder / "money.yaml")
    out = tally(*command, cwd=tmp_path, TALLY_DATASETS_DIR=str(folder))
    assert out.returncode == 2, out.stderr
    for problem in expected:
        assert f"error: {problem}" in out.stderr
    assert "Traceback" not in out.stderr
