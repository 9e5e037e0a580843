"""The OpenAPI document, built from the same declarations and models the routes validate with.

Every route registers a `Contract`: its body model, the headers, query and path parameters it
reads, its answer's model, the error model and each status it can fail with, and one worked
example. All models go through one `models_json_schema` call, so names are unique and every
`$ref` resolves; FastAPI still provides the paths, operation ids, summaries and tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tally.profiles.contract import Example, Parameter, Profile

REF = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]
SECURITY = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a Tally API key (`tly_...`, made by `tally keys create` or "
        "`POST /v1/keys`) or a JWT from the configured issuer",
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "the same token as the password, with any user name (W&B clients send "
        "user `api` and their API key); same scope, role and rate limit as Bearer",
    },
}


@dataclass(frozen=True)
class Contract:
    """What one route reads and answers, for the document."""

    method: str
    path: str
    response_model: type[BaseModel] | None
    error_model: type[BaseModel]
    errors: Mapping[int, str]
    request_model: type[BaseModel] | None = None
    request_media: tuple[str, ...] = ("application/json",)
    request_required: bool = True
    parameters: tuple[Parameter, ...] = ()
    example: Example | None = None
    secured: bool = True
    success: int = 200
    success_text: str = "the answer"
    response_media: str = "application/json"
    error_models: Mapping[int, type[BaseModel]] | None = None

    @classmethod
    def of(cls, profile: Profile) -> Contract:
        path_params = {p.name for p in profile.parameters if p.location == "path"}
        missing = [n for n in _path_names(profile.path) if n not in path_params]
        if missing:
            raise TypeError(f"{profile.name} does not declare path parameters {missing}")
        return cls(
            profile.method,
            profile.path,
            profile.response_model,
            profile.error_model,
            profile.errors,
            profile.request_model,
            parameters=profile.parameters,
            example=profile.example,
        )

    def models(self) -> Iterable[tuple[type[BaseModel], Mode]]:
        if self.request_model is not None:
            yield self.request_model, "validation"
        if self.response_model is not None:
            yield self.response_model, "serialization"
        yield self.error_model, "serialization"
        yield from ((m, "serialization") for m in (self.error_models or {}).values())


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _parameter(parameter: Parameter, example: Example | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": parameter.name,
        "in": parameter.location,
        "required": parameter.required,
        "description": parameter.description,
        "schema": dict(parameter.schema),
    }
    given = None
    if example is not None:
        given = {"path": example.path, "header": example.headers, "query": example.query}[
            parameter.location
        ].get(parameter.name)
    if given is None:
        given = parameter.example
    if given is not None:
        found["example"] = given
    return found


def _operation(contract: Contract, refs: dict[tuple[type[BaseModel], Mode], Any]) -> dict:
    operation: dict[str, Any] = {
        "parameters": [_parameter(p, contract.example) for p in contract.parameters]
    }
    if contract.request_model is not None:
        media: dict[str, Any] = {"schema": refs[(contract.request_model, "validation")]}
        if contract.example is not None and contract.example.body is not None:
            media["example"] = contract.example.body
        operation["requestBody"] = {
            "required": contract.request_required,
            "content": {kind: media for kind in contract.request_media},
        }
    if contract.response_model is None:
        success: dict[str, Any] = {"description": contract.success_text}
        success["content"] = {contract.response_media: {"schema": {"type": "string"}}}
    else:
        schema = refs[(contract.response_model, "serialization")]
        success = {"description": contract.success_text}
        success["content"] = {contract.response_media: {"schema": schema}}
    responses: dict[str, Any] = {str(contract.success): success}
    for status, text in sorted(contract.errors.items()):
        model = (contract.error_models or {}).get(status, contract.error_model)
        responses[str(status)] = {
            "description": text,
            "content": {"application/json": {"schema": refs[(model, "serialization")]}},
        }
    operation["responses"] = responses
    if contract.secured:
        operation["security"] = [{scheme: []} for scheme in SECURITY]
    if contract.example is not None:
        operation["x-example"] = contract.example.summary
    return operation


def methods_index(contracts: list[Contract]) -> Callable[[str], list[str]]:
    """path -> every method the contracts declare for it (for `Allow` on a 405)."""
    patterns = [
        (re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", c.path) + "$"), c.method) for c in contracts
    ]

    def methods_at(path: str) -> list[str]:
        return sorted({method for pattern, method in patterns if pattern.match(path)})

    return methods_at


def build_openapi(app: FastAPI, contracts: list[Contract]) -> dict[str, Any]:
    """The whole document; a route without a contract is a programming error, not a gap."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    wanted = list(dict.fromkeys(pair for c in contracts for pair in c.models()))
    refs, definitions = models_json_schema(wanted, ref_template=REF)
    by_route = {(c.path, c.method.lower()): c for c in contracts}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            contract = by_route.get((path, method))
            if contract is None:
                raise TypeError(f"{method.upper()} {path} has no contract")
            keep = {
                k: operation[k]
                for k in ("tags", "summary", "description", "operationId")
                if k in operation
            }
            methods[method] = {**keep, **_operation(contract, refs)}
    document["components"] = {
        "schemas": definitions.get("$defs", {}),
        "securitySchemes": SECURITY,
    }
    return document


def install(app: FastAPI, contracts: list[Contract]) -> None:
    """Serve the document at /openapi.json, built once on first request."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(build_openapi(app, contracts))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.methods_at = methods_index(contracts)
