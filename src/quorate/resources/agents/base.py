"""The contract every resource agent follows, and the plumbing they share.

Theory of operation: an agent manages one kind of resource on *this* node. The runner calls
``await agent.start(node, ctx)``, ``stop(node, ctx)`` or ``status(node, depth, ctx)`` and gets an
`AgentOutcome`: ``ok``, an OCF-style ``rc`` (0 success, 1 generic error, 5 not installed, 7 not running...),
a one-line ``message`` a human can act on, the ``duration``, and two flags the caller must honour:
``self_fence`` (a stop failed on a resource configured to reboot the node rather than leave it half-stopped)
and ``timed_out``. Agents never raise: an unexpected exception becomes a failed outcome saying so.

Every process an agent starts goes through `quorate.system.process.run_agent` (own session, killed as a
group on timeout). Programs that may leave a daemon behind (init scripts, OCF agents) run through
`run_detached`: their output goes to a temporary file instead of a pipe, because a daemon that inherits the
pipe would keep it open and the agent would look hung until its timeout.

`AgentContext` carries what the runner knows and the agent cannot: the time budget for this action
(``timeout``, counted from ``ctx`` creation), the resource's reference count (R-73), this node's cluster name
and a membership test (for HA-LVM ownership), and the per-node state directory for OCF agents (``HA_RSCTMP``).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from quorate.config.rgtree import Node
from quorate.resources.catalogue import ActionSpec
from quorate.system.process import AgentResult, run_agent

OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_UNIMPLEMENTED = 3
OCF_ERR_PERM = 4
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7

OCF_TEXT = {
    0: "success",
    1: "generic error",
    2: "invalid argument(s)",
    3: "function not implemented",
    4: "insufficient privileges",
    5: "program not installed",
    6: "program not configured",
    7: "not running",
}

DEFAULT_RSCTMP = "/run/resource-agents"
MAX_CAPTURE = 64 * 1024


def local_node_name() -> str:
    return socket.gethostname()


@dataclass(frozen=True)
class AgentContext:
    """What one agent call may use. ``timeout`` is the whole action's budget in seconds."""

    timeout: float = 60.0
    refcnt: int = 0
    node_name: str = field(default_factory=local_node_name)
    # Is this cluster node alive (a member of the current view)? None: unknown, assume it is (the safe side).
    is_member: Callable[[str], bool] | None = None
    rsctmp: str = DEFAULT_RSCTMP
    created: float = field(default_factory=time.monotonic)

    def remaining(self, floor: float = 1.0) -> float:
        """Seconds left in this action's budget, never less than ``floor`` (a command needs a moment)."""
        return max(floor, self.created + self.timeout - time.monotonic())

    def member(self, name: str) -> bool:
        return True if self.is_member is None else self.is_member(name)


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    ok: bool
    rc: int | None
    message: str
    duration: float = 0.0
    self_fence: bool = False
    timed_out: bool = False
    output: str = ""

    def timed(self, duration: float) -> AgentOutcome:
        return AgentOutcome(self.ok, self.rc, self.message, duration, self.self_fence, self.timed_out, self.output)


def success(message: str, output: str = "") -> AgentOutcome:
    return AgentOutcome(True, OCF_SUCCESS, message, output=output)


def failure(rc: int | None, message: str, *, output: str = "", self_fence: bool = False) -> AgentOutcome:
    return AgentOutcome(False, rc, message, self_fence=self_fence, output=output)


def from_result(result: AgentResult, what: str) -> AgentOutcome | None:
    """A failed outcome when the command could not run or timed out, else None (the caller reads the code)."""
    if result.error is not None:
        return failure(OCF_ERR_INSTALLED, f"{what}: {result.error}")
    if result.timed_out:
        return AgentOutcome(False, None, f"{what}: timed out after {result.duration:.0f} s, killed", timed_out=True)
    if result.returncode is not None and result.returncode < 0:
        return failure(OCF_ERR_GENERIC, f"{what}: killed by signal {-result.returncode}")
    return None


