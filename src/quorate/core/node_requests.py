"""Administrator requests to one node: each checked against the cores, answered by one `Reply` with its id.

Theory of operation
-------------------
A request is handled at once when a core can answer at once (`cman_tool expected`, `fence_ack_manual`, a lock
id), or it waits for the event that answers it, with a deadline after which it is answered "no answer in
time" (nothing is left waiting for ever):

| request        | waits for                                              | deadline             |
|----------------|--------------------------------------------------------|----------------------|
| ServiceRequest | the services core's `RequestDone` (the coordinator's)  | 300 s                |
| PushConfig     | configuration distribution's `PushDone`                | 3 push timeouts      |
| FenceNow       | the `FenceDone` of its `FenceOnce`                     | none (agents time out)|
| LeaveCluster   | the stops of local services (with force), then leaves  | none (stops end)     |
| Shutdown       | the stops of local services                            | none                 |
| LockTable      | the lock master's `LockTableIs` (one datagram)         | 1 s                  |
| LvmRefreshAll  | every other member's `LvmRefreshed`                    | its timeout (30 s)   |

Refusals carry a `Refusal` code next to their sentence, so a program never parses prose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from quorate.core.config_dist import ConfigDistribution, PushDone
from quorate.core.effects import Log, Send
from quorate.core.fencing import Fencing
from quorate.core.local_services import LocalServices
from quorate.core.lock_messages import LockTableAsk, LockTableIs, LvmRefresh, LvmRefreshed
from quorate.core.lock_modes import LockError, NoQuorum
from quorate.core.locks import LockManager
from quorate.core.membership import Membership, MembershipError, State
from quorate.core.messages import Message
from quorate.core.node_io import (
    AckFence,
    FenceDone,
    FenceNow,
    FenceOnce,
    JoinCluster,
    KillMember,
    LeaveCluster,
    LockAcquire,
    LockConvert,
    LockRelease,
    LockTable,
    LvmRefreshAll,
    LvmRefreshResult,
    PushConfig,
    RefreshLvm,
    Refusal,
    Reply,
    Request,
    ServiceRequest,
    SetExpected,
    Shutdown,
    StopDisk,
    StopWhy,
)
from quorate.core.node_settings import NodeSettings
from quorate.core.qdisk_driver import QdiskDriver
from quorate.core.services import RequestDone, ServiceManager


class Node(Protocol):
    """What requests are checked against: the node core's cores (structurally, so this module does not import the
    node core that owns it)."""

    local_id: int
    membership: Membership
    fencing: Fencing
    services: ServiceManager
    locks: LockManager
    config_dist: ConfigDistribution
    local: LocalServices
    settings: NodeSettings

    @property
    def qdisk(self) -> QdiskDriver | None: ...

    def node_name(self, nodeid: int) -> str: ...

SERVICE_TIMEOUT = 300.0
TABLE_TIMEOUT = 1.0
TABLE_BUDGET = 6000  # bytes of table JSON in one answer: the datagram limit minus headers, with room to spare
NO_TIME = float("inf")


def fit_table(rows: list[dict[str, Any]], budget: int = TABLE_BUDGET) -> tuple[str, int]:
    """The table as compact JSON of at most ``budget`` bytes: the first resources (by name) that fit, and how
    many were left out. A datagram has a fixed size, and a partial table that says so beats no answer."""
    kept = len(rows)
    while True:
        text = json.dumps(rows[:kept], separators=(",", ":"))
        if len(text.encode()) <= budget or kept == 0:
            return text, len(rows) - kept
        kept = kept * budget // (len(text.encode()) + 1) if kept > 1 else 0


@dataclass
class Refresh:
    """An lvm refresh asked of the other members: who must answer, what they said, since when."""

    others: frozenset[int]
    started: float
    answers: dict[int, tuple[bool, str]] = field(default_factory=dict)


@dataclass
class Waiting:
    """A request whose answer is not known yet."""

    rid: int
    deadline: float
    on_timeout: Callable[[float], Reply]
    data: dict[str, Any] = field(default_factory=dict)


class Requests:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._next = 1
        self.waiting: dict[int, Waiting] = {}
        self.services: dict[int, int] = {}  # services core request id -> rid
        self.tables: dict[int, int] = {}  # LockTableAsk req -> rid
        self.refreshes: dict[int, Refresh] = {}  # by rid (the LvmRefresh datagrams carry it as their req)
        self.leaving: list[tuple[int, LeaveCluster]] = []
        self.shutting: list[int] = []
        self._effects: list[Any] = []

    # ------------------------------------------------------------------------------------- dispatch

    def handle(self, req: Request, now: float) -> int:
        rid = self._next
        self._next += 1
        try:
            self._handle(rid, req, now)
        except MembershipError as exc:
            self._reply(rid, False, str(exc), Refusal.REFUSED)
        except NoQuorum as exc:
            self._reply(rid, False, str(exc), Refusal.UNAVAILABLE)
        except (LockError, TypeError, ValueError) as exc:
            self._reply(rid, False, str(exc), Refusal.INVALID)
        return rid

    def refuse(self, text: str) -> int:
        """A request this node cannot take at all (it is self-fencing): answered at once."""
        rid = self._next
        self._next += 1
        self._reply(rid, False, text, Refusal.UNAVAILABLE)
        return rid

    def _handle(self, rid: int, req: Request, now: float) -> None:
        node = self.node
        m = node.membership
        if isinstance(req, SetExpected):
            m.set_expected(now, req.votes)
            self._reply(rid, True)
        elif isinstance(req, LeaveCluster):
            self._leave(rid, req, now)
        elif isinstance(req, JoinCluster):
            node.local.leaving = False
            m.join(now)
            self._reply(rid, True)
        elif isinstance(req, KillMember):
            m.kill(now, req.nodeid)
            self._reply(rid, True)
        elif isinstance(req, AckFence):
            error = node.fencing.acknowledge(now, req.nodeid, node.local_id)
            self._reply(rid, error is None, error or "done", Refusal.REFUSED if error else Refusal.NONE)
        elif isinstance(req, FenceNow):
            self.waiting[rid] = Waiting(rid, NO_TIME, lambda _now: Reply(rid, False, "no answer"))
            self._effects.append(FenceOnce(rid, req.nodeid, node.node_name(req.nodeid)))
        elif isinstance(req, ServiceRequest):
            sreq = node.services.request(now, req.op, req.service, req.target)
            self.services[sreq] = rid
            busy = Reply(rid, False, "Temporary failure; try again", Refusal.TIMEOUT)
            self.waiting[rid] = Waiting(rid, now + SERVICE_TIMEOUT, lambda _now: busy)
        elif isinstance(req, PushConfig):
            timeout = node.settings.push_timeout * 3
            version = node.config_dist.version
            self.waiting[rid] = Waiting(
                rid,
                now + timeout,
                lambda _now: Reply(rid, False, f"no answer in time; this node runs version {version}", Refusal.TIMEOUT),
            )
            node.config_dist.push(now, rid, req.data, req.version)
        elif isinstance(req, LockAcquire):
            lkid = node.locks.lock(now, req.lockspace, req.name, req.mode, timeout=req.timeout)
            self._reply(rid, True, value=lkid)
        elif isinstance(req, LockConvert):
            node.locks.convert(now, req.lkid, req.mode, timeout=req.timeout, lvb=req.lvb)
            self._reply(rid, True)
        elif isinstance(req, LockRelease):
            node.locks.unlock(now, req.lkid, lvb=req.lvb)
            self._reply(rid, True)
        elif isinstance(req, LockTable):
            self._lock_table(rid, now)
        elif isinstance(req, LvmRefreshAll):
            self._lvm_refresh(rid, req, now)
        elif isinstance(req, StopDisk):
            if node.qdisk is not None:
                node.qdisk.stop(now)
            self._reply(rid, True)
        elif isinstance(req, Shutdown):
            node.local.stop_everything(StopWhy.LEAVING, "quorated is stopping")
            self.shutting.append(rid)
            self.services_changed(now)
        else:
            raise ValueError(f"unknown request {type(req).__name__}")

    # ------------------------------------------------------------------------------------ leaving

    def _leave(self, rid: int, req: LeaveCluster, now: float) -> None:
        node = self.node
        running = node.local.active()
        if running and not req.force:
            names = ", ".join("service:" + n for n in running)
            self._reply(rid, False, f"{names} run here: relocate or stop them, or use force", Refusal.STATE_HELD)
            return
        if running:  # a clean leave is never fenced, so nothing may keep running here: stop it first
            node.local.stop_everything(StopWhy.LEAVING, "leaving the cluster")
            self.leaving.append((rid, req))
            return
        node.membership.leave(now, remove=req.remove, force=req.force)
        self._reply(rid, True)

    def services_changed(self, now: float) -> None:
        """The executor reported: a leave or a shutdown waiting for local stops may go on."""
        node = self.node
        if node.local.leave_stops:
            return
        leaving, self.leaving = self.leaving, []
        for rid, req in leaving:
            try:
                if node.membership.state is not State.LEFT:
                    node.membership.leave(now, remove=req.remove, force=True)
                self._reply(rid, True)
            except MembershipError as exc:
                self._reply(rid, False, str(exc), Refusal.REFUSED)
        shutting, self.shutting = self.shutting, []
        for rid in shutting:
            node.locks.drop_all(now, "quorated is stopping")  # clients stop their commands before the leave
            self._reply(rid, True)

    # ------------------------------------------------------------------------------------- answers

    def service_done(self, done: RequestDone) -> None:
        rid = self.services.pop(done.req, None)
        if rid is None or self.waiting.pop(rid, None) is None:
            return
        owner = self.node.node_name(done.owner) if done.owner else ""
        self._reply(rid, True, done.result, value={"done": done.ok, "result": done.result, "owner": owner})

    def push_done(self, done: PushDone) -> None:
        if self.waiting.pop(done.req, None) is not None:
            self._reply(done.req, done.ok, done.text, Refusal.NONE if done.ok else Refusal.REFUSED)

    def fence_done(self, done: FenceDone) -> None:
        if done.rid and self.waiting.pop(done.rid, None) is not None:
            self._reply(done.rid, done.ok, done.detail, Refusal.NONE if done.ok else Refusal.REFUSED)

    def view_changed(self, now: float) -> None:
        """A lock table asked of a master that left the view will not come."""
        if self.tables and self.node.locks.view is None:
            for req, rid in list(self.tables.items()):
                self._table_answer(rid, {"resources_error": "this node left the quorate view"})
                del self.tables[req]

    # ------------------------------------------------------------------------------------ lock table

    def _lock_table(self, rid: int, now: float) -> None:
        locks = self.node.locks
        status = locks.status(now)
        if status["resources"] is not None or locks.view is None or locks.acting:
            self._reply(rid, True, value=status)
            return
        req = self._next
        self._next += 1
        self.tables[req] = rid
        self.waiting[rid] = Waiting(
            rid,
            now + TABLE_TIMEOUT,
            lambda _now: Reply(rid, True, value={**status, "resources_error": self._silent_master()}),
            {"status": status},
        )
        self._effects.append(Send((locks.master,), LockTableAsk(req)))

    def _silent_master(self) -> str:
        return f"the lock master did not answer within {TABLE_TIMEOUT:g} s"

    def _table_answer(self, rid: int, extra: dict[str, Any]) -> None:
        waiting = self.waiting.pop(rid, None)
        if waiting is not None:
            self._reply(rid, True, value={**waiting.data["status"], **extra})

    def lock_message(self, now: float, sender: int, message: Message) -> None:
        """Lock-service datagrams from a member: the table and lvm refresh ones are answered here."""
        node = self.node
        if isinstance(message, LockTableAsk):
            resources = node.locks.status(now)["resources"]
            if isinstance(resources, list):  # only the acting master answers, and only with a complete table
                text, omitted = fit_table(resources)
                self._effects.append(Send((sender,), LockTableIs(message.req, text, omitted)))
        elif isinstance(message, LockTableIs):
            rid = self.tables.get(message.req)
            if rid is None or sender != node.locks.master:
                return
            del self.tables[message.req]
            try:
                table = json.loads(message.table)
            except ValueError:
                self._table_answer(rid, {"resources_error": "the lock master's answer could not be read"})
                return
            self._table_answer(
                rid,
                {
                    "resources": table,
                    "resources_from": node.node_name(sender),
                    "resources_omitted": message.omitted,
                },
            )
        elif isinstance(message, LvmRefresh):
            self._effects.append(RefreshLvm(sender, message.req, message.vg[:128]))
        elif isinstance(message, LvmRefreshed):
            refresh = self.refreshes.get(message.req)
            if refresh is not None and sender in refresh.others:
                refresh.answers[sender] = (message.ok, message.detail)
                if set(refresh.answers) >= refresh.others:
                    self._refresh_answer(message.req, now)
        else:
            node.locks.receive(now, sender, message)

    # ----------------------------------------------------------------------------------- lvm refresh

    def _lvm_refresh(self, rid: int, req: LvmRefreshAll, now: float) -> None:
        node = self.node
        others = frozenset(node.membership.members) - {node.local_id}
        self.refreshes[rid] = Refresh(others, now)
        self.waiting[rid] = Waiting(rid, now + req.timeout, lambda later: self._refresh_reply(rid, later))
        if not others:
            self._refresh_answer(rid, now)
            return
        self._effects.append(Send(tuple(sorted(others)), LvmRefresh(rid, req.vg[:128])))

    def _refresh_reply(self, rid: int, now: float) -> Reply:
        refresh = self.refreshes.pop(rid, None) or Refresh(frozenset(), now)
        nodes = {}
        for nodeid in sorted(refresh.others):
            ok, detail = refresh.answers.get(nodeid, (False, "no answer"))
            nodes[self.node.node_name(nodeid)] = {"ok": ok, "detail": detail}
        return Reply(rid, True, value={"nodes": nodes, "seconds": round(now - refresh.started, 3)})

    def _refresh_answer(self, rid: int, now: float) -> None:
        if self.waiting.pop(rid, None) is not None:
            self._effects.append(self._refresh_reply(rid, now))

    def lvm_refreshed(self, done: LvmRefreshResult) -> None:
        """This node read the VG again for ``done.origin``: tell it."""
        self._effects.append(Send((done.origin,), LvmRefreshed(done.req, done.ok, done.detail[:500])))

    # ---------------------------------------------------------------------------------------- timers

    def tick(self, now: float) -> None:
        for rid, waiting in list(self.waiting.items()):
            if now >= waiting.deadline:
                self._effects.append(waiting.on_timeout(now))
                del self.waiting[rid]
                for table in (self.services, self.tables):
                    for key in [k for k, v in table.items() if v == rid]:
                        del table[key]

    def next_deadline(self) -> float | None:
        times = [w.deadline for w in self.waiting.values() if w.deadline != NO_TIME]
        return min(times) if times else None

    def take(self) -> list[Any]:
        effects, self._effects = self._effects, []
        return effects

    def _reply(self, rid: int, ok: bool, text: str = "", code: Refusal = Refusal.NONE, value: Any = None) -> None:
        self._effects.append(Reply(rid, ok, text, code, value))

    def _log(self, text: str, level: str = "info") -> None:
        self._effects.append(Log(text, level))
