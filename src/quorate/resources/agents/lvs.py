"""``lvs``: a load-balanced virtual service; the node running its cluster service is the director.

Theory of operation: ``<lvs name="web" address="VIP" port="80" ...>`` with ``<realserver>`` children sits in a
service next to the ``<ip>`` carrying VIP, so the director role is placed, failed over and fenced like any other
service and held by one node at a time. The data plane is an nftables table built by
`quorate.resources.agents.lvs_rules` (why nftables and NAT: that module's text). The kernel's IPVS is not used
even where ``/proc/net/ip_vs`` exists; the start message and ``quorate lvs`` say which plane runs.

* **start**: checks every real server once (concurrently, each bounded by ``timeout``); those that pass start
  in rotation, the others out. Turns on IPv4 forwarding (IPv6 forwarding, ``net.ipv6.conf.all.forwarding``, for
  an IPv6 virtual service: the kernel then ignores router advertisements on interfaces whose ``accept_ra`` is not
  2, so a director should have static IPv6 addresses and routes) in this network namespace (the director routes to
  the real servers; it stays on after stop, as other users of the namespace may rely on it), installs the table in
  one ``nft -f`` transaction, and launches the director's health-check task on the node's event loop.
* the **task** checks every server every ``interval`` seconds (`quorate.resources.agents.lvs_checks`) and feeds
  the rise/fall hysteresis; each move is logged as a decision with its reason, and any move rewrites the rules
  (counters kept). It lives in the node process, in `DIRECTORS`, the one piece of per-resource state an agent
  keeps: the status command reads the live table from it.
* **stop**: cancels the task and deletes the table (idempotent: stopping what is not there succeeds).
* a ``realserver`` row started or stopped alone (a reconfiguration adds, removes or changes it; the tree stops
  its children before the lvs, so a whole stop passes here too) joins or leaves the running director's table
  at once, after one check for a newcomer (`RealServerAgent`).
* **status**: the table exists (else not running, OCF 7) and the task is alive (else a generic failure, so
  the service is recovered and the start launches a new task).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from quorate.config.rgtree import Node
from quorate.resources.agents.base import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_NOT_RUNNING,
    Agent,
    AgentContext,
    AgentOutcome,
    failure,
    from_result,
    run,
    success,
    summary,
)
from quorate.resources.agents.lvs_checks import Hysteresis, check
from quorate.resources.agents.lvs_rules import (
    LvsConfigError,
    RealServer,
    VirtualService,
    parse_counters,
    real_server,
    removal,
    ruleset,
    virtual_service,
)
from quorate.system.process import run_agent

log = logging.getLogger("quorated")

IPVS_PROC = "/proc/net/ip_vs"
FORWARDING = {"ip": "/proc/sys/net/ipv4/ip_forward", "ip6": "/proc/sys/net/ipv6/conf/all/forwarding"}
NFT_TIMEOUT = 10.0


def plane() -> str:
    """The data plane in use, as the start message and the status command print it."""
    if os.path.exists(IPVS_PROC):
        return "nftables (IPVS is present in this kernel but not used)"
    return "nftables (no IPVS in this kernel)"


async def nft(text: str, timeout: float = NFT_TIMEOUT) -> str | None:
    """Apply ``text`` as one ``nft -f`` transaction; None on success, else why it failed."""
    result = await run_agent(["nft", "-f", "-"], stdin=text, timeout=timeout)
    broken = from_result(result, "nft -f")
    if broken is not None:
        return broken.message
    if result.returncode != 0:
        return f"nft -f failed: {summary(result.stderr)}"
    return None


def enable_forwarding(family: str = "ip", path: str | None = None) -> str:
    """A note for the start message: forwarding of ``family`` (nftables' ``ip`` or ``ip6``) was on, or was turned on."""
    version = "IPv6" if family == "ip6" else "IPv4"
    path = path or FORWARDING[family]
    try:
        with open(path) as handle:
            if handle.read().strip() == "1":
                return "forwarding on"
        with open(path, "w") as handle:
            handle.write("1\n")
    except OSError as exc:
        return f"could not enable {version} forwarding: {exc.strerror}"
    return f"{version} forwarding turned on"


@dataclass
class Director:
    """One virtual service directed from this node: its configuration, health and checker task."""

    vs: VirtualService
    health: Hysteresis
    plane: str
    task: asyncio.Task[None] | None = None
    since: float = field(default_factory=time.time)
    last_error: str = ""
    # One rotation change at a time: a round's results and a reconfiguration's row may land together.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def round(self) -> dict[RealServer, str | None]:
        results = await asyncio.gather(*(check(self.vs, s) for s in self.vs.servers))
        return dict(zip(self.vs.servers, results, strict=True))

    async def run(self) -> None:
        """Check every ``interval``; rewrite the rules when the rotation changes."""
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await self.step()
            except Exception as exc:  # the checker must outlive any one bad round
                log.warning("lvs %s: health check round failed: %r", self.vs.name, exc)
            await asyncio.sleep(max(0.0, self.vs.interval - (loop.time() - began)))

    async def step(self) -> None:
        results = await self.round()
        async with self.lock:
            moves = [m for server, failed in results.items() if (m := self.health.observe(server, failed))]
            if moves:
                # Said once the rules say it too: a reader (or a test) that sees "leaves" must find the server
                # out of rotation, not still receiving connections for the few milliseconds nft takes.
                await self.apply()
            for move in moves:
                log.info("lvs %s: %s", self.vs.name, move.describe(self.vs))

    async def apply(self) -> None:
        error = await nft(ruleset(self.vs, self.health.healthy, fresh=False))
        self.last_error = error or ""
        if error:
            log.warning("lvs %s: rules not updated: %s", self.vs.name, error)

    async def change(self, server: RealServer, *, joins: bool) -> str:
        """A real server added to or removed from the running virtual service; returns what happened."""
        failed = await check(self.vs, server) if joins else None
        async with self.lock:
            same = [s for s in self.health.state if s.label == server.label]  # whatever its weight was
            if joins == bool(same):
                return f"realserver {server.label} is {'already' if same else 'not'} in {self.vs.name}"
            if joins:
                self.health.add(server, failed)
                said = f"realserver {server.label} added to {self.vs.name}: " + (
                    "in rotation" if failed is None else f"out of rotation, check failed ({failed})"
                )
            else:
                self.health.remove(same[0])
                said = f"realserver {server.label} removed from {self.vs.name}"
            self.vs = self.health.vs
            log.info("lvs %s: %s", self.vs.name, said)
            await self.apply()
        return said if not self.last_error else f"{said}; rules not updated: {self.last_error}"

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def table(self) -> dict[str, Any]:
        """The live table for `quorate lvs`: configuration, rotation and counters."""
        result = await run_agent(["nft", "-j", "list", "counters", "table", self.vs.family, self.vs.table], timeout=5.0)
        traffic = parse_counters(self.vs, result.stdout if result.ok else "")
        rows = []
        for server in self.vs.servers:
            state = self.health.state[server]
            seen = traffic[server]
            rows.append(
                {
                    "address": server.address,
                    "port": server.port,
                    "weight": server.weight,
                    "healthy": state.healthy,
                    "reason": state.reason,
                    "conns": seen.conns,
                    "in_packets": seen.in_packets,
                    "out_packets": seen.out_packets,
                    "in_bytes": seen.in_bytes,
                    "out_bytes": seen.out_bytes,
                }
            )
        vs = self.vs
        return {
            "name": vs.name,
            "protocol": vs.protocol,
            "address": vs.address,
            "port": vs.port,
            "scheduler": vs.scheduler,
            "persistence": vs.persistence,
            "check": vs.check,
            "plane": self.plane,
            "since": self.since,
            "checking": self.task is not None and not self.task.done(),
            "error": self.last_error or ("" if result.ok else f"counters unreadable: {summary(result.stderr)}"),
            "realservers": rows,
        }


# The virtual services this process directs, by lvs name.
DIRECTORS: dict[str, Director] = {}


async def live_tables() -> list[dict[str, Any]]:
    return [await DIRECTORS[name].table() for name in sorted(DIRECTORS)]


class LvsAgent(Agent):
    type = "lvs"

    def __init__(self, directors: dict[str, Director] | None = None) -> None:
        self.directors = DIRECTORS if directors is None else directors

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        try:
            vs = virtual_service(res)
        except LvsConfigError as exc:
            return failure(OCF_ERR_CONFIGURED, str(exc))
        old = self.directors.pop(vs.name, None)
        if old is not None:
            await old.stop()
        forwarding = enable_forwarding(vs.family)
        director = Director(vs, Hysteresis(vs, {}), plane())
        first = await director.round()
        director.health = Hysteresis(vs, first)
        for server, failed in first.items():
            if failed is not None:
                log.info("lvs %s: realserver %s starts out of rotation: check failed (%s)", vs.name, server.label,
                         failed)  # fmt: skip
        error = await nft(ruleset(vs, director.health.healthy, fresh=True), timeout=ctx.remaining())
        if error is not None:
            return failure(OCF_ERR_GENERIC, f"lvs {vs.name}: {error}")
        director.task = asyncio.get_running_loop().create_task(director.run(), name=f"lvs-{vs.name}")
        self.directors[vs.name] = director
        healthy = len(director.health.healthy)
        said = (
            f"lvs {vs.name}: {vs.protocol} {vs.label} over {healthy} of {len(vs.servers)} real servers "
            f"({vs.scheduler}); plane {director.plane}; {forwarding}"
        )
        log.info("%s", said)
        return success(said)

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        try:
            vs = virtual_service(res)
        except LvsConfigError as exc:
            return success(f"{exc}: nothing can be running")
        director = self.directors.pop(vs.name, None)
        if director is not None:
            await director.stop()
        error = await nft(removal(vs), timeout=ctx.remaining())
        if error is not None:
            return failure(OCF_ERR_GENERIC, f"lvs {vs.name}: removing table {vs.table}: {error}")
        return success(f"lvs {vs.name}: table {vs.table} removed")

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        try:
            vs = virtual_service(res)
        except LvsConfigError as exc:
            return failure(OCF_ERR_CONFIGURED, str(exc))
        result = await run(["nft", "list", "table", vs.family, vs.table], timeout=ctx.remaining())
        broken = from_result(result, "nft list table")
        if broken is not None:
            return broken
        if result.returncode != 0:
            return failure(OCF_NOT_RUNNING, f"lvs {vs.name}: table {vs.table} is absent")
        director = self.directors.get(vs.name)
        if director is None or director.task is None or director.task.done():
            return failure(OCF_ERR_GENERIC, f"lvs {vs.name}: the health checks are not running on this node")
        healthy = len(director.health.healthy)
        return success(f"lvs {vs.name}: {healthy} of {len(vs.servers)} real servers in rotation ({director.plane})")


class RealServerAgent(Agent):
    """A ``realserver`` row: its ``lvs`` parent does the work. A row starting or stopping on its own while its
    virtual service runs (a reconfiguration added, removed or changed it) is added to or removed from that
    service's director, found by the inherited ``lvs_name``; otherwise there is nothing to do."""

    type = "realserver"

    def __init__(self, directors: dict[str, Director] | None = None) -> None:
        self.directors = DIRECTORS if directors is None else directors

    async def _change(self, res: Node, joins: bool) -> AgentOutcome:
        director = self.directors.get(res.get("lvs_name") or "")
        if director is None:
            return success(f"realserver {res.primary}: its virtual service is not running here")
        try:
            server = real_server(res, director.vs.port)
        except LvsConfigError as exc:
            return failure(OCF_ERR_CONFIGURED, str(exc))
        said = await director.change(server, joins=joins)
        return success(said) if not director.last_error else failure(OCF_ERR_GENERIC, said)

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return await self._change(res, True)

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return await self._change(res, False)

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return success(f"realserver {res.primary}: served by its lvs")
