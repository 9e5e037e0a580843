"""`GET /v1/examples`: each external format's worked request, ready to send.

The examples are the profiles' own declarations, the very ones `/openapi.json` carries, so the
explorer's "External formats" tab and the document cannot show different requests.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from tally import profiles
from tally.api import models
from tally.api.errors import NATIVE, shaped_route
from tally.api.openapi import Contract
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.profiles.contract import READ_ERRORS, Profile

router = APIRouter(route_class=shaped_route(NATIVE), tags=["native"])


def example_of(profile: Profile) -> dict:
    example = profile.example
    path = profile.path
    for name, value in example.path.items():
        path = path.replace("{" + name + "}", value)
    return {
        "profile": profile.name,
        "summary": profile.summary,
        "example": example.summary,
        "method": profile.method,
        "path": path,
        "headers": dict(example.headers),
        "query": dict(example.query),
        "body": example.body,
    }


@router.get("/v1/examples", summary="A worked request for each external API format")
async def examples(who: Principal = Depends(principal)) -> Response:
    """Any valid token may read them: they hold no data, only requests to try."""
    return json_response({"examples": [example_of(p) for p in profiles.all_profiles()]})


CONTRACTS = [Contract("GET", "/v1/examples", models.ExampleList, models.NativeError, READ_ERRORS)]