def summary(text: str, limit: int = 300) -> str:
    """The most useful line(s) of an agent's output: its ``ERROR:`` lines and ``ocf-exit-reason:``, else the last.

    Debian's agents often say the real cause in an ``ERROR:`` log line (``cannot create /run/x``) and then exit
    with a generic reason (``environment is invalid, resource considered stopped``): both are kept, cause first.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reasons = [line.split(":", 1)[1].strip() for line in lines if line.startswith("ocf-exit-reason:")]
    errors = [line.split("ERROR:", 1)[1].strip() for line in lines if "ERROR:" in line]
    chosen: list[str] = []
    for said in [*errors[-2:], *reasons[-1:]]:
        if said and said not in chosen:
            chosen.append(said)
    joined = " / ".join(chosen or lines[-2:])
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


async def run(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> AgentResult:
    """A short helper command (mount, ip, vgs...): output captured through pipes."""
    return await run_agent(list(argv), env=env, timeout=timeout)


async def run_detached(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None, cwd: str | None = None
) -> tuple[AgentResult, str]:
    """Run a program that may leave daemons behind; returns its result and its (bounded) combined output."""
    fd, path = tempfile.mkstemp(prefix="quorate-agent-", suffix=".out")
    os.close(fd)
    try:
        wrapper = ["/bin/sh", "-c", 'out="$1"; shift; exec "$@" >"$out" 2>&1', "quorate-agent", path, *argv]
        result = await run_agent(wrapper, env=env, timeout=timeout, cwd=cwd)
        try:
            with open(path, "rb") as handle:
                output = handle.read(MAX_CAPTURE).decode(errors="replace")
        except OSError:
            output = ""
        return result, output
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def reskey_environment(
    node: Node, ctx: AgentContext, *, depth: int = 0, skip: frozenset[str] = frozenset()
) -> dict[str, str]:
    """``OCF_RESKEY_<attr>`` for every configured, inherited or defaulted attribute (R-81), names kept as is."""
    env: dict[str, str] = {}
    for param in node.spec.params:
        if param.default is not None and param.name not in skip:
            env[f"OCF_RESKEY_{param.name}"] = param.default
    for key, value in node.attrs.items():
        if key not in skip:
            env[f"OCF_RESKEY_{key}"] = value
    env["OCF_RESKEY_RGMANAGER_meta_refcnt"] = str(ctx.refcnt)
    env["OCF_RESKEY_RGMANAGER_meta_timeout"] = str(int(ctx.timeout))
    env["OCF_CHECK_LEVEL"] = str(depth)
    return env


def rgmanager_environment(node: Node, ctx: AgentContext, *, depth: int = 0) -> dict[str, str]:
    """The environment rgmanager gave its agents (R-81), for programs written against it (init scripts too)."""
    env = reskey_environment(node, ctx, depth=depth)
    env.update(
        {
            "OCF_RA_VERSION_MAJOR": "1",
            "OCF_RA_VERSION_MINOR": "0",
            "OCF_ROOT": "/usr/share/cluster",
            "OCF_RESOURCE_INSTANCE": node.label,
            "OCF_RESOURCE_TYPE": node.type,
        }
    )
    return env


class Agent:
    """Base class: subclasses implement ``_start``/``_stop``/``_status``; the public methods add timing and
    turn exceptions into failed outcomes, so the runner never sees an agent raise."""

    type: str = ""

    async def start(self, res: Node, ctx: AgentContext | None = None) -> AgentOutcome:
        return await self._guard("start", self._start(res, ctx or AgentContext()))

    async def stop(self, res: Node, ctx: AgentContext | None = None) -> AgentOutcome:
        return await self._guard("stop", self._stop(res, ctx or AgentContext()))

    async def status(self, res: Node, depth: int = 0, ctx: AgentContext | None = None) -> AgentOutcome:
        return await self._guard("status", self._status(res, depth, ctx or AgentContext()))

    async def actions(self, res: Node) -> tuple[ActionSpec, ...]:
        """The action table (timeouts, status depths and intervals) for this resource."""
        return res.actions

    async def _guard(self, action: str, call: Awaitable[AgentOutcome]) -> AgentOutcome:
        began = time.monotonic()
        try:
            outcome = await call
        except Exception as exc:  # an agent bug must not take the runner down
            outcome = failure(OCF_ERR_GENERIC, f"{self.type} {action}: internal error: {exc!r}")
        return outcome.timed(time.monotonic() - began)

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        raise NotImplementedError

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        raise NotImplementedError

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        raise NotImplementedError


class ServiceAgent(Agent):
    """The ``service`` node itself: nothing to run (quorate has no NFS lock handling), always fine."""

    type = "service"

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return success(f"service {res.primary}")

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return success(f"service {res.primary}")

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return success(f"service {res.primary}")


class MissingAgent(Agent):
    """A type quorate has no agent for (apache, mysql...): it cannot start, so it is never running."""

    def __init__(self, rtype: str) -> None:
        self.type = rtype

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return failure(OCF_ERR_INSTALLED, f"no agent for resource type {self.type}")

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return success(f"no agent for resource type {self.type}: nothing can be running")

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return failure(OCF_ERR_INSTALLED, f"no agent for resource type {self.type}")
