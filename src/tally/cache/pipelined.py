"""Redis reads for cache hits on the event loop: pipelined in batches, the loop never blocked.

A hit is answered on the event loop. A blocking round trip there stalls every other request for
its length (and on a small machine Redis is often scheduled onto the loop's own core in between);
an asyncio client per request costs more CPU than the round trip. So reads are batched: those
asked in one turn of the loop, and those asked while a batch is out, go to Redis as one write on a
connection of their own and come back in order. Under load a batch holds several reads, so Redis
is woken once for all of them, and each read is still one command (atomic in Redis).

One instance serves one event loop: its connection belongs to that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio


class PipelinedReads:
    def __init__(self, url: str, timeout_s: float) -> None:
        """`timeout_s` bounds a whole round trip (connecting included): one deadline per batch
        costs less than redis-py's own per-send and per-reply ones."""
        pool = redis.asyncio.ConnectionPool.from_url(
            url, socket_timeout=None, socket_connect_timeout=timeout_s
        )
        self._connection = pool.make_connection()
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._queue: list[tuple[tuple[str, ...], asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def mget(self, names: Sequence[str]) -> list[bytes | None]:
        """The values of `names` in one MGET; raises what the connection raised."""
        future = self._loop.create_future()
        self._queue.append((tuple(names), future))
        if self._drainer is None:
            # Started on the next turn, so reads asked later in this one join the batch.
            self._drainer = self._loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
        finally:
            self._drainer = None

    async def _send(self, batch: list[tuple[tuple[str, ...], asyncio.Future]]) -> None:
        commands = [("MGET", *names) for names, _ in batch]
        try:
            try:
                replies = await self._round_trip(commands)
            except redis.ConnectionError:
                # A connection Redis dropped (it restarted) fails on its first use; MGET is a
                # read, so one more try on a fresh connection is safe.
                replies = await self._round_trip(commands)
        except BaseException as exc:
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if not future.done():
                future.set_result(reply)

    async def _round_trip(self, commands: list[tuple[str, ...]]) -> list[Any]:
        connection = self._connection
        try:
            async with asyncio.timeout(self._timeout_s):
                packed = connection.pack_commands(commands)
                await connection.send_packed_command(packed, check_health=False)
                return [await connection.read_response() for _ in commands]
        except TimeoutError:
            await connection.disconnect(nowait=True)
            raise redis.TimeoutError(f"no reply from Redis in {self._timeout_s} s") from None
        except BaseException:
            # Replies still owed would answer the next batch: start afresh.
            await connection.disconnect(nowait=True)
            raise

    async def close(self) -> None:
        await self._connection.disconnect(nowait=True)
