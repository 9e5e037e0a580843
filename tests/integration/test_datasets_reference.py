"""The reference a user learns from cannot drift from the code: docs/datasets.md's table of
defaults and docs/dataset.schema.json are what the code generates, every built-in file and
every example of the page validates against both the schema and the loader, and the schema
refuses what the loader refuses."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from tally.authoring.reference import BEGIN, END, updated
from tally.catalog.model import Column, ColumnType, Dataset
from tally.catalog.problems import read_dataset
from tally.catalog.schema import dataset_schema
from tally.catalog.sources import Source
from tally.catalog.vocabulary import FilterOp, MeasureOp
from tests.integration.datasets_support import tally

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "datasets.md"
SCHEMA = ROOT / "docs" / "dataset.schema.json"
_BLOCK = re.compile(r"```(yaml|toml)\n(.*?)```", re.DOTALL)


def _validator(definition: str | None = None) -> jsonschema.Draft202012Validator:
    schema = dataset_schema()
    if definition is not None:
        schema = {**schema["$defs"][definition], "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(schema)


def _examples() -> list[tuple[str, object]]:
    found = []
    for i, match in enumerate(_BLOCK.finditer(PAGE.read_text(encoding="utf-8"))):
        kind, text = match.groups()
        data = tomllib.loads(text) if kind == "toml" else yaml.safe_load(text)
        found.append((f"{kind} block {i}", data))
    return found


def test_the_committed_schema_is_what_tally_datasets_schema_prints(tmp_path: Path) -> None:
    committed = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert committed == dataset_schema(), (
        "run: tally datasets schema --out docs/dataset.schema.json"
    )
    printed = tally("datasets", "schema", cwd=tmp_path)
    assert printed.returncode == 0 and json.loads(printed.stdout) == committed
    jsonschema.Draft202012Validator.check_schema(committed)
    column = committed["$defs"]["Column"]
    assert "from" in column["properties"] and "from_" not in column["properties"]
    assert committed["$defs"]["ColumnType"]["enum"] == [t.value for t in ColumnType]
    assert committed["$defs"]["FilterOp"]["enum"] == [o.value for o in FilterOp]
    assert committed["$defs"]["MeasureOp"]["enum"] == [m.value for m in MeasureOp]
    for name, field in {**Dataset.model_fields, **Column.model_fields}.items():
        where = committed["properties"].get(name) or column["properties"].get(field.alias or name)
        assert where and where.get("description"), name


def test_the_generated_table_of_the_page_is_what_the_code_allows() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert updated(page) == page, "run: tally datasets docs --update docs/datasets.md"
    block = page[page.index(BEGIN) : page.index(END)].splitlines()
    for kind in ColumnType:
        probe = Column(name="c", type=kind, scale=2 if kind is ColumnType.DECIMAL else None)
        row = next(line for line in block if line.startswith(f"| `{kind.value}` |"))
        assert row.count("`") // 2 == 1 + len(probe.allowed_ops) + len(probe.allowed_measures)


def test_the_page_names_every_field_type_operator_measure_and_source_kind() -> None:
    page = PAGE.read_text(encoding="utf-8")
    words = [
        *(f"`{info.alias or name}`" for name, info in Dataset.model_fields.items()),
        *(f"`{info.alias or name}`" for name, info in Column.model_fields.items()),
        *(f"`{name}`" for name in Source.model_fields),
        *(f"`{t.value}`" for t in ColumnType),
        *(f"`{o.value}`" for o in FilterOp),
        *(f"`{m.value}`" for m in MeasureOp),
    ]
    missing = [w for w in words if w not in page]
    assert not missing, missing


def _builtin() -> list[tuple[str, str]]:
    root = resources.files("tally.catalog").joinpath("datasets")
    return [(e.name, e.read_text(encoding="utf-8")) for e in root.iterdir()]


@pytest.mark.parametrize(("name", "text"), _builtin(), ids=lambda v: v if "\n" not in v else "")
def test_every_builtin_file_validates_against_the_schema(name: str, text: str) -> None:
    errors = list(_validator().iter_errors(tomllib.loads(text)))
    assert not errors, [e.message for e in errors]


def test_every_example_of_the_page_validates_against_the_schema_and_the_loader() -> None:
    """A whole dataset validates as a dataset; a snippet of columns as columns, a `source:`
    snippet as a source."""
    examples = _examples()
    assert len(examples) >= 10
    whole = 0
    for label, data in examples:
        if isinstance(data, list):
            for column in data:
                assert not list(_validator("Column").iter_errors(column)), (label, column)
                Column.model_validate(column)
        elif set(data) == {"source"}:
            assert not list(_validator("Source").iter_errors(data["source"])), label
            Source.model_validate(data["source"])
        elif set(data) == {"row_access"}:
            assert not list(_validator("RowAccess").iter_errors(data["row_access"])), label
        else:
            whole += 1
            assert not list(_validator().iter_errors(data)), label
            text = json.dumps(data)
            dataset, problems = read_dataset("example.yaml", text)
            assert dataset is not None, problems
    assert whole == 2, "the YAML and the TOML of the complete example"
    yaml_example, toml_example = (d for _, d in examples if isinstance(d, dict) and "name" in d)
    assert Dataset.model_validate(yaml_example) == Dataset.model_validate(toml_example)


@pytest.mark.parametrize(
    "broken",
    [
        {"columns": [{"name": "t", "type": "money"}]},
        {"colums": []},
        {"columns": [{"name": "t", "type": "string"}, {"name": "a", "type": "decimal"}]},
        {"columns": [{"name": "t", "type": "string"}, {"name": "a", "type": "decimal",
                                                        "scale": None}]},
        {"columns": [{"name": "t", "type": "string"}, {"name": "a", "type": "int", "scale": 2}]},
        {"columns": [{"name": "t", "type": "string", "scale": 0}]},
        {"source": {"parquet": {"path": "/x"}, "csv": {"path": "/y"}}},
        {"source": {"refresh_interval_seconds": 5}},
        {"columns": [{"name": "t", "type": "string", "ops": ["near"]}]},
        {"mode": "merge"},
    ],
)  # fmt: skip
def test_the_schema_refuses_what_the_loader_refuses(broken: dict) -> None:
    base = {"name": "d", "tenant_columns": ["t"], "key_columns": ["t"]}
    data = {**base, "columns": [{"name": "t", "type": "string"}], **broken}
    assert list(_validator().iter_errors(data))
    dataset, problems = read_dataset("d.yaml", json.dumps(data))
    assert dataset is None and problems


@pytest.mark.parametrize(
    "column",
    [
        {"name": "a", "type": "decimal", "scale": 2},
        {"name": "a", "type": "int", "scale": None},
        {"name": "a", "type": "int"},
    ],
)
def test_the_schema_accepts_what_the_loader_accepts_of_a_scale(column: dict) -> None:
    data = {
        "name": "d",
        "tenant_columns": ["t"],
        "key_columns": ["t"],
        "columns": [{"name": "t", "type": "string"}, column],
    }
    assert not list(_validator().iter_errors(data))
    dataset, problems = read_dataset("d.yaml", json.dumps(data))
    assert dataset is not None and not problems
