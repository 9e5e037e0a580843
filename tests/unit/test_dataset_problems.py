"""A dataset file's problems are reported all at once: a field's own (a bad type, a missing
scale), those across fields (a tenant column that is not a column) and those of its source (a
written password), each once, with its file and field path. pydantic checks across fields only
after every field is valid, so without care a user would fix one round to see the next."""

from __future__ import annotations

import textwrap

import pytest

from tally.catalog.problems import Problem, read_dataset

FILE = "mixed.yaml"
TEXT = textwrap.dedent(
    """
    name: mixed
    tenant_columns: [tenant_id, brand_id]
    time_column: ts
    key_columns: [id]
    columns:
      - {name: tenant_id, type: string}
      - {name: id, type: string}
      - {name: ts, type: money}
      - {name: amount, type: decimal}
      - {name: kind, type: string, derived: {fn: path_segment, of: nowhere}}
      - {name: plan, type: string, currency_column: cur}
      - {name: plan, type: string}
    row_access: {subject_column: owner}
    source: {postgres: {url: "postgresql://u:hunter2@h/db", table: t}}
    """
)
CROSS_FIELD = [
    "columns[6].name",  # a second column plan
    "tenant_columns[1]",
    "row_access.subject_column",
    "columns[4].derived.of",
    "columns[4].derived.index",
    "columns[5].currency_column",
]


def _fields(problems: list[Problem]) -> list[str]:
    assert all(p.file == FILE for p in problems)
    return [p.field for p in problems]


def test_field_cross_field_and_source_problems_come_together() -> None:
    dataset, problems = read_dataset(FILE, TEXT)
    assert dataset is None
    own = ["columns[2].type", "columns[3].scale"]  # a bad type, a decimal without scale
    assert sorted(_fields(problems)) == sorted([*own, *CROSS_FIELD, "source.postgres.url"])
    by_field = {p.field: p.message for p in problems}
    assert by_field["tenant_columns[1]"] == "unknown column 'brand_id'"
    assert "password is written" in by_field["source.postgres.url"]


def test_a_value_that_is_invalid_is_not_blamed_twice() -> None:
    """The time column's type is invalid (its own problem): no second problem says the time
    column is not a timestamp; a tenant column given as a number is only a type problem."""
    text = TEXT.replace("tenant_columns: [tenant_id, brand_id]", "tenant_columns: [tenant_id, 7]")
    _, problems = read_dataset(FILE, text)
    fields = _fields(problems)
    assert "time_column" not in fields
    assert fields.count("tenant_columns[1]") == 1


def test_cross_field_problems_alone_are_each_reported_once() -> None:
    """When every field is valid the model itself finds the cross-field problems; the second
    reading of the file finds the same ones and adds none."""
    text = (
        TEXT.replace("type: money", "type: timestamp")
        .replace("type: decimal}", "type: decimal, scale: 2}")
        .replace("u:hunter2@h", "u:${PW}@h")
    )
    _, problems = read_dataset(FILE, text, {"PW": "x"})
    fields = _fields(problems)
    assert len(fields) == len(set(fields))
    assert set(fields) == set(CROSS_FIELD)
    _, unset = read_dataset(FILE, text, {})
    assert "source.postgres.url" in _fields(unset)


def test_rollup_problems_are_located_next_to_a_field_problem_elsewhere() -> None:
    """A bad `mode` does not hide the rollups' problems (their columns, time column and source
    are valid), each at its field; a bad column does, as the rollups are checked against the
    columns."""
    text = textwrap.dedent(
        """
        name: rolled
        tenant_columns: [tenant_id]
        time_column: ts
        key_columns: [id]
        mode: bogus
        columns:
          - {name: tenant_id, type: string}
          - {name: id, type: string}
          - {name: ts, type: timestamp}
        rollups:
          - {name: r, dimensions: [tenant_id, nope], measures: [{op: count}, {op: sum}]}
        """
    )
    _, problems = read_dataset(FILE, text)
    assert [(p.field, p.message) for p in problems] == [
        ("mode", "'bogus' is not one of 'append' or 'upsert'"),
        ("rollups[0].dimensions[1]", "unknown column 'nope'"),
        ("rollups[0].measures[1].op", "sum needs a field"),
    ]
    _, hidden = read_dataset(FILE, text.replace("type: timestamp", "type: instant"))
    assert not [p for p in hidden if p.field.startswith("rollups")]


@pytest.mark.parametrize("name", ["ev__rollup__daily", "ev__ids__user_id", "a__rollup__b__pending"])
def test_a_dataset_named_like_a_table_tally_derives_is_refused_at_its_name(name: str) -> None:
    """Its table would be another dataset's rollup, pending table or dictionary, which Tally
    drops and makes anew: the dataset's rows would go with it."""
    columns = "tenant_columns: [t]\nkey_columns: [t]\ncolumns: [{name: t, type: string}]\n"
    text = f"name: {name}\n{columns}"
    dataset, problems = read_dataset(FILE, text)
    assert dataset is None
    assert _fields(problems) == ["name"]
    assert "cannot hold" in problems[0].message
    allowed, none = read_dataset(FILE, text.replace(name, "ev__rollups__daily"))
    assert allowed is not None and not none
