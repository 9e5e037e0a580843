"""Write a copy of the OpenAPI document whose recursive schemas are unrolled to a fixed depth.

The filter tree (and, or, not nested in each other) is recursive, as the API is. Schemathesis
builds its generators by walking `$ref`s, and on some seeds that walk over the cycle never ends
(a RecursionError inside the fuzzer, whatever the recursion limit). The fuzzer gets the same
schemas with the cycle cut after DEPTH levels, where the leaves (comparisons, constants) remain;
every body it generates is still a valid body of the real document.

Usage: python .ci/bounded_openapi.py docs/openapi.json OUT.json [DEPTH]
"""

from __future__ import annotations

import json
import sys
from typing import Any

PREFIX = "#/components/schemas/"


def references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"][len(PREFIX) :]} if "$ref" in node else set()
        for value in node.values():
            found |= references(value)
        return found
    if isinstance(node, list):
        return set().union(*(references(value) for value in node)) if node else set()
    return set()


def cyclic(schemas: dict[str, Any]) -> set[str]:
    graph = {name: references(body) for name, body in schemas.items()}

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            for target in graph.get(stack.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen

    return {name for name in graph if name in reachable(name)}


def rewrite(node: Any, loops: set[str], level: int, depth: int) -> Any:
    """Point references into the cycle at the next level down; past DEPTH, drop the branch."""
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"][len(PREFIX) :] in loops:
            if level > depth:
                return None
            return {**node, "$ref": f"{PREFIX}{node['$ref'][len(PREFIX) :]}__{level}"}
        pairs = ((key, rewrite(value, loops, level, depth)) for key, value in node.items())
        return {key: value for key, value in pairs if value is not None}
    if isinstance(node, list):
        kept = [rewrite(value, loops, level, depth) for value in node]
        return [value for value in kept if value is not None]
    return node


def bounded(document: dict[str, Any], depth: int) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    loops = cyclic(schemas)
    out = rewrite(
        {**document, "components": {**document["components"], "schemas": {}}}, loops, 1, depth
    )
    unrolled = {
        name: rewrite(body, loops, 1, depth) for name, body in schemas.items() if name not in loops
    }
    for name in loops:
        for level in range(1, depth + 1):
            unrolled[f"{name}__{level}"] = rewrite(schemas[name], loops, level + 1, depth)
    out["components"]["schemas"] = unrolled
    return out


if __name__ == "__main__":
    source, target = sys.argv[1], sys.argv[2]
    levels = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with open(source) as handle:
        document = json.load(handle)
    with open(target, "w") as handle:
        json.dump(bounded(document, levels), handle)
