"""rgmanager's application types (``<apache>``, ``<mysql>``...) run through Debian's OCF agents, unchanged.

Theory of operation: rgmanager shipped one shell agent per application it knew (apache.sh, mysql.sh...).
Debian ships the maintained equivalents in resource-agents (``/usr/lib/ocf/resource.d/heartbeat``). An
`AppAgent` keeps the administrator's element and runs the OCF agent an `AppMapping` names, with parameters
computed from the element's attributes. Calling convention, meta-data, exit codes and ``ocf-exit-reason``
are `OcfAgent`'s; each ``app_<type>`` module holds one mapping and documents it attribute by attribute.

Parameters reach the agent as ``OCF_RESKEY_<name>``, built in three layers (later ones win):

1. every attribute of the element, as rgmanager passed them (the inherited ``service_name`` among them);
   an OCF agent ignores the names it does not know;
2. the mapped parameters, with Debian's defaults where the element says nothing;
3. the attributes the mapping does not read: an OCF parameter written on the element (``statusurl`` on
   ``<apache>``, ``test_passwd`` on ``<mysql>``) reaches the agent unchanged and beats a derived value.

Timeouts: start and stop take the OCF agent's declared timeouts (rgmanager's application agents declared
none); a mapping may set them from the element (``shutdown_wait`` is the stop timeout, plus `STOP_MARGIN`
for the agent's own escalation); ``<action>`` children beat both. Status checks keep rgmanager's intervals
and depths (the resource's action table); the mapping says which ``OCF_CHECK_LEVEL`` each depth runs,
``0`` unless the OCF agent has a deeper check that works without extra settings. Each call gets its action's
timeout as ``OCF_RESKEY_CRM_meta_timeout``, as under Pacemaker, so the agent sizes its waits (and when it
escalates to SIGKILL) from ``shutdown_wait`` rather than from the runner's outer ceiling.

When things are missing:

* the OCF program (resource-agents not installed): every action answers OCF 5 with "install the Debian
  package resource-agents"; the runner counts a stop of a resource this node never started as done (R-82);
* a value the mapping needs (`MappingProblem`): start and status fail with OCF 6, "not configured" (the same
  cluster.conf is on every node, so no node would do better); stop answers OCF 5, which the runner turns
  into success only when this node never started the resource. A configuration typo therefore never
  leaves a node to be fenced, and a resource that did start is never reported stopped without a stop.
"""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from quorate.config.rgtree import Node, apply_overrides
from quorate.resources.agents.base import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_INSTALLED,
    AgentContext,
    AgentOutcome,
    failure,
)
from quorate.resources.agents.ocf import DEFAULT_OCF_ROOT, OcfAgent, OcfProgram
from quorate.resources.catalogue import ActionSpec
from quorate.system.processes import topmost, with_arguments

# Seconds added to ``shutdown_wait`` for the stop timeout: Debian's agents escalate (SIGKILL, a last check)
# inside their timeout, after waiting for a clean stop.
STOP_MARGIN = 10
PACKAGE = "resource-agents"
# rgmanager's stop: SIGTERM, then this long at most (its agents' default shutdown_wait), watched this often.
DEFAULT_SHUTDOWN_WAIT = 20
TERM_POLL = 0.05


