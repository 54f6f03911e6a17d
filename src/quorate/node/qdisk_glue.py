"""Wires the quorum disk service into the daemon: its votes go to the quorum core's slot, its requests to fencing.

The disk service (quorate.qdisk.shell) does its own I/O in a worker thread with deadlines, so a hung LUN
never blocks heartbeats; here its effects become daemon actions. quorated never reboots a machine itself, so
`Reboot` and `StopCman` become its self-fence: stop every local service, then exit without a clean leave, so
the others treat the node as failed and fence it before they recover anything it ran.

A new cluster.conf changes the disk's settings without a daemon restart. The settings qdiskd re-read on a
configuration change (spec 1.5: votes, reboot, allow_kill, paranoid, io_timeout, stop_cman, max_error_cycles,
status_file) are swapped in place and count from the next cycle. Any other change (label, device, timings,
heuristics, min_score, master_wins) restarts the disk service inside the daemon: a clean stop (votes given
back, block marked NONE) and a start with a new incarnation, exactly what the others already handle when a
node's disk service restarts. One case waits for the next daemon start instead: when the view's own votes are
below quorum, the disk's votes are what keeps it quorate, and a restart would stop every service of the
partition for the seconds a new grant takes. Every member of the view sees the same view and the same file, so
they all make the same choice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from quorate.config.changes import quorumd_change
from quorate.core.effects import Log

if TYPE_CHECKING:
    from quorate.config.model import Quorumd
    from quorate.node.daemon import Daemon


class QdiskGlue:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.service: Any | None = None
        self.error: str | None = None
        self._reconfiguring = asyncio.Lock()
        self._resized_to: int | None = None  # a pushed <quorumd votes>, until the disk first grants that many

    async def start(self) -> None:
        quorumd = self.daemon.config.quorumd
        if quorumd is None:
            return
        from quorate.qdisk.shell import QdiskService, QdiskStartError

        d = self.daemon
        self.service = QdiskService(
            quorumd,
            d.local.nodeid,
            [n.nodeid for n in d.config.nodes],
            None,
            on_effects=self._on_effects,
            get_membership=lambda: (d.membership.members, d.membership.quorum.quorate),
            token_ms=d.config.token_ms,
        )
        try:
            await self.service.start()
            d.subsystems.add("qdiskd")
        except QdiskStartError as exc:
            self.error = str(exc)
            self.service = None
            d.log_line(f"quorum disk not available: {exc}", "warning")

    async def reconfigure(self, old: Quorumd | None, new: Quorumd | None) -> None:
        """Bring the disk service in line with a newly activated cluster.conf (see the module's docstring)."""
        async with self._reconfiguring:
            d = self.daemon
            if old == new or d.config.quorumd != new:  # nothing to do, or a newer file already took over
                return
            change = quorumd_change(old, new)
            if change is None:
                return
            if change.kind == "changed" and not change.restart_fields and self.service is not None:
                self.service.update_settings(new)
                if new.votes != old.votes:
                    self._resized_to = new.votes
                names = ", ".join(str(f) for f in change.fields)
                d.log_line(f"quorum disk settings changed ({names}): applied to the running disk service")
                return
            if change.kind == "changed":
                what = f"quorum disk settings changed ({', '.join(change.restart_fields)})"
            else:
                what = f"quorum disk {change.kind} in the configuration"
            if self._disk_holds_quorum():
                d.log_line(
                    f"{what}: they take effect when quorated restarts; restarting the disk service now would cost "
                    "this partition its quorum (its nodes' votes alone are below quorum)",
                    "warning",
                )
                return
            d.log_line(f"{what}: restarting the quorum disk service")
            await self.stop()
            self.service, self.error = None, None
            d.subsystems.discard("qdiskd")
            if new is None:  # no disk any more: the quorum is what the nodes' votes alone give (Q-3)
                d.membership.set_qdisk_votes(asyncio.get_running_loop().time(), 0, resized=True)
                d.flush()
                return
            self._resized_to = new.votes if old is None or new.votes != old.votes else None
            await self.start()

    def _disk_holds_quorum(self) -> bool:
        m = self.daemon.membership
        q = m.quorum
        return self.service is not None and q.quorate and m.qdisk_votes > 0 and q.total_votes - m.qdisk_votes < q.quorum

    def membership_changed(self) -> None:
        if self.service is not None:
            m = self.daemon.membership
            self.service.membership_changed(m.members, m.quorum.quorate)

    def _on_effects(self, effects: list[Any]) -> None:
        from quorate.core.qdisk import KillNode, Reboot, SetVotes, StopCman

        d = self.daemon
        now = asyncio.get_running_loop().time()
        for effect in effects:
            if isinstance(effect, SetVotes):
                resized = effect.votes > 0 and effect.votes == self._resized_to
                if resized:
                    self._resized_to = None
                d.membership.set_qdisk_votes(now, effect.votes, resized=resized)
            elif isinstance(effect, KillNode) and effect.nodeid not in d.membership.members:
                # Out of the view already: membership made it a fencing victim (or it left cleanly) and that
                # fence is the one that counts; a second one could power off its next boot (qdiskd's kill of a
                # node outside the cluster did nothing either).
                d.log_line(f"qdisk: node {effect.nodeid} is dead on disk and already out of the view: no new fence")
            elif isinstance(effect, KillNode):
                stamp = d.membership.stamps().get(effect.nodeid, (0, 0))
                d.fencing.core.add_victim(now, effect.nodeid, stamp[0], stamp[1], effect.reason, force=True)
            elif isinstance(effect, Reboot):
                d.log_line(f"quorum disk self-fence: {effect.reason}", "warning")
                d.self_fence(effect.reason)
            elif isinstance(effect, StopCman):
                d.log_line(f"quorum disk asks to leave the cluster: {effect.reason}", "warning")
                d.self_fence(effect.reason)
            elif isinstance(effect, Log):
                d.log_line(f"qdisk: {effect.text}", effect.level)
        d.flush()

    def status(self) -> dict[str, Any] | None:
        if self.service is None:
            if self.daemon.config.quorumd is None:
                return None
            return {"registered": False, "online": False, "name": "", "error": self.error}
        out = dict(self.service.status())
        out["registered"] = True
        out["online"] = self.daemon.membership.qdisk_votes > 0
        out["name"] = out.get("device") or ""
        return out

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
