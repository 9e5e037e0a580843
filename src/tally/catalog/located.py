"""Problems of a dataset file that span fields, reported at the field to change.

Its own module because both the dataset model and its rollup declarations (which the model
validates) raise them.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Location = tuple[str | int, ...]


def located(title: str, problems: list[tuple[Location, str]]) -> ValidationError:
    """Cross-field problems as a validation error whose entries name the offending field
    (`tenant_columns.0`), so a file's author is pointed at the line to change."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("dataset_reference", "{reason}", {"reason": reason}),
                loc=loc,
                input=None,
            )
            for loc, reason in problems
        ],
    )
