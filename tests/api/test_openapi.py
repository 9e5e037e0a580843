"""The OpenAPI document tells the whole truth: it is the committed one, every route documents
what it reads and answers, and real answers (each route's worked example) validate against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import orjson
import pytest

from tally.profiles import all_profiles
from tests.helpers import LiveApp, live_app

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    with live_app(tmp_path_factory.mktemp("openapi")) as app:
        yield app


@pytest.fixture(scope="module")
def document(live: LiveApp) -> dict:
    return live.client.get("/openapi.json").json()


def _operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_the_committed_document_is_the_served_one(document: dict) -> None:
    committed = orjson.loads(COMMITTED.read_bytes())
    assert committed == document, "run `tally openapi --out docs/openapi.json` and commit it"


def test_every_ref_resolves(document: dict) -> None:
    text = orjson.dumps(document).decode()
    names = {part.split('"')[0] for part in text.split('"$ref":"#/components/schemas/')[1:]}
    assert names and names <= set(document["components"]["schemas"])


def test_every_route_documents_its_answers_and_security(document: dict) -> None:
    for method, path, operation in _operations(document):
        statuses = set(operation["responses"])
        assert any(s.startswith("2") for s in statuses), (method, path)
        assert "422" not in statuses or path == "/feedback/aggregate", (method, path)
        if path not in ("/healthz", "/readyz", "/metrics"):
            assert operation["security"] == [{"bearer": []}, {"basic": []}], (method, path)
            assert {"401", "429", "500"} <= statuses, (method, path)
        bodiless = ("/v1/cache/clear", "/v1/datasets/reload", "/v1/datasets/{name}/refresh")
        if method == "post" and path not in bodiless:
            assert "requestBody" in operation, (method, path)
            assert {"413", "415"} <= statuses, (method, path)
    schemes = document["components"]["securitySchemes"]
    assert (schemes["bearer"]["scheme"], schemes["basic"]["scheme"]) == ("bearer", "basic")


def test_every_parameter_a_profile_reads_is_documented(document: dict) -> None:
    for profile in all_profiles():
        operation = document["paths"][profile.path][profile.method.lower()]
        documented = {(p["in"], p["name"]) for p in operation["parameters"]}
        declared = {(p.location, p.name) for p in profile.parameters}
        assert documented == declared, profile.name
    aggregate = document["paths"]["/api/workspace/{workspaceId}/dashboards/aggregate"]["post"]
    names = {p["name"] for p in aggregate["parameters"]}
    assert names == {"workspaceId", "X-Active-Brand", "X-Active-Catalog", "brand_id"}
    data = document["paths"]["/api/v1/dashboard-data"]["get"]
    names = {p["name"] for p in data["parameters"]}
    assert {"type", "days", "offerId", "X-Tenant-Id"} <= names


def _schema(document: dict, operation: dict, status: str) -> dict:
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


@pytest.mark.parametrize("profile", all_profiles(), ids=lambda p: p.name)
def test_each_profile_example_is_answered_as_documented(
    live: LiveApp, document: dict, profile
) -> None:
    example = profile.example
    path = profile.path
    for name, value in example.path.items():
        path = path.replace("{" + name + "}", value)
    operation = document["paths"][profile.path][profile.method.lower()]
    if example.body is not None:
        request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
        jsonschema.validate(example.body, {**request_schema, "components": document["components"]})
    response = live.client.request(
        profile.method,
        path,
        json=example.body,
        params=dict(example.query),
        headers={**live.admin, **example.headers},
    )
    assert response.status_code == 200, response.text
    jsonschema.validate(response.json(), _schema(document, operation, "200"))


def test_native_answers_validate_against_their_models(live: LiveApp, document: dict) -> None:
    query = document["paths"]["/v1/query"]["post"]
    example = query["requestBody"]["content"]["application/json"]["example"]
    answer = live.client.post("/v1/query", json=example, headers=live.admin)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(answer.json(), _schema(document, query, "200"))
    for path in ("/v1/datasets", "/v1/datasets/{name}", "/v1/capabilities"):
        operation = document["paths"][path]["get"]
        got = live.client.get(path.replace("{name}", "agent_events"), headers=live.admin)
        assert got.status_code == 200
        jsonschema.validate(got.json(), _schema(document, operation, "200"))
