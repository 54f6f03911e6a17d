"""Many node cores on one virtual clock, with the cluster-wide invariants checked after every step.

Each simulated node owns a real `Membership` core and a local clock that may run fast or slow (rate skew),
so timeouts are measured with the node's own clock as they would be on a real machine. The run loop picks
the earliest of: a datagram delivery, a node's deadline, or a scripted fault, so nothing is ever polled.
A paused node (SIGSTOP) neither processes nor sends; what was sent to it waits in its socket buffer and is
handled, in a seeded random order with its timers, when it resumes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from quorate.core.effects import Effect, Log, PersistGeneration, PersistRejoin, Send
from quorate.core.membership import Membership, MembershipConfig, NodeSpec, State
from quorate.core.messages import Message, ViewId
from quorate.sim.network import SimNetwork


class InvariantViolation(AssertionError):
    pass


@dataclass
class SimNode:
    spec: NodeSpec
    rate: float = 1.0
    offset: float = 0.0
    core: Membership | None = None
    alive: bool = True
    paused: bool = False
    boots: int = 0
    persisted_seq: int = 0
    persisted_rejoin: tuple[int, frozenset[int]] = (0, frozenset())
    inbox: list[tuple[int, Message]] = field(default_factory=list)
    events: list[tuple[float, Effect]] = field(default_factory=list)

    def local(self, t: float) -> float:
        return self.offset + self.rate * t

    def global_time(self, local: float) -> float:
        return (local - self.offset) / self.rate


@dataclass
class Action:
    at: float
    name: str
    apply: Callable[[SimCluster], None]


class SimCluster:
    """The whole simulated cluster. `run_until(t)` advances virtual time, checking invariants each step."""

    def __init__(self, config: MembershipConfig, rng: random.Random, *, skew: float = 0.0) -> None:
        self.config = config
        self.rng = rng
        self.net = SimNetwork(rng)
        self.t = 0.0
        self.trace: list[str] = []
        self.committed: dict[ViewId, frozenset[int]] = {}
        self.nodes: dict[int, SimNode] = {}
        self.actions: list[Action] = []
        self.steps = 0
        for spec in config.nodes:
            rate = 1.0 + rng.uniform(-skew, skew) if skew else 1.0
            self.nodes[spec.nodeid] = SimNode(spec, rate=rate, offset=rng.uniform(0, 1000))

    # ------------------------------------------------------------- lifecycle

    def start(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        node.boots += 1
        node.alive, node.paused, node.inbox = True, False, []
        node.core = Membership(
            self.config,
            nodeid,
            boot=node.boots,
            now=node.local(self.t),
            highest_seq=node.persisted_seq,
            rejoin=node.persisted_rejoin,
        )
        self._log(f"start {node.spec.name} (boot {node.boots})")
        self._drain(node)

    def crash(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        node.alive, node.core, node.inbox, node.paused = False, None, [], False
        self._log(f"crash {node.spec.name}")

    def pause(self, nodeid: int) -> None:
        if self.nodes[nodeid].alive:
            self.nodes[nodeid].paused = True
            self._log(f"pause {self.nodes[nodeid].spec.name}")

    def resume(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        if not node.alive or not node.paused or node.core is None:
            return
        node.paused = False
        self._log(f"resume {node.spec.name} with {len(node.inbox)} queued datagrams")
        pending, node.inbox = node.inbox, []
        now = node.local(self.t)
        tick_first = self.rng.random() < 0.5
        if tick_first:
            node.core.tick(now)
            self._drain(node)
        for sender, message in pending:
            node.core.receive(now, sender, message)
            self._drain(node)
        node.core.tick(now)
        self._drain(node)

    def leave(self, nodeid: int, remove: bool = False) -> None:
        node = self.nodes[nodeid]
        if node.core is not None and node.alive and not node.paused and node.core.state is not State.LEFT:
            node.core.leave(node.local(self.t), remove=remove)
            self._log(f"leave {node.spec.name}")
            self._drain(node)

    def schedule(self, at: float, name: str, apply: Callable[[SimCluster], None]) -> None:
        self.actions.append(Action(at, name, apply))
        self.actions.sort(key=lambda a: a.at)

    # --------------------------------------------------------------- running

    def run_until(self, end: float) -> None:
        while True:
            candidates: list[tuple[float, int, str]] = []
            if self.actions:
                candidates.append((self.actions[0].at, 0, "action"))
            net_t = self.net.next_time()
            if net_t is not None:
                candidates.append((net_t, 1, "net"))
            for nodeid, node in self.nodes.items():
                if node.alive and not node.paused and node.core is not None:
                    deadline = node.core.next_deadline()
                    if deadline is not None:
                        at = max(node.global_time(deadline), self.t)
                        while node.local(at) < deadline:  # rounding must not wake a node just before its deadline
                            at = math.nextafter(at, math.inf)
                        candidates.append((at, 2 + nodeid, "timer"))
            if not candidates:
                self.t = end
                return
            at, key, kind = min(candidates)
            if at > end:
                self.t = end
                return
            self.t = at
            self.steps += 1
            if kind == "action":
                action = self.actions.pop(0)
                self._log(f"fault: {action.name}")
                action.apply(self)
            elif kind == "net":
                delivery = self.net.pop()
                self._deliver(delivery.sender, delivery.receiver, delivery.message)
            else:
                node = self.nodes[key - 2]
                assert node.core is not None
                node.core.tick(node.local(self.t))
                self._drain(node)
            self.check_invariants()

    def _deliver(self, sender: int, receiver: int, message: Message) -> None:
        node = self.nodes[receiver]
        if not node.alive or node.core is None:
            return
        if node.paused:
            if len(node.inbox) < 2000:
                node.inbox.append((sender, message))
            return
        node.core.receive(node.local(self.t), sender, message)
        self._drain(node)

    def _drain(self, node: SimNode) -> None:
        assert node.core is not None
        effects: list[Effect] = node.core.take_effects()
        for effect in effects:
            if isinstance(effect, Send):
                for to in effect.to:
                    self.net.send(self.t, node.spec.nodeid, to, effect.message)
            elif isinstance(effect, PersistGeneration):
                node.persisted_seq = max(node.persisted_seq, effect.seq)
            elif isinstance(effect, PersistRejoin):
                node.persisted_rejoin = (effect.expected, effect.awaiting)
            else:
                if not isinstance(effect, Log):
                    node.events.append((self.t, effect))
                text = getattr(effect, "text", None) or getattr(effect, "reason", None)
                self._log(f"{node.spec.name}: {type(effect).__name__}: {text}")
        view = node.core.view
        if node.core.state is State.MEMBER:
            known = self.committed.get(view)
            if known is None:
                self.committed[view] = node.core.members
            elif known != node.core.members:
                raise InvariantViolation(
                    f"view {view.seq}/{view.coord} committed with members {sorted(known)} on one node and "
                    f"{sorted(node.core.members)} on {node.spec.name}"
                )

    # ------------------------------------------------------------ invariants

    def check_invariants(self) -> None:
        for node in self.nodes.values():
            if node.core is not None and node.alive:
                try:
                    node.core.check_invariants()
                except AssertionError as exc:
                    raise InvariantViolation(str(exc)) from None

        self._check_single_authority()

    def _check_single_authority(self) -> None:
        """S2 seen from outside: the member sets of all views held quorate at one instant pairwise intersect.

        Two disjoint quorate views would be a split brain. The check holds whenever expected votes cover every
        configured vote (the simulator's configurations), because a quorate view then holds a majority.
        """
        quorate = [
            (n, node.core.members)
            for n, node in self.nodes.items()
            if node.alive and node.core is not None and node.core.quorum.quorate
        ]
        for i, (a, members_a) in enumerate(quorate):
            for b, members_b in quorate[i + 1 :]:
                if not members_a & members_b:
                    raise InvariantViolation(
                        f"split brain: {self.nodes[a].spec.name} is quorate with {sorted(members_a)} and "
                        f"{self.nodes[b].spec.name} is quorate with {sorted(members_b)}"
                    )

    def live_nodes(self) -> set[int]:
        return {
            n
            for n, node in self.nodes.items()
            if node.alive and not node.paused and node.core is not None and node.core.state is not State.LEFT
        }

    def check_converged(self) -> None:
        """Liveness: once faults have stopped, every live node runs one and the same view of all of them."""
        live = self.live_nodes()
        if not live:
            return
        views = {n: (self.nodes[n].core.view, self.nodes[n].core.members) for n in live}  # type: ignore[union-attr]
        distinct = set(views.values())
        if len(distinct) != 1:
            detail = "; ".join(
                f"{self.nodes[n].spec.name}: view {v.seq}/{v.coord} {sorted(m)}" for n, (v, m) in sorted(views.items())
            )
            raise InvariantViolation(f"no single view after faults stopped: {detail}")
        ((_view, members),) = distinct
        if members != frozenset(live):
            raise InvariantViolation(f"the view {sorted(members)} is not the set of live nodes {sorted(live)}")
        votes = sum(self.nodes[n].spec.votes for n in live)
        should = votes >= self.config.expected_votes // 2 + 1
        for n in live:
            core = self.nodes[n].core
            assert core is not None
            if core.quorum.quorate != should:
                raise InvariantViolation(
                    f"{self.nodes[n].spec.name} quorate={core.quorum.quorate} with {votes} of "
                    f"{self.config.expected_votes} expected votes"
                )

    def _log(self, text: str) -> None:
        self.trace.append(f"{self.t:10.4f}  {text}")
