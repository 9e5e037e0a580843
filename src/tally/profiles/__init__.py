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


def served(spec: str) -> list[Profile]:
    """The profiles named by TALLY_PROFILES (`all`, `none` or a comma list); an unknown name is
    a ValueError listing the known ones."""
    every = all_profiles()
    if spec == "all":
        return every
    if spec == "none":
        return []
    known = {p.name: p for p in every}
    wanted = [name for name in spec.split(",") if name]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(
            f"TALLY_PROFILES: unknown profile {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    return [known[name] for name in sorted(set(wanted))]


def unserved_datasets(spec: str) -> set[str]:
    """The built-in datasets no served profile reads (they are neither created nor loaded)."""
    wanted = {d for p in served(spec) for d in p.datasets}
    return {d for p in all_profiles() for d in p.datasets} - wanted
