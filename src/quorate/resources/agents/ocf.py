"""``ocf``: any OCF resource agent, unchanged, such as those of Debian's resource-agents (interfaces 1b).

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
"""

from __future__ import annotations

import os

from lxml import etree

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
from quorate.resources.tree import Node, apply_overrides

DEFAULT_OCF_ROOT = "/usr/lib/ocf"
OWN_ATTRIBUTES = frozenset({"name", "agent"})


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


class OcfAgent(Agent):
    type = "ocf"

    def __init__(self, ocf_root: str = DEFAULT_OCF_ROOT) -> None:
        self.ocf_root = ocf_root
        self._metadata: dict[str, tuple[ActionSpec, ...]] = {}

    def _program(self, res: Node) -> tuple[str, str, str] | AgentOutcome:
        """(path, provider, type) of the agent program."""
        spec = res.get("agent") or ""
        parsed = parse_agent(spec)
        if parsed is None:
            return failure(OCF_ERR_ARGS, f"agent {spec!r} is not ocf:provider:type")
        provider, rtype = parsed
        path = os.path.join(self.ocf_root, "resource.d", provider, rtype)
        if not os.access(path, os.X_OK):
            return failure(OCF_ERR_INSTALLED, f"OCF agent {provider}:{rtype} is not installed ({path})")
        return path, provider, rtype

    def _environment(
        self, res: Node, ctx: AgentContext, provider: str, rtype: str, depth: int, interval: int
    ) -> dict[str, str]:
        env = {f"OCF_RESKEY_{k}": v for k, v in res.attrs.items() if k not in OWN_ATTRIBUTES}
        env.update(
            {
                "OCF_ROOT": self.ocf_root,
                "OCF_RA_VERSION_MAJOR": "1",
                "OCF_RA_VERSION_MINOR": "0",
                "OCF_RESOURCE_INSTANCE": res.primary,
                "OCF_RESOURCE_TYPE": rtype,
                "OCF_RESOURCE_PROVIDER": provider,
                "OCF_CHECK_LEVEL": str(depth),
                "OCF_RESKEY_CRM_meta_timeout": str(int(ctx.timeout * 1000)),
                "OCF_RESKEY_CRM_meta_interval": str(interval * 1000),
                "OCF_RESKEY_RGMANAGER_meta_refcnt": str(ctx.refcnt),
                "HA_RSCTMP": ctx.rsctmp,
            }
        )
        return env

    async def actions(self, res: Node) -> tuple[ActionSpec, ...]:
        program = self._program(res)
        if isinstance(program, AgentOutcome):
            return res.actions
        path, _provider, _rtype = program
        if path not in self._metadata:
            result = await run([path, "meta-data"], timeout=10, env={"OCF_ROOT": self.ocf_root})
            try:
                declared = parse_metadata(result.stdout) if result.ok else ()
            except etree.XMLSyntaxError:
                declared = ()
            self._metadata[path] = declared or res.spec.actions
        return apply_overrides(self._metadata[path], res.overrides)

    async def _call(self, res: Node, action: str, ctx: AgentContext, depth: int = 0) -> AgentOutcome:
        program = self._program(res)
        if isinstance(program, AgentOutcome):
            return program
        path, provider, rtype = program
        try:
            os.makedirs(ctx.rsctmp, exist_ok=True)
        except OSError as exc:
            return failure(OCF_ERR_GENERIC, f"cannot create HA_RSCTMP {ctx.rsctmp}: {exc.strerror}")
        interval = 0
        if action == "monitor":
            interval = next((a.interval for a in await self.actions(res) if a.name == "status" and a.depth == depth), 0)
        env = self._environment(res, ctx, provider, rtype, depth, interval)
        result, output = await run_detached([path, action], env=env, timeout=ctx.remaining())
        what = f"{provider}:{rtype} {action}"
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
