"""Watch the dataset directory and reload when a file is added, changed or removed.

watchfiles (what `uvicorn --reload` uses) waits for the operating system's notifications in a
thread of its own, so the event loop never blocks on it; the reload itself (files, DDL) runs in
a worker thread. Changes are gathered for a moment before reloading, so an editor's several
writes of one save make one reload.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
from watchfiles import awatch

from tally.catalog.loader import SUFFIXES
from tally.service.reload import Reloader

log = logging.getLogger(__name__)
QUIET_MS = 50


def _dataset_file(_change: object, path: str) -> bool:
    return path.endswith(SUFFIXES)


async def _watch(reloader: Reloader, folder: Path, stop: anyio.Event) -> None:
    """Runs until `stop`; a failure is logged, never raised into the server's lifespan."""
    try:
        async for _ in awatch(
            folder,
            watch_filter=_dataset_file,
            stop_event=stop,
            step=QUIET_MS,
            rust_timeout=1000,
            recursive=False,
        ):
            await _reload(reloader)
    except Exception:
        log.exception("stopped watching the dataset directory %s", folder)


async def _reload(reloader: Reloader) -> None:
    try:
        await anyio.to_thread.run_sync(reloader.reload)
    except Exception:  # the watcher outlives a reload that failed; the next change retries
        log.exception("reloading the dataset files failed")


@asynccontextmanager
async def watching(reloader: Reloader, enabled: bool) -> AsyncIterator[None]:
    """Reload on file changes while the context lasts (a server's lifespan)."""
    folder = reloader.folder
    if not enabled or folder is None:
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("not watching the dataset directory %s: %s", folder, exc)
        yield
        return
    # watchfiles logs every batch of changes at info; the reload logs what it did instead.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    stop = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_watch, reloader, folder, stop)
        try:
            yield
        finally:
            stop.set()
