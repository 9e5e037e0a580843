"""Weave's own package for the client tests: its server models and its HTTP clients.

Weave is the optional dependency group `weave` (pyproject.toml), pinned to 0.53.13: the last
release that ships the trace server's request and response models (`weave.shared`; 0.54 ships
only a generated client). `.ci/run` installs it, so under `CI=true` a missing Weave fails the
tests instead of skipping them.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

import pytest

WEAVE_VERSION = "0.53.13"


def weave_module(name: str) -> ModuleType:
    """`name` from the installed Weave; a skip locally without it, a failure under CI."""
    try:
        with warnings.catch_warnings():
            # weave.shared announces its move; the models are what this pinned release ships.
            warnings.simplefilter("ignore", FutureWarning)
            module = importlib.import_module(name)
    except ImportError as missing:
        message = f"weave=={WEAVE_VERSION} is not installed: pip install -e '.[weave]'"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} ({missing})")
        pytest.skip(message)
    version = importlib.import_module("weave.version").VERSION
    assert version == WEAVE_VERSION, f"the tests are written against weave {WEAVE_VERSION}"
    return module
