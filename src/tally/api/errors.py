"""One error dispatch: every failure becomes a `TallyError`, rendered in the shape of the route
that failed (a profile's own, the native one otherwise); never a stack trace or SQL.

Routes carry their shape (`shaped_route`); their handler's failures and the app's own (an unknown
path, a method the route does not allow, a parameter FastAPI refused) meet in `failure_response`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from tally.errors import ErrorDetail, TallyError, pointer

log = logging.getLogger(__name__)
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def trace_id(request: Request) -> str:
    return getattr(request.state, "trace_id", "")


def native_error(error: TallyError, trace: str) -> dict:
    body: dict = {"code": error.code, "message": error.message}
    body["details"] = [{"path": d.path, "reason": d.reason} for d in error.details]
    body["trace_id"] = trace
    return {"error": body}


def _own_status(error: TallyError) -> int:
    return error.status


@dataclass(frozen=True)
class ErrorShape:
    """How one API writes a failure: its body, and the status it uses for it."""

    render: Callable[[TallyError, str], dict]
    status: Callable[[TallyError], int] = _own_status


NATIVE = ErrorShape(native_error)


def internal_error() -> TallyError:
    return TallyError("internal_error", "something went wrong on our side", 500)


def request_details(invalid: RequestValidationError) -> list[ErrorDetail]:
    """FastAPI's own parameter errors (path, query, header) as path-addressed details."""
    return [
        ErrorDetail(pointer(*[p for p in e["loc"] if p != "body"]), e["msg"])
        for e in invalid.errors()
    ]


def allowed_methods(request: Request, failure: StarletteHTTPException) -> str:
    """Every method some route answers at this path (Starlette names only the first route's),
    from the app's route contracts."""
    index: Callable[[str], list[str]] | None = getattr(request.app.state, "methods_at", None)
    found = index(request.url.path) if index is not None else []
    return ", ".join(found) or (failure.headers or {}).get("Allow", "")


def as_tally_error(request: Request, failure: Exception) -> tuple[TallyError, dict[str, str]]:
    """The failure as a TallyError, with the HTTP headers it must keep (`Allow` on a 405)."""
    if isinstance(failure, TallyError):
        return failure, {} if failure.allow is None else {"Allow": failure.allow}
    if isinstance(failure, StarletteHTTPException):
        code = HTTP_CODES.get(failure.status_code, "http_error")
        kept = {"Allow": allowed_methods(request, failure)} if failure.status_code == 405 else {}
        return TallyError(code, str(failure.detail), failure.status_code), kept
    if isinstance(failure, RequestValidationError):
        return TallyError.invalid(request_details(failure)), {}
    trace = trace_id(request)
    log.error("unhandled error", exc_info=failure, extra={"fields": {"trace_id": trace}})
    return internal_error(), {}


def error_response(
    error: TallyError, trace: str, shape: ErrorShape = NATIVE, headers: dict | None = None
) -> Response:
    sent = {"X-Trace-Id": trace, **(headers or {})}
    if error.retry_after is not None:
        sent["Retry-After"] = str(error.retry_after)
    return Response(
        orjson.dumps(shape.render(error, trace)),
        status_code=shape.status(error),
        media_type="application/json",
        headers=sent,
    )


def shape_of(request: Request) -> ErrorShape:
    """The error shape of the route a request reached (or nearly reached: a 405)."""
    return getattr(request.scope.get("route"), "error_shape", NATIVE)


def failure_response(request: Request, failure: Exception) -> Response:
    error, headers = as_tally_error(request, failure)
    return error_response(error, trace_id(request), shape_of(request), headers)


def shaped_route(shape: ErrorShape) -> type[APIRoute]:
    """An APIRoute class whose failures are all answered in `shape`, inside the middleware (so
    even a 500 carries its trace id and is counted)."""

    class ShapedRoute(APIRoute):
        error_shape = shape

        def get_route_handler(self):
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as failure:
                    return failure_response(request, failure)

            return guarded

    return ShapedRoute
