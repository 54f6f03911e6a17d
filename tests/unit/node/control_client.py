"""A raw client of the control socket and a server to talk to, for the tests that drive `ControlServer` over a
real Unix socket (bounds, floods, hostile requests) rather than through the command-line tools.

A client reads with the server's own line limit, so that what a test sees is what the server sent, not where
the client's reader gave up. Imported by name (not a conftest): several test directories have a conftest, and
`from conftest import` would find whichever came first on the path.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from quorate.node import protocol
from quorate.node.control import ControlServer, Handler, SessionHandler


async def connect(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the socket at ``path`` that has said nothing yet."""
    return await asyncio.open_unix_connection(str(path), limit=protocol.MAX_REQUEST)


async def ask(path: Path, line: bytes) -> dict[str, Any]:
    """One request on a connection of its own, as the command-line tools send it, and the answer it got."""
    reader, writer = await connect(path)
    writer.write(line)
    await writer.drain()
    answer = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return dict(json.loads(answer))


@asynccontextmanager
async def serving(
    path: Path, handler: Handler, sessions: dict[str, SessionHandler] | None = None
) -> AsyncIterator[ControlServer]:
    """A control server on ``path`` answering with ``handler`` (and ``sessions``, as the daemon adds them before
    it starts), closed however the test leaves it."""
    server = ControlServer(path, handler)
    server.sessions.update(sessions or {})
    await server.start()
    try:
        yield server
    finally:
        await server.close()
