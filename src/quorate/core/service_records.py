"""Service records, the effects the resource manager emits, and the ledger its parts share.

Theory of operation
-------------------
A `Record` is one service's shared state (what `clustat` shows and every member keeps a copy of) plus the
coordinator's bookkeeping about it (the command in flight and what follows it, nodes excluded in this round,
requests waiting for an answer). Only the shared part goes on the wire, as `SvcRecord`.

The `ServiceLedger` is everything one node's resource manager knows: the records, the view, the executors'
inventories, the effects produced so far. Decisions, administrator requests and replication are separate
modules of functions over one ledger, and `ServiceManager` is the ledger with the entry points; the ledger also
holds the few acts they all perform (command an executor, answer a request, log a sentence) so that each is
written once and numbered once: every command takes the next `cmd` number, which ties its report to it.

"Safely gone" (`ServiceLedger.safely_gone`, answered by the fencing layer) means that the node's fence was
confirmed or that it left the cluster cleanly. It never means "no fence is pending": a coordinator that took
over knows nothing of failures older than itself, so an owner outside the view with no fence pending may well
still run the service; taking it over then would break S1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from quorate.core.effects import Log, Send
from quorate.core.messages import SvcCommand, SvcInventory, SvcRecord, SvcReply, ViewId
from quorate.core.placement import Placer, ServiceSpec
from quorate.core.service_vocabulary import RUNNING, Action, Answer, FollowUp, St

Origin = tuple[int, int]
"""Where a request came from: (node where clusvcadm was typed, that node's request number)."""


@dataclass(frozen=True, slots=True)
class StartLocal:
    service: str
    cmd: int


@dataclass(frozen=True, slots=True)
class StopLocal:
    service: str
    cmd: int


@dataclass(frozen=True, slots=True)
class FenceForService:
    """A stop failed: the owner may still hold the service's resources, so it must be fenced."""

    nodeid: int
    reason: str


@dataclass(frozen=True, slots=True)
class RequestDone:
    """Answer to a request typed on this node (clusvcadm waits for it); `result` is an `Answer` string."""

    req: int
    ok: bool
    result: str
    owner: int


SvcEffect = StartLocal | StopLocal | FenceForService | RequestDone | Send | Log


def never_gone(_node: int) -> bool:
    """The default answer to "is this node safely gone?": without a fencing layer, nobody ever is."""
    return False


def gone_by_fence(_node: int) -> str:
    """The default account of how a safely gone node went (`ServiceLedger.gone_how`)."""
    return "failed and is fenced"


def no_features(_members: frozenset[int]) -> frozenset[str]:
    """The default answer to "which optional features do these members share?": none (whole tables only)."""
    return frozenset()


@dataclass(slots=True)
class Record:
    """One service: the shared record (replicated, shown by clustat) and the coordinator's bookkeeping."""

    name: str
    state: St = St.STOPPED
    owner: int = 0
    last_owner: int = 0
    restarts: int = 0
    frozen: bool = False
    touched: bool = False
    enabled: bool = True
    reason: str = ""
    # coordinator-only bookkeeping
    cmd: int = 0  # command in flight (0: none)
    cmd_node: int = 0
    then: FollowUp = FollowUp.NONE  # what follows the stop in flight
    target: int = 0  # preferred node for the start that follows
    excluded: set[int] = field(default_factory=set)  # not to try in this round (a start failed, or moving off)
    failed_starts: set[int] = field(default_factory=set)  # nodes where a start failed in this round
    restart_times: list[float] = field(default_factory=list)
    waiting_fence_logged: bool = False
    # `clusvcadm -s`, or every allowed node failed to start it: stay stopped until the next membership change
    held: bool = False
    requests: list[Origin] = field(default_factory=list)  # requests answered when the operation ends
    stray_stops: set[int] = field(default_factory=set)  # nodes told to stop a copy they do not own
    version: int = 0
    fence_asked: bool = False

    def message(self) -> SvcRecord:
        return SvcRecord(
            self.name,
            self.state,
            self.owner,
            self.last_owner,
            self.restarts,
            self.frozen,
            self.touched,
            self.enabled,
            self.reason,
            self.version,
        )


def holders_by_service(inventories: dict[int, dict[str, St]]) -> dict[str, dict[int, St]]:
    """The inventories turned inside out, nodes in inventory order: one pass instead of one per service."""
    held: dict[str, dict[int, St]] = {}
    for node, inventory in inventories.items():
        for name, state in inventory.items():
            held.setdefault(name, {})[node] = state
    return held


class ServiceLedger:
    """One node's knowledge of the services, and the acts every part of the resource manager performs."""

    def __init__(
        self,
        specs: dict[str, ServiceSpec],
        node_names: dict[int, str],
        local_id: int,
        *,
        safely_gone: Callable[[int], bool] = never_gone,
        gone_how: Callable[[int], str] = gone_by_fence,
        shared_features: Callable[[frozenset[int]], frozenset[str]] = no_features,
        unfenced: Callable[[], frozenset[int]] = frozenset,
    ) -> None:
        self.specs = specs
        # The nodes waiting for their fence (the fencing layer's victims): no service starts while one of them is
        # out of the view, since it may hold copies nobody recorded (`service_decisions.place`).
        self.unfenced = unfenced
        self.names = node_names
        self.local_id = local_id
        self.records: dict[str, Record] = {name: Record(name, enabled=spec.autostart) for name, spec in specs.items()}
        self.acting = False  # this node coordinates a quorate view: it decides
        self.members: frozenset[int] = frozenset()  # the quorate view's members (empty when not quorate)
        self.view: ViewId = ViewId(0, 0)
        self.coordinator = 0
        self.inventories: dict[int, dict[str, St]] = {}  # (coordinator) each member's executor, this view
        # (coordinator, during one evaluation) the inventories by service: which nodes hold it, in what state
        self.holding: dict[str, dict[int, St]] | None = None
        # (coordinator) that index, kept current between evaluations by `set_inventory`
        self.held_by: dict[str, dict[int, St]] = {}
        # What the next evaluation must look at: everything (a view, a request, a new configuration...), or only
        # the services whose facts changed (`touched`) and those not at rest (`unsettled`). See `evaluate`.
        self.evaluate_all = True
        self.touched: set[str] = set()
        self.unsettled: set[str] = set()
        # (coordinator, during one evaluation) placement over the view's members, kept current as records move
        self.placer: Placer | None = None
        self._exclusive: tuple[dict[str, ServiceSpec], frozenset[str]] | None = None
        self.local_running: dict[str, St] = {}  # this node's executor
        self.safely_gone = safely_gone
        self.gone_how = gone_how  # words for the log: a clean leave is not a failure
        self.effects: list[SvcEffect] = []
        self.next_cmd = 1
        # Decisions' memory between evaluations.
        self.last_eval = -1e18
        self.adopting = False  # a new coordinator: reconcile against inventories known to be current
        self.failback_due = False  # failback is considered when nodes join, not at every event
        self.new_runs: set[int] = set()  # nodes that joined: what their inventory lacks, they do not run
        # Inventories carry a sequence per sending run: the coordinator keeps the newest whatever the order of
        # arrival (per member, this view), and a member numbers its own.
        self.inventory_seqs: dict[int, int] = {}
        # (coordinator) the parts so far of a member's inventory sent in several (`take_inventory`)
        self.inventory_parts: dict[int, tuple[int, dict[int, SvcInventory]]] = {}  # first part's seq, parts by seq
        self.inventory_too_long_said = False  # (member) the error that an inventory cannot be sent, said once
        self.inventory_seq = 0
        # Replication's memory: what was last published, and when the whole table last went to every member.
        self.last_table = -1e18
        self.version_counter = 0
        self.published: dict[str, SvcRecord] = {}
        self.published_sizes: dict[str, int] = {}  # each published record's encoded size (parts of a table)
        # Numbered publications and deltas (`service_replication`), used when every member shares the feature.
        self.shared_features = shared_features
        self.table_seq = 0  # (coordinator) publications numbered in this view
        self.whole_due = True  # (coordinator) the next publication goes whole to every member
        self.numbered = False  # (coordinator) the last publication was numbered (deltas in use)
        self.resync: set[int] = set()  # (coordinator) members that asked for the whole table
        self.table_next: tuple[int, int] | None = None  # (member) (publication, part) expected next; None: no step
        self.ahead: dict[tuple[int, int], bool] = {}  # (member) parts held beyond a hole: (seq, part) -> last
        self.whole_parts: tuple[int, frozenset[int], int] | None = None  # (member) a whole table's parts so far
        self.hole_since: float | None = None  # (member) since when a part is missing
        self.gap_asked = False  # (member) asked for the whole table since its copy last was complete
        self.table_heard = False  # (member) a numbered table of this view came: the coordinator merged its copy
        self.inventory_sent: dict[str, St] | None = None  # (member) the running set its last inventory carried
        self.inventory_at = -1e18  # (member) when it sent its last inventory
        self.inventory_due = False  # (member) its executor's facts changed since, and wait for INVENTORY_SPACING

    # ------------------------------------------------------------------------------------ facts in

    def set_inventory(self, node: int, inventory: dict[str, St]) -> None:
        """``node``'s executor runs ``inventory`` now: the services whose holders changed are touched."""
        before = self.inventories.get(node, {})
        self.inventories[node] = inventory
        if before == inventory:
            return
        for name in before.keys() | inventory.keys():
            state = inventory.get(name)
            if before.get(name) is state:
                continue
            self.touched.add(name)
            holders = self.held_by.setdefault(name, {})
            if state is None:
                holders.pop(node, None)
                if not holders:
                    del self.held_by[name]
            else:
                holders[node] = state

    def reset_inventories(self, inventories: dict[int, dict[str, St]]) -> None:
        """A new set of inventories altogether (a view, a quorum loss): the next evaluation looks at everything."""
        self.inventories = inventories
        self.held_by = holders_by_service(inventories)
        self.evaluate_all = True

    # ------------------------------------------------------------------------------------ shared acts

    def command(self, node: int, record: Record, action: Action, *, then: FollowUp) -> None:
        """Command `node`'s executor; the record remembers the command, and what follows a stop."""
        cmd = self.next_cmd
        self.next_cmd += 1
        record.cmd, record.cmd_node, record.then = cmd, node, then
        if action is Action.STOP:
            record.state = St.STOPPING
        self._emit_command(node, record.name, action, cmd)

    def stop_stray(self, node: int, record: Record) -> None:
        """Stop a copy on a node that does not own the service; the record (and its owner's run) is untouched."""
        cmd = self.next_cmd
        self.next_cmd += 1
        self._emit_command(node, record.name, Action.STOP, cmd)

    def _emit_command(self, node: int, service: str, action: Action, cmd: int) -> None:
        if node == self.local_id:
            self.effects.append((StartLocal if action is Action.START else StopLocal)(service, cmd))
        else:
            self.effects.append(Send((node,), SvcCommand(service, action, cmd)))

    def answer(self, origin: Origin, ok: bool, result: Answer, owner: int) -> None:
        node, req = origin
        if node == self.local_id:
            self.effects.append(RequestDone(req, ok, result, owner))
        else:
            self.effects.append(Send((node,), SvcReply(req, ok, result, owner)))

    def finish_requests(self, record: Record, ok: bool, result: Answer) -> None:
        """The operation the waiting requests asked for ended: answer them all."""
        for origin in record.requests:
            self.answer(origin, ok, result, record.owner if ok else 0)
        record.requests.clear()

    def running_map(self) -> dict[int, frozenset[str]]:
        """Which services each node runs, by the records (for exclusivity and placement)."""
        out: dict[int, set[str]] = {}
        for record in self.records.values():
            if record.owner and record.state in RUNNING:
                out.setdefault(record.owner, set()).add(record.name)
        return {n: frozenset(s) for n, s in out.items()}

    def running_on(self, record: Record) -> int:
        """The node the record counts as running on for placement (0: none), as `running_map` counts it."""
        return record.owner if record.owner and record.state in RUNNING else 0

    def new_placer(self) -> Placer:
        """Placement over the view's members and the records as they are now."""
        running = ((record.name, self.running_on(record)) for record in self.records.values())
        return Placer(self.members, running, self.exclusive())

    def exclusive(self) -> frozenset[str]:
        """The exclusive services (worked out again only when the configuration changes)."""
        if self._exclusive is None or self._exclusive[0] is not self.specs:
            self._exclusive = (self.specs, frozenset(n for n, s in self.specs.items() if s.exclusive))
        return self._exclusive[1]

    def name(self, nodeid: int) -> str:
        return self.names.get(nodeid, f"node {nodeid}")

    def log(self, text: str, level: str = "info") -> None:
        self.effects.append(Log(text, level))
