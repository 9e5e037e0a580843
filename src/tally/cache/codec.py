"""Results to plain JSON and back; caches store JSON bytes, never pickles.

An entry also records the data versions it was computed at, so a reader can tell whether it
still describes the data (see versions.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from tally.result import Result


def _temporal_keys(rows: list[dict[str, Any]]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                kinds[key] = "datetime"
            elif isinstance(value, date):
                kinds[key] = "date"
    return kinds


def encode(result: Result, generated_at: datetime, versions: tuple[int, ...]) -> bytes:
    return orjson.dumps(
        {
            "versions": versions,
            "rows": result.rows,
            "groups": result.groups,
            "measures": result.measures,
            "meta": result.meta,
            "temporal": _temporal_keys(result.rows),
            "generated_at": generated_at,
        },
        option=orjson.OPT_NON_STR_KEYS,
    )


def _restore_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = dict(meta)
    for key in ("time", "compare"):
        if isinstance(out.get(key), dict):
            out[key] = {k: datetime.fromisoformat(v) for k, v in out[key].items()}
    if out.get("watermark"):
        out["watermark"] = datetime.fromisoformat(out["watermark"])
    return out


def decode(data: bytes) -> tuple[Result, datetime, tuple[int, ...]]:
    body = orjson.loads(data)
    parsers = {"datetime": datetime.fromisoformat, "date": date.fromisoformat}
    temporal = {k: parsers[v] for k, v in body["temporal"].items()}
    rows = body["rows"]
    if temporal:
        for row in rows:
            for key, parse in temporal.items():
                if row.get(key) is not None:
                    row[key] = parse(row[key])
    result = Result(
        rows=rows,
        groups=body["groups"],
        measures=body["measures"],
        meta=_restore_meta(body["meta"]),
    )
    return result, datetime.fromisoformat(body["generated_at"]), tuple(body["versions"])
