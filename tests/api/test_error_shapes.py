"""Every route x every failure it can meet, answered in its API's documented error shape.

The shape is read from the served OpenAPI document (the status must be documented there and the
body must validate against its schema), so this also proves the document tells the truth about
errors. Failures are caused for real: no token, a token of another tenant or a lower role, a body
over the size limit or of another type, a spent rate limit, every query slot held, an engine
that fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest

from tally.auth.settings import Rate, RateLimitSettings
from tally.profiles import all_profiles
from tally.service.admission import Admission
from tests.helpers import LiveApp, bearer, live_app

BODY_LIMIT = 4096
OTHER_TENANT = {
    "workspace_id": ("ws_zzz",),
    "tenant_id": ("tn_zzz",),
    "project_id": ("p_zzz",),
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    runs_queries: bool = True
    admin_only: bool = False
    needs_editor: bool = False
    not_found_path: str | None = None
    any_token: bool = False


def _profile_routes() -> list[Route]:
    routes = []
    for profile in all_profiles():
        example = profile.example
        path = profile.path
        for name, value in example.path.items():
            path = path.replace("{" + name + "}", value)
        routes.append(
            Route(profile.method, path, example.body, dict(example.headers), dict(example.query))
        )
    return routes


QUERY = {"dataset": "agent_events", "scope": {"workspace_id": "ws_acme"}}
ROUTES = [
    Route("POST", "/v1/query", QUERY),
    Route("POST", "/v1/query/sql", QUERY, admin_only=True),
    Route("GET", "/v1/datasets", runs_queries=False, any_token=True),
    Route(
        "GET",
        "/v1/datasets/agent_events",
        runs_queries=False,
        not_found_path="/v1/datasets/x",
        any_token=True,
    ),
    Route(
        "POST",
        "/v1/datasets/agent_events/rows",
        [],
        runs_queries=False,
        needs_editor=True,
        not_found_path="/v1/datasets/x/rows",
    ),
    Route("POST", "/v1/cache/clear", runs_queries=False, admin_only=True),
    Route("GET", "/v1/keys", runs_queries=False, admin_only=True),
    Route("POST", "/v1/keys", {"role": "viewer"}, runs_queries=False, admin_only=True),
    Route("GET", "/v1/capabilities", runs_queries=False, any_token=True),
    Route("GET", "/v1/examples", runs_queries=False, any_token=True),
    *_profile_routes(),
]
IDS = [f"{r.method} {r.path}" for r in ROUTES]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    rates = RateLimitSettings(
        {"viewer": Rate.parse("3/3600"), "editor": Rate.parse("off"), "admin": Rate.parse("off")}
    )
    root = tmp_path_factory.mktemp("shapes")
    with live_app(root, max_body_bytes=BODY_LIMIT, rate_limits=rates, queue_timeout_s=0.05) as app:
        yield app


@pytest.fixture(scope="module")
def document(live: LiveApp) -> dict:
    return live.client.get("/openapi.json").json()


def _template(document: dict, path: str, method: str) -> tuple[str, dict]:
    for template, methods in document["paths"].items():
        parts, asked = template.split("/"), path.split("/")
        if len(parts) == len(asked) and all(
            p == a or p.startswith("{") for p, a in zip(parts, asked, strict=True)
        ):
            if method.lower() in methods:
                return template, methods[method.lower()]
    raise AssertionError(f"{method} {path} is not documented")


def _check(document: dict, route: Route, response, status: int) -> None:
    assert response.status_code == status, (route, response.status_code, response.text)
    template, operation = _template(document, route.path, route.method)
    documented = operation["responses"].get(str(status))
    if documented is None and status in (404, 405):
        documented = {"content": {"application/json": {"schema": NATIVE_REF}}}
    assert documented is not None, f"{status} is not documented for {route.method} {template}"
    schema = documented["content"]["application/json"]["schema"]
    body = response.json()
    jsonschema.validate(body, {**schema, "components": document["components"]})
    assert "Traceback" not in response.text and "SELECT" not in response.text
    assert response.headers["X-Trace-Id"]


NATIVE_REF = {"$ref": "#/components/schemas/NativeError"}


def _send(live: LiveApp, route: Route, headers: dict[str, str], **more: Any):
    sent = {**route.headers, **headers}
    if "content" not in more and route.body is not None:
        more["json"] = route.body
    return live.client.request(
        more.pop("method", route.method),
        more.pop("path", route.path),
        params=route.params,
        headers=sent,
        **more,
    )


def _token(live: LiveApp, role: str, scopes: dict | None = None, everything: bool = False):
    _, token = live.keys.create(role, scopes or {}, all_tenants=everything)
    return bearer(token)


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_401_without_a_token(live: LiveApp, document: dict, route: Route) -> None:
    _check(document, route, _send(live, route, {}), 401)


# Any valid token may read the catalog and the capabilities: those routes have no 403.
GUARDED = [r for r in ROUTES if not r.any_token]


@pytest.mark.parametrize("route", GUARDED, ids=str)
def test_403_for_another_tenant_or_a_lower_role(
    live: LiveApp, document: dict, route: Route
) -> None:
    headers = _token(live, "editor" if not route.needs_editor else "viewer", OTHER_TENANT)
    if route.admin_only:
        headers = _token(live, "editor", everything=True)
    _check(document, route, _send(live, route, headers), 403)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.not_found_path], ids=str)
def test_404_for_an_unknown_dataset(live: LiveApp, document: dict, route: Route) -> None:
    response = _send(live, route, live.admin, path=route.not_found_path)
    _check(document, route, response, 404)


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_405_names_the_allowed_methods(live: LiveApp, document: dict, route: Route) -> None:
    wrong = "PUT"
    response = _send(live, route, live.admin, method=wrong)
    assert response.status_code == 405
    assert route.method in response.headers["Allow"]
    _, operation = _template(document, route.path, route.method)
    schema = operation["responses"]["401"]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": document["components"]})


BODY_ROUTES = [r for r in ROUTES if r.body is not None]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_400_for_a_body_that_is_not_json(live: LiveApp, document: dict, route: Route) -> None:
    response = _send(live, route, live.admin, content=b"{not json")
    status = 422 if route.path == "/feedback/aggregate" else 400
    _check(document, route, response, status)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_413_for_a_body_over_the_limit(live: LiveApp, document: dict, route: Route) -> None:
    big = b'{"pad": "' + b"x" * BODY_LIMIT + b'"}'
    headers = {**live.admin, "Content-Type": "application/json"}
    _check(document, route, _send(live, route, headers, content=big), 413)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_415_for_a_body_of_another_type(live: LiveApp, document: dict, route: Route) -> None:
    headers = {**live.admin, "Content-Type": "text/plain"}
    response = _send(live, route, headers, content=b"{}")
    _check(document, route, response, 415)
    assert "application/json" in response.text


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_429_when_the_rate_limit_is_spent(live: LiveApp, document: dict, route: Route) -> None:
    headers = _token(live, "viewer", everything=True)
    for _ in range(3):
        _send(live, route, headers)
    response = _send(live, route, headers)
    _check(document, route, response, 429)
    assert int(response.headers["Retry-After"]) >= 1


QUERY_ROUTES = [r for r in ROUTES if r.runs_queries and not r.admin_only]


@contextmanager
def every_slot_taken(admission: Admission) -> Iterator[None]:
    """Threads of other tenants hold every query slot (one tenant may not take them all)."""
    release = threading.Event()

    def hold(n: int) -> None:
        with admission.admit(f"holder-{n}", "held"):
            release.wait(30)

    holders = [threading.Thread(target=hold, args=(n,)) for n in range(admission.capacity.slots)]
    for holder in holders:
        holder.start()
    deadline = time.monotonic() + 5
    while admission.running < admission.capacity.slots and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield
    finally:
        release.set()
        for holder in holders:
            holder.join(10)


@pytest.mark.parametrize("route", QUERY_ROUTES, ids=str)
def test_503_when_every_query_slot_is_taken(live: LiveApp, document: dict, route: Route) -> None:
    if live.service.cache is not None:
        live.service.cache.clear()
    with every_slot_taken(live.service.answers.admission):
        response = _send(live, route, live.admin)
    _check(document, route, response, 503)
    assert response.headers["Retry-After"] == "1"


class EngineFault(RuntimeError):
    pass


@pytest.mark.parametrize("route", QUERY_ROUTES, ids=str)
def test_500_when_the_engine_fails_unexpectedly(
    live: LiveApp, document: dict, route: Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any):
        raise EngineFault("SELECT secret FROM internals")

    if live.service.cache is not None:
        live.service.cache.clear()
    monkeypatch.setattr(live.service.engine, "frame", broken)
    response = _send(live, route, live.admin)
    _check(document, route, response, 500)
    assert "secret" not in response.text


def test_every_profile_is_swept() -> None:
    swept = {r.path.split("?")[0] for r in ROUTES}
    for profile in all_profiles():
        assert any(p.startswith(profile.path.split("{")[0]) for p in swept), profile.name
