"""The explorer page: HTML, CSS and JavaScript shipped in `tally/web/` and served by Tally.

Everything is read once at startup. Files are small and not fingerprinted, so each answer says
`no-cache` with an ETag: the browser revalidates and gets a 304, never a stale script after an
upgrade. The page's Content-Security-Policy allows nothing but this server, which is also how
the explorer keeps its promise to work with no network beyond Tally.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from tally.api.errors import NATIVE, shaped_route
from tally.errors import not_found

MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    media: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every servable file of the package's `web/` folder, by name (nothing else is reachable)."""
    found = {}
    for item in files("tally").joinpath("web").iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in MEDIA:
            body = item.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            found[item.name] = Asset(body, MEDIA[suffix], etag)
    return found


ASSETS = load_assets()
router = APIRouter(route_class=shaped_route(NATIVE), include_in_schema=False)


def _send(asset: Asset, request: Request) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if asset.media.startswith("text/html"):
        headers["Content-Security-Policy"] = POLICY
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media, headers=headers)


@router.get("/")
async def explorer(request: Request) -> Response:
    return _send(ASSETS["index.html"], request)


@router.get("/web/{name}")
async def asset(name: str, request: Request) -> Response:
    found = ASSETS.get(name)
    if found is None:
        raise not_found(f"no file {name!r} in the explorer")
    return _send(found, request)
