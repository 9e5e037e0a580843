"""Fixtures of the tests against the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.integration.cache_support import REDIS_URL


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    value = f"tally-test-{uuid.uuid4().hex[:8]}:"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{value}*"):
        client.delete(key)
