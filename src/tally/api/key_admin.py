"""API keys over HTTP, for an admin of every tenant (what `tally keys ...` does on the host).

Only an unscoped admin may manage keys: a key can carry any scope, so letting a tenant's admin
mint one would let it widen its own reach. Tokens appear once, in the answer that creates them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from tally.api import models
from tally.api.body import parse_json, read_bytes, read_json, require_json
from tally.api.errors import NATIVE, shaped_route
from tally.api.openapi import Contract
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.keys import KeyStore
from tally.auth.principal import Principal
from tally.errors import TallyError, forbidden, not_found
from tally.profiles.contract import COMMON_ERRORS, READ_ERRORS, Example, Parameter
from tally.query.model import Strict
from tally.query.parse import parse_model

router = APIRouter(route_class=shaped_route(NATIVE), tags=["keys"])


class NewKey(Strict):
    role: Literal["viewer", "editor", "admin"] = "viewer"
    scopes: dict[str, list[str]] = Field(default_factory=dict, max_length=16)
    all_tenants: bool = False
    name: str = Field(default="", max_length=100)
    teams: list[str] = Field(default_factory=list, max_length=100)
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class Rotation(Strict):
    grace_minutes: int = Field(default=0, ge=0, le=43_200)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


def _store(request: Request, who: Principal) -> KeyStore:
    who.require("admin")
    if not who.all_tenants:
        raise forbidden("managing keys needs an admin of every tenant")
    return request.app.state.keys


def _expiry(days: int | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=days) if days else None


@router.get("/v1/keys", summary="Every API key (admin of every tenant)")
async def list_keys(request: Request, who: Principal = Depends(principal)) -> Response:
    return json_response({"keys": [asdict(k) for k in _store(request, who).list()]})


@router.post("/v1/keys", summary="Make an API key; its token is shown once")
async def create_key(request: Request, who: Principal = Depends(principal)) -> Response:
    store = _store(request, who)
    require_json(request)
    body = parse_model(
        NewKey, await read_json(request, request.app.state.settings.question_body_bytes)
    )
    scopes = {column: tuple(values) for column, values in body.scopes.items()}
    try:
        key_id, token = store.create(
            body.role, scopes, body.all_tenants, body.name, tuple(body.teams),
            _expiry(body.expires_days), body.subject,
        )  # fmt: skip
    except ValueError as exc:
        raise TallyError.at("/scopes", str(exc), "invalid_request") from None
    return json_response({"id": key_id, "token": token}, status=201)


@router.post("/v1/keys/{key_id}/rotate", summary="Replace a key, the old one kept for a grace time")
async def rotate_key(
    key_id: str, request: Request, who: Principal = Depends(principal)
) -> Response:
    store = _store(request, who)
    require_json(request)
    data = await read_bytes(request, request.app.state.settings.question_body_bytes)
    body = parse_model(Rotation, parse_json(data) if data.strip() else {})
    grace = timedelta(minutes=body.grace_minutes) if body.grace_minutes else None
    try:
        new_id, token = store.rotate(key_id, grace, _expiry(body.expires_days))
    except ValueError as exc:
        raise not_found(str(exc)) from None
    return json_response({"id": new_id, "token": token, "replaces": key_id}, status=201)


@router.delete("/v1/keys/{key_id}", summary="Revoke a key")
async def revoke_key(
    key_id: str, request: Request, who: Principal = Depends(principal)
) -> Response:
    if not _store(request, who).revoke(key_id):
        raise not_found(f"no active key {key_id!r}")
    return json_response({"revoked": key_id})


KEY_ID = Parameter("key_id", "path", "the key's id", {"type": "string", "maxLength": 128}, True)
MISSING = {404: "there is no such active key"}
CONTRACTS = [
    Contract("GET", "/v1/keys", models.KeyList, models.NativeError, READ_ERRORS),
    Contract("POST", "/v1/keys", models.NewToken, models.NativeError, COMMON_ERRORS,
             request_model=NewKey, success=201, success_text="the new key",
             example=Example("a viewer key for one workspace's dashboards", body={
                 "role": "viewer", "scopes": {"workspace_id": ["ws_acme"]},
                 "name": "acme dashboards", "expires_days": 90})),
    Contract("POST", "/v1/keys/{key_id}/rotate", models.NewToken, models.NativeError,
             {**COMMON_ERRORS, **MISSING}, request_model=Rotation, request_required=False,
             parameters=(KEY_ID,), success=201, success_text="the replacing key",
             example=Example("replace a key, the old one valid one more hour",
                             body={"grace_minutes": 60})),
    Contract("DELETE", "/v1/keys/{key_id}", models.Revoked, models.NativeError,
             {**READ_ERRORS, **MISSING}, parameters=(KEY_ID,)),
]  # fmt: skip
