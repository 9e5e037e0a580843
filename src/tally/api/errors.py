"""One error type in, each profile's error shape out; never a stack trace or SQL.

A router picks its renderer with `error_route(render)`; anything that escapes as an unexpected
exception is logged with its trace id and answered as a bare 500 in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from tally.errors import ErrorDetail, TallyError, pointer

log = logging.getLogger(__name__)

Renderer = Callable[[TallyError, str], dict]


def trace_id(request: Request) -> str:
    return getattr(request.state, "trace_id", "")


def native_error(error: TallyError, trace: str) -> dict:
    body: dict = {"code": error.code, "message": error.message}
    body["details"] = [{"path": d.path, "reason": d.reason} for d in error.details]
    body["trace_id"] = trace
    return {"error": body}


def error_response(error: TallyError, trace: str, render: Renderer) -> Response:
    headers = {"X-Trace-Id": trace}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return Response(
        orjson.dumps(render(error, trace)),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


def internal_error() -> TallyError:
    return TallyError("internal_error", "something went wrong on our side", 500)


def request_details(invalid: RequestValidationError) -> list[ErrorDetail]:
    """FastAPI's own parameter errors (path, query, header) as path-addressed details."""
    return [
        ErrorDetail(pointer(*[p for p in e["loc"] if p != "body"]), e["msg"])
        for e in invalid.errors()
    ]


def error_route(render: Renderer) -> type[APIRoute]:
    """An APIRoute class whose handler errors are rendered by `render`."""

    class ProfileRoute(APIRoute):
        def get_route_handler(self):
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except TallyError as error:
                    return error_response(error, trace_id(request), render)
                except RequestValidationError as invalid:
                    error = TallyError.invalid(request_details(invalid))
                    return error_response(error, trace_id(request), render)
                except Exception:
                    log.exception("unhandled error (trace %s)", trace_id(request))
                    return error_response(internal_error(), trace_id(request), render)

            return guarded

    return ProfileRoute
