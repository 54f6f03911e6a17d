"""``systemd``: a systemd unit started, stopped and checked with systemctl (docs/design.md, systemd).

Theory of operation: ``<systemd name="web" unit="nginx.service"/>`` (``unit`` defaults to ``<name>.service``)
runs ``systemctl start|stop <unit>`` and, for status, ``systemctl is-active --quiet <unit>`` (0 = active,
anything else = not running, OCF 7). systemd must be this machine's init: when PID 1 is something else
(a container, a test machine) start and status fail with a message naming PID 1, and stop succeeds because
no unit can be running. The unit must not be enabled at boot (systemd would start it behind the cluster's
back); that is the administrator's job, the agent only warns nobody.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from quorate.config.rgtree import Node
from quorate.resources.agents.base import (
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
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


def systemd_is_init() -> bool:
    """sd_booted(3): systemd created /run/systemd/system."""
    return os.path.isdir("/run/systemd/system")


def init_name() -> str:
    try:
        with open("/proc/1/comm") as handle:
            return handle.read().strip() or "unknown"
    except OSError:
        return "unknown"


def unit_of(res: Node) -> str:
    unit = (res.get("unit") or res.primary).strip()
    return unit if "." in unit else f"{unit}.service"


class SystemdAgent(Agent):
    type = "systemd"

    def __init__(self, booted: Callable[[], bool] = systemd_is_init) -> None:
        self.booted = booted

    def _absent(self, unit: str, verb: str) -> AgentOutcome:
        return failure(
            OCF_ERR_INSTALLED,
            f"systemd is not running as PID 1 on this node (PID 1 is {init_name()!r}): cannot {verb} {unit}",
        )

    def _running(self) -> bool:
        return self.booted()

    def unit(self, res: Node) -> str:
        """The unit this resource manages (a subclass may fix it)."""
        return unit_of(res)

    async def _systemctl(self, verb: str, unit: str, ctx: AgentContext) -> AgentOutcome:
        result = await run(["systemctl", verb, unit], timeout=ctx.remaining())
        broken = from_result(result, f"systemctl {verb} {unit}")
        if broken is not None:
            return broken
        if result.returncode != 0:
            return failure(OCF_ERR_GENERIC, f"systemctl {verb} {unit} failed: {summary(result.stderr)}")
        return success(f"systemctl {verb} {unit}: ok")

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        unit = self.unit(res)
        if not self._running():
            return self._absent(unit, "start")
        return await self._systemctl("start", unit, ctx)

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        unit = self.unit(res)
        if not self._running():
            return success(f"systemd is not PID 1 here: {unit} cannot be running")
        return await self._systemctl("stop", unit, ctx)

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        unit = self.unit(res)
        if not self._running():
            return self._absent(unit, "check")
        result = await run(["systemctl", "is-active", unit], timeout=ctx.remaining())
        broken = from_result(result, f"systemctl is-active {unit}")
        if broken is not None:
            return broken
        state = result.stdout.strip() or "unknown"
        if result.returncode == 0:
            return success(f"{unit} is {state}")
        return failure(OCF_NOT_RUNNING, f"{unit} is {state}")
