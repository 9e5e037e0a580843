"""TALLY_PROFILES: only the served profiles' built-in datasets are created and listed, only their
routes are mounted; user datasets are served whatever the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tally import profiles
from tally.catalog.loader import builtin_files
from tally.config import ConfigError
from tests.helpers import live_app
from tests.integration.sources_support import dataset_file


def _tables(live) -> set[str]:
    _, rows = live.service.engine.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'", {}, 10
    )
    return {row[0] for row in rows}


def test_every_builtin_dataset_belongs_to_exactly_one_profile() -> None:
    claimed = [d for p in profiles.all_profiles() for d in p.datasets]
    builtin = {name.rsplit(".", 1)[0] for name, _ in builtin_files()}
    assert sorted(claimed) == sorted(builtin)


def test_only_the_served_profiles_datasets_and_routes_exist(tmp_path: Path) -> None:
    dataset_file(tmp_path / "datasets", "agent_metrics", None)  # a user's, named like a built-in
    with live_app(tmp_path, profiles="feedback_aggregate") as live:
        listed = {
            d["name"]
            for d in live.client.get("/v1/datasets", headers=live.admin).json()["datasets"]
        }
        assert listed == {"feedback", "agent_metrics"}
        assert _tables(live) == {"feedback", "agent_metrics"}
        served = live.client.post("/feedback/aggregate", json={}, headers=live.admin)
        assert served.status_code != 404
        gone = live.client.post(
            "/api/workspace/ws_a/dashboards/aggregate", json={}, headers=live.admin
        )
        assert gone.status_code == 404
        paths = live.client.get("/openapi.json").json()["paths"]
        assert "/feedback/aggregate" in paths
        assert "/api/workspace/{workspaceId}/dashboards/aggregate" not in paths


def test_none_serves_only_user_datasets_and_all_serves_every_builtin(tmp_path: Path) -> None:
    with live_app(tmp_path / "none", profiles="none") as live:
        assert _tables(live) == set()
    with live_app(tmp_path / "all") as live:
        builtin = {name.rsplit(".", 1)[0] for name, _ in builtin_files()}
        assert _tables(live) == builtin


def test_an_unknown_profile_is_a_clear_start_up_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile 'dashboards'; known: agent_metrics"):
        with live_app(tmp_path, profiles="dashboards,feedback_aggregate"):
            pass
