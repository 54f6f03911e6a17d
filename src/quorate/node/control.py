"""The control socket, /run/quorate/quorated.sock: how the command-line tools talk to the daemon.

One request per connection: a JSON object on one line (at most 2 MiB, a whole cluster.conf travels in a push),
decoded against the schema of `quorate.node.protocol` and answered by one JSON object on one line; except for
the commands in `sessions`, whose handler keeps the connection (lock sessions) or answers from outside the
node core (``lvs``: the load balancer's live table, `answer_lvs`). Only root
(or the daemon's own user) may connect, checked with SO_PEERCRED on every connection, and the socket file is
0600 in a 0755 directory. Requests are bounded in size and time so a stuck or hostile client
cannot hold the daemon.

The socket is served by the daemon's one event loop, which also sends heartbeats: a flood of clients must not
make it late. So connections are bounded (`MAX_CONNECTIONS` open at once, lock sessions aside, which live as
long as their locks) and so are requests waiting for an answer (`MAX_QUEUED`): a connection beyond either
gets an immediate answer saying the daemon is busy and why, and costs nothing more. Each connection carries
one request and gets its answer on that connection, so answers cannot cross.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from quorate.node import protocol

DEFAULT_SOCKET = Path("/run/quorate/quorated.sock")
MAX_REQUEST = protocol.MAX_REQUEST
REQUEST_TIMEOUT = 5.0
#: Connections served at once (lock sessions not counted); more are refused at once, as busy.
MAX_CONNECTIONS = 128
#: Requests handed to the node core and not yet answered; more are refused at once, as busy.
MAX_QUEUED = 64

Handler = Callable[[protocol.Request], Awaitable[Any]]
# A session handler takes the connection over after its first request (a cluster lock is owned by the
# connection that asked for it and released when it closes); it answers on `writer` itself.
SessionHandler = Callable[[Any, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ControlServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = Path(path)
        self.handler = handler
        self.server: asyncio.AbstractServer | None = None
        self.refused = 0
        self.busy_refusals = 0  # connections refused because of MAX_CONNECTIONS or MAX_QUEUED
        self.open = 0  # connections being served (lock sessions not counted)
        self.queued = 0  # requests handed to the handler and not answered yet
        self.sessions: dict[str, SessionHandler] = {"lvs": answer_lvs}

    async def start(self) -> None:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if _socket_alive(self.path):
                raise ControlError(f"{self.path} is in use: another quorated is running on this node")
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self.server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= MAX_CONNECTIONS:
            await self._busy(writer, f"{self.open} control connections are open (at most {MAX_CONNECTIONS})")
            return
        self.open += 1
        counted = True
        try:
            sock = writer.get_extra_info("socket")
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid not in (0, os.getuid()):
                self.refused += 1
                await _reply(writer, {"ok": False, "error": "permission denied: only root may control quorated"})
                return
            try:
                line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
            except (ValueError, asyncio.LimitOverrunError):
                await _reply(writer, {"ok": False, "error": f"request larger than {MAX_REQUEST} bytes"})
                return
            try:
                request = protocol.decode_request(line)
            except protocol.BadRequest as exc:
                await _reply(writer, {"ok": False, "error": str(exc)})
                return
            tag = type(request).__struct_config__.tag
            session = self.sessions.get(str(tag))
            if session is not None:
                self.open -= 1  # a session lives as long as what it holds: it is not a request in flight
                counted = False
                await session(request, reader, writer)
                return
            if self.queued >= MAX_QUEUED:
                why = f"{self.queued} requests are waiting for an answer (at most {MAX_QUEUED})"
                await self._busy(writer, why, raw=request.raw)
                return
            self.queued += 1
            try:
                answer = await self.handler(request)
            finally:
                self.queued -= 1
            if request.raw:
                # Raw form for the status commands: no JSON to parse on their side (see cli/fastclient.py).
                if answer.ok:
                    writer.write(b"OK\n" + str(getattr(answer, "text", "")).encode())
                else:
                    writer.write(b"ERR\n" + str(getattr(answer, "error", None) or "refused").encode() + b"\n")
                await writer.drain()
                return
            writer.write(protocol.encode(answer) + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            if counted:
                self.open -= 1
            writer.close()

    async def _busy(self, writer: asyncio.StreamWriter, why: str, *, raw: bool = False) -> None:
        """Refuse a connection at once: the daemon is serving as many as it will."""
        self.busy_refusals += 1
        error = f"busy: {why}; try again shortly"
        try:
            if raw:  # the status commands' raw form (see cli/fastclient.py)
                writer.write(b"ERR\n" + error.encode() + b"\n")
                await writer.drain()
            else:
                await _reply(writer, {"ok": False, "error": error})
        except ConnectionError:
            pass
        finally:
            writer.close()


async def _reply(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
    writer.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
    await writer.drain()


async def answer_lvs(_request: Any, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """`quorate lvs`: the live tables of the virtual services this process directs (none on other members)."""
    try:
        from quorate.resources.agents.lvs import live_tables
    except ImportError as exc:
        await _reply(writer, {"ok": False, "error": f"resource agents unavailable here: {exc}"})
        return
    await _reply(writer, {"ok": True, "directors": await live_tables()})


def _socket_alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class ControlError(Exception):
    pass
