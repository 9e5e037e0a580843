"""The JSON Schema of a dataset file, for editors (completion, inline errors) and CI checks.

Generated from the models the loader validates with, so it says what is read: the `from`
alias, every field's description, the column types, operators and measures as enums. What
the schema cannot say (a name referring to a declared column) is checked by
`tally datasets check`.
"""

from __future__ import annotations

from typing import Any

from tally.catalog.model import Dataset

# A decimal needs its scale and only a decimal has one (Column._fits_type checks both; the
# schema lets an editor say so). A null scale is no scale, as the loader reads it.
SCALE_ONLY_ON_DECIMAL = {
    "if": {"properties": {"type": {"const": "decimal"}}, "required": ["type"]},
    "then": {"required": ["scale"], "properties": {"scale": {"type": "integer"}}},
    "else": {"properties": {"scale": {"type": "null"}}},
}


def dataset_schema() -> dict[str, Any]:
    schema = Dataset.model_json_schema(by_alias=True, mode="validation")
    schema["$defs"]["Column"].update(SCALE_ONLY_ON_DECIMAL)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tally dataset file",
        **{k: v for k, v in schema.items() if k != "title"},
    }
