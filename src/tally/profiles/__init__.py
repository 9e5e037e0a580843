"""External API formats. Each subpackage is one profile and declares `PROFILE` in `profile.py`.

A profile translates: request -> the one query model -> Result -> response. It never writes SQL,
never touches an engine and never imports the web framework; `api/` mounts the declarations.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from tally.profiles.contract import Profile


def all_profiles() -> list[Profile]:
    found = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        name = f"{__name__}.{module.name}.profile"
        if module.ispkg and importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name).PROFILE)
    return found
