"""The JSON Schema of a dataset file, for editors (completion, inline errors) and CI checks.

Generated from the models the loader validates with, so it says what is read: the `from`
alias, every field's description, the column types, operators and measures as enums. What
the schema cannot say (a name referring to a declared column) is checked by
`tally datasets check`.
"""

from __future__ import annotations

from typing import Any

from tally.catalog.model import Dataset

# A decimal needs its scale (the model checks it too; the schema lets an editor say so).
DECIMAL_NEEDS_SCALE = {
    "if": {"properties": {"type": {"const": "decimal"}}, "required": ["type"]},
    "then": {"required": ["scale"]},
}


def dataset_schema() -> dict[str, Any]:
    schema = Dataset.model_json_schema(by_alias=True, mode="validation")
    schema["$defs"]["Column"].update(DECIMAL_NEEDS_SCALE)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tally dataset file",
        **{k: v for k, v in schema.items() if k != "title"},
    }
