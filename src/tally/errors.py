"""The one internal error type every layer raises and every profile renders.

A profile never invents its own failure kinds: it maps a `TallyError` (code, message, HTTP
status, JSON-pointer paths) into its own envelope, so the same mistake reads the same everywhere
and nothing internal (a stack trace, SQL text) can leak through a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ErrorDetail:
    """One problem at one place of the request, addressed by a JSON pointer; `kind` is a
    machine-readable name of the problem where an API shows one (pydantic's error type)."""

    path: str
    reason: str
    kind: str = ""


def pointer(*parts: str | int) -> str:
    """Build an RFC 6901 JSON pointer from path segments."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/" + "/".join(escaped) if parts else ""


@dataclass
class TallyError(Exception):
    """A failure that has a meaning for the caller; anything else is a 500 with no detail."""

    code: str
    message: str
    status: int = 400
    details: list[ErrorDetail] = field(default_factory=list)
    retry_after: int | None = None
    allow: str | None = None
    """The methods the resource does allow, for a 405's `Allow` header ("" for none)."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def invalid(cls, details: list[ErrorDetail], message: str | None = None) -> TallyError:
        first = details[0].reason if details else "invalid query"
        text = message or (first if len(details) == 1 else f"{len(details)} problems in the query")
        return cls("invalid_query", text, 400, details)

    @classmethod
    def at(
        cls, path: str, reason: str, code: str = "invalid_query", status: int = 400
    ) -> TallyError:
        return cls(code, reason, status, [ErrorDetail(path, reason)])


def unauthorized(message: str = "a valid bearer token is required") -> TallyError:
    return TallyError("unauthorized", message, 401)


def forbidden(message: str) -> TallyError:
    return TallyError("forbidden", message, 403)


def not_found(message: str) -> TallyError:
    return TallyError("not_found", message, 404)


def unavailable(message: str, retry_after: int = 1) -> TallyError:
    return TallyError("unavailable", message, 503, retry_after=retry_after)
