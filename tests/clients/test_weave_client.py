"""Profile 003 against W&B Weave's own code: its HTTP clients, configured the way its users
configure them (the API key in `WANDB_API_KEY`, the server in `WF_TRACE_SERVER_URL`), call a real
`tally serve` over real HTTP, and Tally's answers validate against Weave's response model.

Both of Weave's clients are exercised: the Stainless-generated one (the default since 0.53) and
the hand-written `RemoteHTTPTraceServer`. Both send the key as HTTP Basic with user `api`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tally.auth.keys import KeyStore
from tests.clients.weave_support import weave_module
from tests.helpers import bearer
from tests.profiles.feedback_aggregate_support import PROJECT, WINDOW, expected, generate
from tests.server_support import running_server

REQUESTS: dict[str, dict[str, Any]] = {
    "total": {},
    "hourly by scorer": {"time_bucket_seconds": 3600, "group_by": ["scorer_id"]},
    "by status": {"group_by": ["span_status_code"]},
    "agents without a name": {"span_agent_names": [""], "group_by": ["span_agent_version"]},
    "filtered": {
        "time_bucket_seconds": 21600,
        "feedback_types": ["wandb.runnable.*"],
        "tags": ["pii", "toxicity"],
        "rating_min": 0.25,
        "scorer_ids": ["tox*"],
        "span_types": ["agent_turn"],
    },
}


def request_body(**extra: Any) -> dict[str, Any]:
    return {"project_id": PROJECT, "after_ms": WINDOW[0], "before_ms": WINDOW[1], **extra}


class Server:
    def __init__(self, base: str, key: str, rows: list[dict[str, Any]]) -> None:
        self.base, self.key, self.rows = base, key, rows


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    weave_module("weave.shared.trace_server_interface")
    data_dir = Path(tmp_path_factory.mktemp("weave")) / "data"
    with running_server(data_dir) as base:
        store = KeyStore(data_dir / "keys.sqlite")
        _, admin = store.create("admin", {}, all_tenants=True, name="loader")
        _, key = store.create("viewer", {"project_id": (PROJECT,)}, name="weave-user")
        store.close()
        rows = generate()
        stored = httpx.post(
            f"{base}/v1/datasets/feedback/rows", json=rows, headers=bearer(admin), timeout=60
        )
        assert stored.status_code == 200, stored.text
        yield Server(base, key, rows)


@pytest.fixture(params=["stainless", "legacy"])
def weave_client(request: pytest.FixtureRequest, server: Server, monkeypatch: pytest.MonkeyPatch):
    """Weave's trace-server client as `weave.init` builds it, pointed at Tally."""
    monkeypatch.setenv("WF_TRACE_SERVER_URL", server.base)
    monkeypatch.setenv("WANDB_API_KEY", server.key)
    monkeypatch.setenv("WEAVE_USE_STAINLESS_SERVER", str(request.param == "stainless").lower())
    init = weave_module("weave.trace.weave_init")
    auth = weave_module("weave.wandb_interface.auth")
    return init.init_weave_get_server(auth.get_wandb_credentials(), should_batch=False)


@pytest.mark.parametrize("extra", list(REQUESTS.values()), ids=list(REQUESTS))
def test_weaves_client_gets_tallys_answer(weave_client: Any, server: Server, extra: dict) -> None:
    tsi = weave_module("weave.shared.trace_server_interface")
    body = request_body(**extra)
    answer = weave_client.feedback_aggregate(tsi.FeedbackAggregateReq(**body))
    got = answer.model_dump()
    assert (got["after_ms"], got["before_ms"]) == WINDOW
    assert got["time_bucket_seconds"] == body.get("time_bucket_seconds")
    assert got["buckets"] == expected(server.rows, body)
    assert got["buckets"], "every request here has rows"


@pytest.mark.parametrize("extra", list(REQUESTS.values()), ids=list(REQUESTS))
def test_answers_validate_against_weaves_response_model(server: Server, extra: dict) -> None:
    tsi = weave_module("weave.shared.trace_server_interface")
    auth = weave_module("weave.wandb_interface.auth")
    header = {"Authorization": auth.ApiKeyCredentials(server.key).authorization_header()}
    response = httpx.post(
        f"{server.base}/feedback/aggregate", json=request_body(**extra), headers=header
    )
    assert response.status_code == 200, response.text
    parsed = tsi.FeedbackAggregateRes.model_validate(response.json(), strict=True)
    assert parsed.model_dump(mode="json") == response.json()
