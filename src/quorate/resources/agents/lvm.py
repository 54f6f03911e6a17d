"""``lvm``: HA-LVM, a volume group (or one logical volume of it) active on one node at a time (R-84, V-10).

Theory of operation: quorate uses the *tagging* variant of HA-LVM (RHCS 5's), which needs no clvmd. A VG is
owned by the node whose name is in the VG's tags.

* **start**: device-mapper must be present, or no LV can ever be activated here: "device-mapper is not available
  on this node: cannot activate LV vg/lv", and nothing is touched. The VG must exist (``vgs``). If it carries
  another node's tag (or a foreign LVM system ID) and that node is alive (``ctx.is_member``; unknown membership
  counts as alive), the start is refused: the owner may still have the volume open. The tags of dead owners
  are stripped (the "steal"), this node's tag is added (the claim), and the LV (``lv_name``) or the whole VG is
  activated with ``activation/volume_list = ["@<node>"]`` given on the command line, so LVM itself refuses to
  activate a volume this node does not own even if the tag was stolen under our feet. If the activation fails,
  the claim is released again. The whole claim runs under the VG's cluster lock, EX on ``lvm/<vg>``, the lock
  `quorate lvm` takes for metadata commands (`vg_lock`), so two nodes can never claim one VG at once.
* **stop**: deactivate (when device-mapper exists: nothing can be active otherwise), then remove this node's
  tag. A failed deactivation fails the stop (``self_fence`` is reported if set): the volume may be in use.
* **status**: this node's tag is on the VG and the LV (or every LV of the VG) is active.

All LVM commands go through ``self.lvm`` (by default `run` with ``LVM_SUPPRESS_FD_WARNINGS``), which tests
replace by a fake to exercise the ownership handover without real volumes; ``self.dm_available`` likewise.
On a machine without device-mapper the metadata side (vgs, tags) still works on real PVs (loop devices).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from quorate.config.names import LVM_TAG, lvm_name_problem
from quorate.config.rgtree import Node
from quorate.resources.agents.base import (
    OCF_ERR_ARGS,
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
from quorate.resources.agents.vg_lock import ClaimLock, VgLockError, claim_lock
from quorate.system.process import AgentResult

LvmRunner = Callable[[Sequence[str], float], Awaitable[AgentResult]]
LVM_ENV = {"LVM_SUPPRESS_FD_WARNINGS": "1"}


async def run_lvm(argv: Sequence[str], timeout: float) -> AgentResult:
    return await run(argv, timeout=timeout, env=LVM_ENV)


def device_mapper_available() -> bool:
    """The kernel driver answers: listed in /proc/misc and /dev/mapper/control can be opened."""
    try:
        with open("/proc/misc") as handle:
            if not any(line.split()[-1:] == ["device-mapper"] for line in handle):
                return False
        fd = os.open("/dev/mapper/control", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


@dataclass(frozen=True, slots=True)
class VolumeGroup:
    name: str
    tags: tuple[str, ...]
    systemid: str
    lvs: tuple[tuple[str, str], ...] = ()  # (lv name, lv_attr)

    def active(self, lv: str | None) -> bool:
        """The LV (or every LV) has 'a' in the 5th lv_attr column; a VG without LVs is never active."""
        chosen = [attr for name, attr in self.lvs if lv is None or name == lv]
        return bool(chosen) and all(len(attr) > 4 and attr[4] == "a" for attr in chosen)

    def any_active(self, lv: str | None) -> bool:
        return any(len(attr) > 4 and attr[4] == "a" for name, attr in self.lvs if lv is None or name == lv)


class LvmAgent(Agent):
    type = "lvm"

    def __init__(
        self,
        lvm: LvmRunner = run_lvm,
        dm_available: Callable[[], bool] = device_mapper_available,
        claim: ClaimLock = claim_lock,
    ) -> None:
        self.lvm = lvm
        self.dm_available = dm_available
        self.claim = claim

    async def _vg(self, name: str, ctx: AgentContext) -> VolumeGroup | AgentOutcome | None:
        """The VG's tags, system ID and LVs; None when it does not exist."""
        fields = "vg_name,vg_tags,vg_systemid"
        result = await self.lvm(["vgs", "--noheadings", "--separator", "|", "-o", fields, "--", name], ctx.remaining())
        broken = from_result(result, "vgs")
        if broken is not None:
            return broken
        if result.returncode != 0:
            text = result.stderr
            if "not found" in text or "No volume groups found" in text:
                return None
            return failure(OCF_ERR_GENERIC, f"vgs {name} failed: {summary(text)}")
        line = next((ln.strip() for ln in result.stdout.splitlines() if ln.strip()), "")
        parts = [*line.split("|"), "", ""]
        tags = tuple(t for t in parts[1].strip().split(",") if t)
        lvs_result = await self.lvm(
            ["lvs", "--noheadings", "--separator", "|", "-o", "lv_name,lv_attr", "--", name], ctx.remaining()
        )
        lvs = []
        if lvs_result.ok:
            for row in lvs_result.stdout.splitlines():
                cells = row.strip().split("|")
                if len(cells) >= 2 and cells[0]:
                    lvs.append((cells[0].strip(), cells[1].strip()))
        return VolumeGroup(parts[0].strip(), tags, parts[2].strip(), tuple(lvs))

    @staticmethod
    def _names(res: Node) -> tuple[str, str | None, str]:
        vg = (res.get("vg_name") or "").strip()
        lv = (res.get("lv_name") or "").strip() or None
        return vg, lv, f"LV {vg}/{lv}" if lv else f"VG {vg}"

    async def _change(self, argv: list[str], what: str, ctx: AgentContext) -> AgentOutcome | None:
        result = await self.lvm(argv, ctx.remaining())
        broken = from_result(result, what)
        if broken is not None:
            return broken
        if result.returncode != 0:
            return failure(OCF_ERR_GENERIC, f"{what} failed: {summary(result.stderr)}")
        return None

    def _activation(self, me: str, vg: str, lv: str | None, on: bool) -> list[str]:
        config = f'activation {{ volume_list = [ "@{me}" ] }}'
        flag = "-ay" if on else "-an"
        if lv:
            return ["lvchange", flag, "--config", config, "--", f"{vg}/{lv}"]
        return ["vgchange", flag, "--config", config, "--", vg]

    @staticmethod
    def _refusal(res: Node, ctx: AgentContext) -> AgentOutcome | None:
        """Names LVM would misread (an option, a broken --config string): the loader refuses them already,
        this keeps a tree built by other means from reaching an LVM command line with them."""
        vg_name, lv, _ = LvmAgent._names(res)
        for attr, value in (("vg_name", vg_name), ("lv_name", lv)):
            why = lvm_name_problem(value) if value else None
            if why is not None:
                return failure(OCF_ERR_ARGS, f"{attr}: {why}")
        if not LVM_TAG.fullmatch(ctx.node_name):
            return failure(OCF_ERR_ARGS, f"node name {ctx.node_name!r} cannot be an LVM tag")
        return None

    async def _start(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        """The claim runs under the VG's cluster lock (EX on lvm/<vg>), so two nodes cannot claim it at once."""
        vg_name, _lv, what = self._names(res)
        if not vg_name:
            return failure(OCF_ERR_ARGS, "no vg_name given")
        refused = self._refusal(res, ctx)
        if refused is not None:
            return refused
        if not self.dm_available():  # the root cause, whatever else is wrong: say it first, touch nothing
            return failure(OCF_ERR_INSTALLED, f"device-mapper is not available on this node: cannot activate {what}")
        try:
            async with self.claim(vg_name, ctx.remaining()):
                return await self._claim(res, ctx)
        except VgLockError as exc:
            return failure(OCF_ERR_GENERIC, str(exc))

    async def _claim(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        vg_name, lv, what = self._names(res)
        me = ctx.node_name
        vg = await self._vg(vg_name, ctx)
        if isinstance(vg, AgentOutcome):
            return vg
        if vg is None:
            return failure(OCF_ERR_GENERIC, f"volume group {vg_name} not found")
        if vg.systemid and vg.systemid != me:
            return failure(OCF_ERR_GENERIC, f"volume group {vg_name} belongs to system ID {vg.systemid}; refusing it")
        others = [t for t in vg.tags if t != me]
        alive = [t for t in others if ctx.member(t)]
        if alive:
            return failure(OCF_ERR_GENERIC, f"volume group {vg_name} is owned by live node {alive[0]}; refusing it")
        if lv and lv not in {name for name, _ in vg.lvs}:
            return failure(OCF_ERR_GENERIC, f"logical volume {vg_name}/{lv} not found")
        for owner in others:  # dead owners: take the VG over
            failed = await self._change(["vgchange", "--deltag", owner, "--", vg_name], f"removing {owner}'s tag", ctx)
            if failed is not None:
                return failed
        if me not in vg.tags:
            failed = await self._change(["vgchange", "--addtag", me, "--", vg_name], f"tagging {vg_name} for {me}", ctx)
            if failed is not None:
                return failed
        failed = await self._change(self._activation(me, vg_name, lv, True), f"activating {what}", ctx)
        if failed is not None:
            await self._change(["vgchange", "--deltag", me, "--", vg_name], "releasing the tag", ctx)
            return failed
        taken = f" (taken over from {', '.join(others)})" if others else ""
        return success(f"{what} active on {me}{taken}")

    async def _stop(self, res: Node, ctx: AgentContext) -> AgentOutcome:
        vg_name, lv, what = self._names(res)
        refused = self._refusal(res, ctx)
        if refused is not None:
            return refused
        me = ctx.node_name
        vg = await self._vg(vg_name, ctx)
        if isinstance(vg, AgentOutcome):
            return vg
        if vg is None:
            return success(f"volume group {vg_name} not found: nothing to deactivate")
        if vg.any_active(lv):
            failed = await self._change(self._activation(me, vg_name, lv, False), f"deactivating {what}", ctx)
            if failed is not None:
                fence = res.flag("self_fence")
                return AgentOutcome(False, failed.rc, failed.message, self_fence=fence, timed_out=failed.timed_out)
        if me in vg.tags:
            failed = await self._change(["vgchange", "--deltag", me, "--", vg_name], f"releasing {vg_name}", ctx)
            if failed is not None:
                return failed
        return success(f"{what} inactive, {vg_name} released by {me}")

    async def _status(self, res: Node, depth: int, ctx: AgentContext) -> AgentOutcome:
        vg_name, lv, what = self._names(res)
        refused = self._refusal(res, ctx)
        if refused is not None:
            return refused
        vg = await self._vg(vg_name, ctx)
        if isinstance(vg, AgentOutcome):
            return vg
        if vg is None:
            return failure(OCF_ERR_GENERIC, f"volume group {vg_name} not found")
        if ctx.node_name not in vg.tags:
            owners = ", ".join(vg.tags) or "nobody"
            return failure(OCF_ERR_GENERIC, f"volume group {vg_name} is not owned by {ctx.node_name} (tags: {owners})")
        if not vg.active(lv):
            return failure(OCF_NOT_RUNNING, f"{what} is not active")
        return success(f"{what} active and owned by {ctx.node_name}")
