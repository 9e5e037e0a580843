"""Turn a JSON body into a `Query`, reporting every structural problem with a JSON pointer."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tally.errors import ErrorDetail, TallyError, pointer

M = TypeVar("M", bound=BaseModel)


def pydantic_details(exc: ValidationError, prefix: tuple = ()) -> list[ErrorDetail]:
    """Map pydantic's error locations to JSON pointers, dropping union tags like `<leaf>`."""
    details = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("<"))]
        loc = [p for p in loc if not (isinstance(p, str) and "[" in p)]
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown field"
        elif err["type"] == "missing":
            reason = "required field is missing"
        elif reason.startswith("Value error, "):
            reason = reason.removeprefix("Value error, ")
        details.append(ErrorDetail(pointer(*prefix, *loc), reason))
    return _dedupe(details)


def _dedupe(details: list[ErrorDetail]) -> list[ErrorDetail]:
    seen, out = set(), []
    for d in details:
        if (d.path, d.reason) not in seen:
            seen.add((d.path, d.reason))
            out.append(d)
    return out


def parse_model(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise TallyError.at("", "the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise TallyError.invalid(pydantic_details(exc)) from None
