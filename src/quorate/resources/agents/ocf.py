"""``ocf``: any OCF resource agent, unchanged, such as those of Debian's resource-agents (docs/design.md, OCF
resource agents).

Theory of operation: ``<ocf name="web-ip" agent="ocf:heartbeat:IPaddr2" ip="10.0.0.50" cidr_netmask="24"/>``
runs ``$OCF_ROOT/resource.d/heartbeat/IPaddr2`` with every attribute except ``name`` and ``agent`` as
``OCF_RESKEY_<attr>``. ``agent`` may also be ``heartbeat:IPaddr2`` or just ``IPaddr2`` (provider heartbeat).
The environment is the one the OCF spec and resource-agents expect: ``OCF_ROOT``, ``OCF_RA_VERSION_MAJOR/MINOR``,
``OCF_RESOURCE_INSTANCE`` (the resource's name: agents build state-file names from it, so it is kept plain),
``OCF_RESOURCE_TYPE``/``PROVIDER``, ``OCF_CHECK_LEVEL``, Pacemaker's ``OCF_RESKEY_CRM_meta_timeout`` and
``..._interval`` in milliseconds (agents size their waits from them), and ``HA_RSCTMP``, a per-node state
directory that the agent needs to exist (created here).

Actions are start, stop and ``monitor`` (the OCF name; rgmanager's ``status``). Exit codes are OCF's: 0 is
success; for monitor 7 means cleanly stopped (a failed status check), anything else is an error. The agent's
``ocf-exit-reason:`` line becomes the message. The action table (timeouts, monitor depths and intervals) comes
from the agent's own meta-data, read once per agent, with the resource's ``<action>`` overrides on top.

`OcfAgent.plan` builds a call (program, environment, working directory) without running it; `_call` runs it.
The rgmanager application types (``apache``, ``mysql``...) reuse all of this through the class's hooks: they
name a fixed agent and compute its parameters from rgmanager's attributes (`quorate.resources.agents.app`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from lxml import etree

from quorate.config.rgtree import Node, apply_overrides
from quorate.resources.agents.base import (
    OCF_ERR_ARGS,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_NOT_RUNNING,
    OCF_TEXT,
    Agent,
    AgentContext,
    AgentOutcome,
    failure,
    from_result,
    run,
    run_detached,
    success,
    summary,
)
from quorate.resources.catalogue import ActionSpec

DEFAULT_OCF_ROOT = "/usr/lib/ocf"
OWN_ATTRIBUTES = frozenset({"name", "agent"})

log = logging.getLogger("quorated")


def parse_agent(spec: str) -> tuple[str, str] | None:
    """``ocf:provider:type`` / ``provider:type`` / ``type`` → (provider, type)."""
    parts = [p for p in spec.strip().split(":") if p]
    if parts and parts[0] == "ocf":
        parts = parts[1:]
    if len(parts) == 1:
        return "heartbeat", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def _seconds(text: str | None) -> int:
    """OCF times: ``20``, ``20s``, ``2m``, ``1h``, ``1d``, or milliseconds ``500ms`` (rounded up)."""
    if not text:
        return 0
    text = text.strip().lower()
    units = (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400))
    for suffix, factor in units:
        if text.endswith(suffix) and text[: -len(suffix)].strip().isdigit():
            value = int(text[: -len(suffix)]) * factor
            return max(1, int(value)) if value else 0
    return int(text) if text.isdigit() else 0


def parse_metadata(xml: str) -> tuple[ActionSpec, ...]:
    """start/stop timeouts and monitor depths/intervals (as ``status``) from an agent's meta-data."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(xml.encode(), parser)
    actions = []
    for element in root.iter("action"):
        name = element.get("name")
        if name not in ("start", "stop", "monitor"):
            continue
        depth_text = (element.get("depth") or "0").strip()
        actions.append(
            ActionSpec(
                "status" if name == "monitor" else name,
                timeout=_seconds(element.get("timeout")),
                interval=_seconds(element.get("interval")) if name == "monitor" else 0,
                depth=int(depth_text) if depth_text.isdigit() else 0,
            )
        )
    return tuple(actions)


@dataclass(frozen=True, slots=True)
class OcfProgram:
    """An installed OCF agent: its path and its ``provider:type`` name."""

    path: str
    provider: str
    type: str

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.type}"


@dataclass(frozen=True)
class OcfCall:
    """One planned run of an OCF agent: what `OcfAgent` would execute, built without executing anything."""

    program: OcfProgram
    action: str
    env: dict[str, str]
    cwd: str | None = None