async def terminate(program: str, pairs: tuple[tuple[str, str], ...], *, wait: float) -> bool:
    """SIGTERM the main process(es) of ``program`` with ``pairs`` and wait until every process of it is gone.

    True when nothing of it is left (or nothing ran); False after ``wait`` seconds with something left, which
    the agent's own stop then handles.
    """
    for info in topmost(with_arguments(program, *pairs)):
        try:
            os.kill(info.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + max(0.0, wait)
    while with_arguments(program, *pairs):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(TERM_POLL)
    return True


class MappingProblem(Exception):
    """The element lacks a value its OCF agent needs; the text says which and where to set it."""


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(1024 * 1024)
    except OSError:
        return None


@dataclass(frozen=True)
class Host:
    """What a mapping may look at on this machine: Debian's defaults depend on what is installed (MariaDB's
    ``mariadbd-safe`` or ``mysqld_safe``, PostgreSQL's version directory). Tests pass fakes."""

    exists: Callable[[str], bool] = os.path.exists
    matching: Callable[[str], list[str]] = glob.glob
    read: Callable[[str], str | None] = _read_text

    def first(self, candidates: Iterable[str], fallback: str) -> str:
        """The first candidate path that exists here, else ``fallback``."""
        return next((path for path in candidates if self.exists(path)), fallback)


def value(res: Node, attr: str) -> str | None:
    """The element's own or inherited value, stripped; None when absent or blank. Deliberately not
    `Node.get`: where rgmanager's default names a Red Hat path, the mapping supplies Debian's instead."""
    text = res.attrs.get(attr)
    return text.strip() if text is not None and text.strip() else None


def seconds(res: Node, attr: str) -> int | None:
    """A whole number of seconds (``shutdown_wait="30"``), None when not set."""
    text = value(res, attr)
    if text is None:
        return None
    if not text.isdigit():
        raise MappingProblem(f"{attr}={text!r} is not a whole number of seconds")
    return int(text)


def lenient_seconds(res: Node, attr: str) -> int | None:
    """`seconds` for the action table, which cannot fail: a bad value is refused when the agent runs."""
    try:
        return seconds(res, attr)
    except MappingProblem:
        return None


def no_words(res: Node, attr: str, text: str) -> str:
    """Paths that Debian's shell agents split at blanks must not contain any."""
    if any(ch.isspace() for ch in text):
        raise MappingProblem(f"{attr}={text!r} contains blanks, which the OCF agent would split into words")
    return text


def stop_after_shutdown_wait(res: Node) -> int | None:
    wait = lenient_seconds(res, "shutdown_wait")
    return None if wait is None else wait + STOP_MARGIN


def no_timeout(res: Node) -> int | None:
    return None


def basic_check(res: Node, depth: int) -> int:
    return 0


def in_place(res: Node) -> str | None:
    return None


@dataclass(frozen=True)
class AppMapping:
    """One rgmanager type → one OCF agent. ``reads`` lists the element's attributes ``parameters`` consumes
    (the others pass through and win, layer 3 above)."""

    type: str
    agent: str
    parameters: Callable[[Node, Host], dict[str, str]]
    reads: frozenset[str] = field(default_factory=frozenset)
    provider: str = "heartbeat"
    package: str = PACKAGE
    start_timeout: Callable[[Node], int | None] = no_timeout
    stop_timeout: Callable[[Node], int | None] = stop_after_shutdown_wait
    check_level: Callable[[Node, int], int] = basic_check
    workdir: Callable[[Node], str | None] = in_place
    # The server's own process, from the mapped parameters: (program, (option, value) pairs on its command
    # line). When set, a stop first does what rgmanager's agent did: SIGTERM to that process and a wait of up
    # to ``shutdown_wait`` (polled every `TERM_POLL` s), then the OCF agent's stop, which finds it gone and
    # cleans up (or escalates if it is not).
    own_process: Callable[[dict[str, str]], tuple[str, tuple[tuple[str, str], ...]]] | None = None


class AppAgent(OcfAgent):
    """An rgmanager application element run by the OCF agent of its `AppMapping`."""

    def __init__(self, mapping: AppMapping, ocf_root: str = DEFAULT_OCF_ROOT, host: Host | None = None) -> None:
        super().__init__(ocf_root)
        self.mapping = mapping
        self.type = mapping.type
        self.host = host or Host()

    def locate(self, provider: str, rtype: str) -> OcfProgram | AgentOutcome:
        found = super().locate(provider, rtype)
        if isinstance(found, AgentOutcome):
            return failure(found.rc, f"{found.message}: install the Debian package {self.mapping.package}")
        return found

    def program(self, res: Node) -> OcfProgram | AgentOutcome:
        return self.locate(self.mapping.provider, self.mapping.agent)

    def parameters(self, res: Node, action: str) -> dict[str, str] | AgentOutcome:
        try:
            mapped = self.mapping.parameters(res, self.host)
        except MappingProblem as problem:
            if action == "stop":
                return failure(OCF_ERR_INSTALLED, f"cannot stop {res.label}: {problem}")
            return failure(OCF_ERR_CONFIGURED, f"{res.label}: {problem}")
        passed = {k: v for k, v in res.attrs.items() if k not in self.mapping.reads}
        return {**res.attrs, **mapped, **passed}

    def check_level(self, res: Node, depth: int) -> int:
        return self.mapping.check_level(res, depth)

    def workdir(self, res: Node) -> str | None:
        """The mapping's directory when it exists (else the agent runs where we are and reports the problem)."""
        path = self.mapping.workdir(res)
        return path if path is not None and self.host.exists(path) else None

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        if self.mapping.own_process is not None:
            params = self.parameters(res, "stop")
            if not isinstance(params, AgentOutcome):
                wait = lenient_seconds(res, "shutdown_wait")
                wait = DEFAULT_SHUTDOWN_WAIT if wait is None else wait
                await terminate(*self.mapping.own_process(params), wait=min(wait, ctx.remaining() - STOP_MARGIN))
        return await super()._stop(res, ctx)

    def budget(self, res: Node, action: str, declared: int, ctx: AgentContext) -> float:
        return min(float(declared), ctx.timeout) if declared > 0 else ctx.timeout

    async def actions(self, res: Node) -> tuple[ActionSpec, ...]:
        """Start/stop from the OCF agent (or the mapping), status from rgmanager's table; ``<action>`` last."""
        program = self.program(res)
        declared = res.spec.actions if isinstance(program, AgentOutcome) else await self.declared(program, res)
        start = next((a.timeout for a in declared if a.name == "start"), 0)
        stop = next((a.timeout for a in declared if a.name == "stop"), 0)
        start = self.mapping.start_timeout(res) or start
        stop = self.mapping.stop_timeout(res) or stop
        checks = tuple(a for a in res.actions if a.name == "status")
        return apply_overrides((ActionSpec("start", start), ActionSpec("stop", stop), *checks), res.overrides)
