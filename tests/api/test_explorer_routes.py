"""The routes behind the explorer: the page and its files (types, caching, nothing else served),
`GET /v1/examples` (the profiles' own examples, the ones the OpenAPI document carries), and
what the catalog says a JSON key accepts (each listed operator and measure really validates)."""

from __future__ import annotations

import re
from importlib.resources import files

from fastapi.testclient import TestClient

from tally.profiles import all_profiles

SHIPPED = sorted(i.name for i in files("tally").joinpath("web").iterdir())


def test_the_page_and_every_file_it_names_are_served_with_their_type(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    named = re.findall(r'(?:src|href)="/web/([^"]+)"', page.text)
    js = client.get("/web/explorer.js").text
    named += re.findall(r'from "\./([^"]+)"', js)
    assert {"explorer.js", "explorer.css", "favicon.svg", "builder.js"} <= set(named)
    for name in SHIPPED:
        if name == "index.html":
            continue
        answer = client.get(f"/web/{name}")
        assert answer.status_code == 200, name
        kind = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
        assert answer.headers["content-type"].startswith(kind[name.rpartition(".")[2]]), name
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_files_are_revalidated_by_etag(client: TestClient) -> None:
    first = client.get("/web/explorer.js")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/web/explorer.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    stale = client.get("/web/explorer.js", headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_nothing_outside_the_web_folder_is_served(client: TestClient) -> None:
    for path in ("/web/nope.js", "/web/..%2fapi%2fweb.py", "/web/__init__.py"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"


def test_the_page_is_not_part_of_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/web") for p in paths)
    assert "/v1/examples" in paths


def test_examples_are_the_profiles_own_and_the_documents(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    examples = client.get("/v1/examples", headers=admin_headers).json()["examples"]
    document = client.get("/openapi.json").json()["paths"]
    assert [e["profile"] for e in examples] == [p.name for p in all_profiles()]
    for example, profile in zip(examples, all_profiles(), strict=True):
        declared = profile.example
        assert example["method"] == profile.method
        assert example["body"] == declared.body
        assert example["headers"] == dict(declared.headers)
        assert example["query"] == dict(declared.query)
        assert "{" not in example["path"]
        operation = document[profile.path][profile.method.lower()]
        media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        assert media.get("example") == declared.body
        for parameter in operation["parameters"]:
            given = {"path": declared.path, "header": declared.headers, "query": declared.query}
            if parameter["name"] in given[parameter["in"]]:
                assert parameter["example"] == given[parameter["in"]][parameter["name"]]


def test_examples_answer_when_sent_as_listed(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for example in client.get("/v1/examples", headers=admin_headers).json()["examples"]:
        answer = client.request(
            example["method"],
            example["path"],
            params=example["query"],
            headers={**example["headers"], **admin_headers},
            json=example["body"],
        )
        assert answer.status_code == 200, (example["profile"], answer.text)


VALUES = {"in": ["a"], "nin": ["a"], "between": ["a", "b"], "is_null": None, "not_null": None}


def test_what_the_catalog_lists_for_a_json_key_validates(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    datasets = client.get("/v1/datasets", headers=admin_headers).json()["datasets"]
    events = next(d for d in datasets if d["name"] == "agent_events")
    metadata = next(c for c in events["columns"] if c["name"] == "metadata")
    plain = next(c for c in events["columns"] if c["name"] == "event_type")
    assert "keys" not in plain
    assert {"eq", "contains", "is_null"} <= set(metadata["keys"]["operators"])
    for op in metadata["keys"]["operators"]:
        leaf = {"field": "metadata.channel", "op": op}
        if op not in ("is_null", "not_null"):
            leaf["value"] = VALUES.get(op, "a")
        query = {"dataset": "agent_events", "filter": leaf}
        answer = client.post("/v1/query", json=query, headers=admin_headers)
        assert answer.status_code == 200, (op, answer.text)
    for op in metadata["keys"]["measures"]:
        measure = {"op": op, "field": "metadata.channel"}
        if op == "percentile":
            measure["q"] = 0.5
        query = {"dataset": "agent_events", "measures": [measure]}
        answer = client.post("/v1/query", json=query, headers=admin_headers)
        assert answer.status_code == 200, (op, answer.text)
