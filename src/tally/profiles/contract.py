"""What a profile is: a declaration the API mounts, not a web app of its own.

A profile names its route, the models of its body and its answers, the headers and query
parameters it reads, and four small functions: parse the request, turn it into IR queries,
render the results, render an error. One generic mount in `api/` turns every declaration into a
route and the OpenAPI document into a description of the very models the code validates with.

Profiles never import FastAPI, `api/` or the service: they see an `Incoming` request, a `Call`
(who asks, when, under which limits) and, when their questions depend on earlier answers, a
`Runner`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel

from tally.auth.principal import Principal
from tally.catalog import Catalog
from tally.errors import TallyError
from tally.query.limits import Limits
from tally.query.model import Query
from tally.result import Result, Runner

Request = TypeVar("Request")
Location = Literal["header", "query", "path"]

# What every profile route can answer besides 200: a bad request, no or a bad token, a token
# without access, a body too large or not JSON, the caller's rate limit, a server too busy or
# an engine down, and an unexpected failure.
COMMON_ERRORS: Mapping[int, str] = {
    400: "the request is invalid; the body says where",
    401: "no valid API key or JWT was sent",
    403: "the token may not read this tenant, or lacks the role",
    413: "the request body is larger than the configured limit",
    415: "the body is not sent as application/json",
    429: "the caller's rate limit is spent, or its tenant has too many queries waiting; "
    "Retry-After says when to come back",
    500: "an unexpected failure; the trace id finds it in the server log",
    503: "the service is overloaded (a query could not start in time), or the engine is "
    "unreachable; Retry-After says when",
}

# A route without a request body cannot get a body too large or of the wrong type.
READ_ERRORS: Mapping[int, str] = {
    s: text for s, text in COMMON_ERRORS.items() if s not in (413, 415)
}


@dataclass(frozen=True)
class Parameter:
    """A header, query or path parameter a profile reads, documented exactly as declared."""

    name: str
    location: Location
    description: str
    schema: Mapping[str, Any]
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Example:
    """One worked request: shown in the OpenAPI document and reused by tests and the explorer."""

    summary: str
    body: Any = None
    path: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Incoming:
    """One HTTP request as a profile reads it: the JSON body (None for a route without one), the
    path parameters, the headers (case-insensitive) and the query string's items in order."""

    body: Any
    path: Mapping[str, str]
    headers: Mapping[str, str]
    query: Sequence[tuple[str, str]]

    def query_values(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]


@dataclass(frozen=True)
class Call:
    """Who asks, at what time, under which limits, over which datasets."""

    principal: Principal
    now: datetime
    limits: Limits
    catalog: Catalog


class Profile(ABC, Generic[Request]):
    """One external API format. Subclasses set the class attributes and implement `parse`, and
    either `to_queries` + `render` (independent questions, answered by the mount, cache hits on
    the event loop) or `answer` (questions that depend on earlier answers, through a Runner)."""

    name: ClassVar[str]
    datasets: ClassVar[tuple[str, ...]]
    """The built-in datasets this API reads: created and loaded only while it is served
    (TALLY_PROFILES)."""
    summary: ClassVar[str]
    description: ClassVar[str]
    method: ClassVar[Literal["GET", "POST"]] = "POST"
    path: ClassVar[str]
    request_model: ClassVar[type[BaseModel] | None] = None
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    response_model: ClassVar[type[BaseModel]]
    error_model: ClassVar[type[BaseModel]]
    errors: ClassVar[Mapping[int, str]] = COMMON_ERRORS
    example: ClassVar[Example]

    @abstractmethod
    def parse(self, incoming: Incoming, call: Call) -> Request:
        """The typed request, or a TallyError naming every problem with a JSON pointer."""

    def to_queries(self, request: Request, call: Call) -> Sequence[Query]:
        raise NotImplementedError(f"{self.name} answers through answer()")

    def render(self, results: Sequence[Result], request: Request, call: Call) -> Any:
        raise NotImplementedError(f"{self.name} answers through answer()")

    def answer(self, request: Request, call: Call, runner: Runner) -> Any:
        """The response body: by default the results of `to_queries`, rendered."""
        return self.render(runner.run_all(self.to_queries(request, call)), request, call)

    @classmethod
    def asks_in_steps(cls) -> bool:
        """Whether this profile overrides `answer` (its questions depend on earlier answers)."""
        return cls.answer is not Profile.answer

    def refine_error(self, error: TallyError, request: Request) -> TallyError:
        """An error raised while answering, restated with what the request knows (a field)."""
        return error

    def status_of(self, error: TallyError) -> int:
        """The HTTP status this API uses for `error` (an API without 400s answers 422)."""
        return error.status

    @abstractmethod
    def render_error(self, error: TallyError, trace: str) -> dict[str, Any]:
        """`error` in this API's error shape; its details' paths are JSON pointers."""
