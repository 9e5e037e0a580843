"""External API formats. Each subpackage is one profile and exposes `router` in `router.py`.

A profile translates: request -> the one query model -> Result -> response. It never writes SQL
and never touches an engine; scope comes from the principal, narrowed by the request.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    found = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        name = f"{__name__}.{module.name}.router"
        if module.ispkg and importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name).router)
    return found
