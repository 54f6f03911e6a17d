"""Health checks of real servers, and the rise/fall hysteresis that turns their results into rotation changes.

Theory of operation: the director checks every real server once per ``interval`` (see
`quorate.resources.agents.lvs`). A check never blocks the node's event loop: ``tcp`` and ``http`` use asyncio's
non-blocking connections bounded by ``timeout``; ``script`` runs the administrator's program through
`quorate.system.process.run_agent` (own process group, killed at the timeout) with the real server's address and
port as arguments and ``LVS_VIRTUAL`` / ``LVS_NAME`` in its environment; exit 0 is healthy. A check returns None
when the server passed, else the reason in a few words (``connection refused``, ``HTTP 503``, ``timed out``).

`Hysteresis` is pure: one flap must not move traffic, so a server in rotation leaves after ``fall`` consecutive
failures and a server out of rotation returns after ``rise`` consecutive passes; any opposite result restarts the
count. Each move is a `Move` whose text is the decision the log records, with its reason.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace

from quorate.resources.agents.lvs_rules import RealServer, VirtualService
from quorate.system.process import run_agent

MAX_HEAD = 8192


async def check_tcp(server: RealServer, timeout: float) -> str | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(server.address, server.port), timeout)
    except TimeoutError:
        return f"no connection within {timeout:g} s"
    except OSError as exc:
        return _said(exc)
    writer.close()
    await _closed(writer)
    return None


async def _closed(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def check_http(server: RealServer, path: str, expect: int, timeout: float) -> str | None:
    """GET ``path`` over HTTP/1.0 and compare the status code; the whole exchange is bounded by ``timeout``."""
    try:
        return await asyncio.wait_for(_http(server, path, expect), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return _said(exc)


def _said(exc: OSError) -> str:
    """``connection refused``, ``no route to host``: the errno's text (asyncio's own message names no cause)."""
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def _host(server: RealServer) -> str:
    """The Host header (RFC 9110 7.2): an IPv6 literal in brackets (servers refuse it bare, HTTP 400), and the port
    unless it is HTTP's own."""
    host = f"[{server.address}]" if ":" in server.address else server.address
    return host if server.port == 80 else f"{host}:{server.port}"


async def _http(server: RealServer, path: str, expect: int) -> str | None:
    reader, writer = await asyncio.open_connection(server.address, server.port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {_host(server)}\r\nUser-Agent: quorate-lvs-check\r\n\r\n".encode())
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
        await _closed(writer)
    words = line.decode("latin-1", errors="replace").split()
    if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
        return "not an HTTP answer" if line else "connection closed without an answer"
    if int(words[1]) != expect:
        return f"HTTP {words[1]}, expected {expect}"
    return None


async def check_script(vs: VirtualService, server: RealServer, timeout: float) -> str | None:
    result = await run_agent(
        [vs.script, server.address, str(server.port)],
        env={"LVS_VIRTUAL": vs.label, "LVS_NAME": vs.name},
        timeout=timeout,
    )
    if result.error is not None:
        return result.error
    if result.timed_out:
        return f"{vs.script} timed out after {timeout:g} s"
    if result.returncode != 0:
        said = (result.stdout.strip() or result.stderr.strip()).splitlines()
        return f"{vs.script} exited {result.returncode}" + (f": {said[-1][:200]}" if said else "")
    return None


async def check(vs: VirtualService, server: RealServer) -> str | None:
    """One check of ``server`` as ``vs`` configures it; anything unexpected is a failed check, never an error
    that would lose the other servers' results of the round."""
    try:
        if vs.check == "http":
            return await check_http(server, vs.path, vs.expect, vs.timeout)
        if vs.check == "script":
            return await check_script(vs, server, vs.timeout)
        return await check_tcp(server, vs.timeout)
    except (ValueError, UnicodeError, asyncio.IncompleteReadError) as exc:
        return f"unusable answer ({exc.__class__.__name__})"


@dataclass(frozen=True, slots=True)
class Move:
    server: RealServer
    joins: bool
    count: int
    reason: str

    def describe(self, vs: VirtualService) -> str:
        if self.joins:
            return f"realserver {self.server.label} joins {vs.name}: {self.count} passed checks"
        return f"realserver {self.server.label} leaves {vs.name}: {self.count} failed checks ({self.reason})"


@dataclass
class Health:
    healthy: bool
    streak: int = 0  # consecutive results against the current state
    reason: str = ""  # the last failure's reason, "" after a pass


class Hysteresis:
    """Which real servers are in rotation, moved only by ``rise`` passes or ``fall`` failures in a row."""

    def __init__(self, vs: VirtualService, first: dict[RealServer, str | None]) -> None:
        """``first``: one round of results; a server that passed starts in rotation, one that failed out."""
        self.vs = vs
        self.state = {s: Health(first.get(s) is None, 0, first.get(s) or "") for s in vs.servers}

    @property
    def healthy(self) -> list[RealServer]:
        return [s for s in self.vs.servers if self.state[s].healthy]

    def add(self, server: RealServer, failure: str | None) -> None:
        """A real server added while running (a reconfiguration); one check decides where it starts."""
        self.vs = replace(self.vs, servers=(*self.vs.servers, server))
        self.state[server] = Health(failure is None, 0, failure or "")

    def remove(self, server: RealServer) -> None:
        self.vs = replace(self.vs, servers=tuple(s for s in self.vs.servers if s != server))
        self.state.pop(server, None)

    def observe(self, server: RealServer, failure: str | None) -> Move | None:
        health = self.state.get(server)
        if health is None:
            return None  # removed while its check ran
        health.reason = failure or ""
        against = (failure is not None) == health.healthy
        if not against:
            health.streak = 0
            return None
        health.streak += 1
        needed = self.vs.fall if health.healthy else self.vs.rise
        if health.streak < needed:
            return None
        health.healthy = not health.healthy
        health.streak = 0
        return Move(server, health.healthy, needed, failure or "")