class OcfAgent(Agent):
    """Runs one OCF agent per resource. The hooks (`program`, `parameters`, `instance`, `check_level`, `workdir`,
    `budget`) say what to run and with which parameters; agents that map another element's attributes onto an
    OCF agent (the application types) override them and keep the calling convention, meta-data handling and
    exit-code reading of this class."""

    type = "ocf"

    def __init__(self, ocf_root: str = DEFAULT_OCF_ROOT) -> None:
        self.ocf_root = ocf_root
        self._metadata: dict[str, tuple[ActionSpec, ...]] = {}

    # ------------------------------------------------------------------ hooks
    def locate(self, provider: str, rtype: str) -> OcfProgram | AgentOutcome:
        path = os.path.join(self.ocf_root, "resource.d", provider, rtype)
        if not os.access(path, os.X_OK):
            return failure(OCF_ERR_INSTALLED, f"OCF agent {provider}:{rtype} is not installed ({path})")
        return OcfProgram(path, provider, rtype)

    def program(self, res: Node) -> OcfProgram | AgentOutcome:
        """The agent program named by the resource's ``agent`` attribute."""
        spec = res.get("agent") or ""
        parsed = parse_agent(spec)
        if parsed is None:
            return failure(OCF_ERR_ARGS, f"agent {spec!r} is not ocf:provider:type")
        return self.locate(*parsed)

    def parameters(self, res: Node, action: str) -> dict[str, str] | AgentOutcome:
        """The instance parameters (``OCF_RESKEY_<name>`` without the prefix), or why there are none."""
        return {k: v for k, v in res.attrs.items() if k not in OWN_ATTRIBUTES}

    def instance(self, res: Node) -> str:
        """``OCF_RESOURCE_INSTANCE``: agents build state-file names from it, so it stays the plain name."""
        return res.primary

    def check_level(self, res: Node, depth: int) -> int:
        """``OCF_CHECK_LEVEL`` for a status check at ``depth``."""
        return depth

    def workdir(self, res: Node) -> str | None:
        return None

    def budget(self, res: Node, action: str, declared: int, ctx: AgentContext) -> float:
        """Seconds the agent may take, as ``OCF_RESKEY_CRM_meta_timeout``: the whole action's budget."""
        return ctx.timeout

    # ---------------------------------------------------------------- meta-data
    async def declared(self, program: OcfProgram, res: Node) -> tuple[ActionSpec, ...]:
        """The action table of the agent's own meta-data (read once per program), or the type's static one."""
        if program.path not in self._metadata:
            result = await run([program.path, "meta-data"], timeout=10, env={"OCF_ROOT": self.ocf_root})
            problem = ""
            if not result.ok:
                problem = "timed out after 10 s" if result.timed_out else (result.error or f"exit {result.returncode}")
            found: tuple[ActionSpec, ...] = ()
            if result.ok:
                try:
                    found = parse_metadata(result.stdout)
                except etree.XMLSyntaxError as exc:
                    problem = f"not XML ({exc})"
            if not found:
                log.warning(
                    "ocf agent %s: meta-data unusable (%s); its timeouts are the resource type's defaults",
                    program.name,
                    problem or "no start, stop or monitor action",
                )
            self._metadata[program.path] = found or res.spec.actions
        return self._metadata[program.path]

    async def actions(self, res: Node) -> tuple[ActionSpec, ...]:
        program = self.program(res)
        if isinstance(program, AgentOutcome):
            return res.actions
        return apply_overrides(await self.declared(program, res), res.overrides)

    # ------------------------------------------------------------------ calling
    def environment(
        self,
        res: Node,
        program: OcfProgram,
        params: dict[str, str],
        ctx: AgentContext,
        *,
        depth: int = 0,
        interval: int = 0,
        budget: float | None = None,
    ) -> dict[str, str]:
        env = {f"OCF_RESKEY_{k}": v for k, v in params.items()}
        env.update(
            {
                "OCF_ROOT": self.ocf_root,
                "OCF_RA_VERSION_MAJOR": "1",
                "OCF_RA_VERSION_MINOR": "0",
                "OCF_RESOURCE_INSTANCE": self.instance(res),
                "OCF_RESOURCE_TYPE": program.type,
                "OCF_RESOURCE_PROVIDER": program.provider,
                "OCF_CHECK_LEVEL": str(depth),
                "OCF_RESKEY_CRM_meta_timeout": str(int((ctx.timeout if budget is None else budget) * 1000)),
                "OCF_RESKEY_CRM_meta_interval": str(interval * 1000),
                "OCF_RESKEY_RGMANAGER_meta_refcnt": str(ctx.refcnt),
                "HA_RSCTMP": ctx.rsctmp,
            }
        )
        return env

    async def plan(self, res: Node, action: str, ctx: AgentContext, depth: int = 0) -> OcfCall | AgentOutcome:
        """What `action` would run (``monitor`` for status at ``depth``), or why it cannot run."""
        program = self.program(res)
        if isinstance(program, AgentOutcome):
            return program
        params = self.parameters(res, action)
        if isinstance(params, AgentOutcome):
            return params
        table = await self.actions(res)
        name = "status" if action == "monitor" else action
        spec = next((a for a in table if a.name == name and (name != "status" or a.depth == depth)), None)
        interval = spec.interval if spec is not None and action == "monitor" else 0
        budget = self.budget(res, name, spec.timeout if spec is not None else 0, ctx)
        level = self.check_level(res, depth) if action == "monitor" else 0
        env = self.environment(res, program, params, ctx, depth=level, interval=interval, budget=budget)
        return OcfCall(program, action, env, self.workdir(res))

    async def _call(self, res: Node, action: str, ctx: AgentContext, depth: int = 0) -> AgentOutcome:
        call = await self.plan(res, action, ctx, depth)
        if isinstance(call, AgentOutcome):
            return call
        try:
            os.makedirs(ctx.rsctmp, exist_ok=True)
        except OSError as exc:
            return failure(OCF_ERR_GENERIC, f"cannot create HA_RSCTMP {ctx.rsctmp}: {exc.strerror}")
        result, output = await run_detached(
            [call.program.path, action], env=call.env, timeout=ctx.remaining(), cwd=call.cwd
        )
        what = f"{call.program.name} {action}"
        broken = from_result(result, what)
        if broken is not None:
            return AgentOutcome(False, broken.rc, broken.message, timed_out=broken.timed_out, output=output)
        code = result.returncode
        assert code is not None
        if code == 0:
            return success(f"{what}: ok", output)
        said = summary(output)
        if action == "monitor" and code == OCF_NOT_RUNNING:
            return failure(code, f"{what}: not running", output=output)
        meaning = OCF_TEXT.get(code, "unknown error")
        return failure(code, f"{what} returned {code} ({meaning})" + (f": {said}" if said else ""), output=output)

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return await self._call(res, "start", ctx)

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        return await self._call(res, "stop", ctx)

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        return await self._call(res, "monitor", ctx, depth)
