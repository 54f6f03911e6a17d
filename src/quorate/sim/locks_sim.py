"""The cluster lock service on virtual time: lock cores, fencing cores, clients, crashes, pauses, partitions.

Each node runs the real `LockManager` and `Fencing` cores, wired the way the daemon wires them, and a few
clients that ask for random locks on a handful of resources (random modes, try-locks, timeouts,
conversions) and release them. Views come from a membership oracle with the guarantees the membership core
gives (see `quorate.core.membership`): after a token of silence the largest group of mutually connected,
running nodes forms the next view if it has a majority; its members install it at slightly different
times; a node left out loses quorum (or, if paused, learns of its eviction when it wakes) and must reset
before it may join again. The oracle is used instead of the membership core so that hundreds of seeds run
in seconds; the membership core has its own simulator. Fence devices succeed late, or fail and are tried
again; a successful fence powers its victim off.

Checked after every step, on the clients' state (what the applications believe they hold), not on any
core's belief:

* *safety*: two clients anywhere never hold incompatible modes of one resource at once (a paused node's and
  a cut-off node's clients still count: they keep running until they are told or fenced);
* *fencing first*: a resource held by a node that crashed is granted to nobody in a conflicting mode before
  the crashed run is fenced or has come back as a new run;
* *fairness*: a master grants a new request only when no request queued before it on that resource still
  waits (FIFO, so no starvation);
* *liveness*: once faults stop and clients stop asking, every request is answered and every lock released.

`python -m quorate.sim.locks_sim --seed N [--scenario S] [-v]` replays one run.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from quorate.core.effects import Log, Send, ViewInstalled
from quorate.core.fencing import CancelFence, FenceConfirmed, Fencing, FencingConfig, RunFence
from quorate.core.lock_messages import LOCK_MESSAGES
from quorate.core.lock_modes import COMPAT, MODES, LockError, is_down
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockManager, LockReleased
from quorate.core.messages import FenceAck, FenceNotice, FenceStatus, Message, ViewId
from quorate.sim.cluster import InvariantViolation
from quorate.sim.network import SimNetwork
from quorate.sim.sweep import finish, sweep_main

FENCE_MSGS = (FenceStatus, FenceAck, FenceNotice)
TOKEN = 1.0
RESOURCES = ("magi_vg", "data_vg", "#global")
SCENARIOS = ("crash", "pause", "partition", "leave", "lossy")


@dataclass
class Client:
    node: int
    idx: int
    state: str = "idle"  # idle, waiting, holding, converting, releasing
    lkid: int = 0
    res: str = ""
    mode: int = -1  # the mode the application uses now
    next_at: float = 0.0


@dataclass
class SimNode:
    nodeid: int
    alive: bool = False
    paused: bool = False
    boot: int = 0
    must_reset: bool = False
    view: ViewId | None = None
    members: frozenset[int] = frozenset()
    locks: LockManager | None = None
    fencing: Fencing | None = None
    clients: list[Client] = field(default_factory=list)
    inbox: list[tuple[int, Message]] = field(default_factory=list)


@dataclass(frozen=True)
class Ghost:
    """A lock a crashed run held: nobody may get a conflicting one before that run is fenced or replaced."""

    node: int
    boot: int
    res: str
    mode: int


class LockSim:
    def __init__(self, rng: random.Random, n: int, clients: int = 2) -> None:
        self.rng = rng
        self.n = n
        self.t = 0.0
        self.net = SimNetwork(rng)
        self.names = {i: f"node{i}" for i in range(1, n + 1)}
        self.fconfig = FencingConfig(node_names=self.names, post_join_delay=1.0, clean_start=True, override_time=0.5)
        self.nodes = {i: SimNode(i) for i in range(1, n + 1)}
        self.nclients = clients
        self.seq = 0
        self.view_members: frozenset[int] = frozenset()
        self.view_boots: dict[int, int] = {}
        self.left_clean: set[int] = set()
        self.view_due: float | None = None
        self.actions: list[tuple[float, int, str, Callable[[LockSim], None]]] = []
        self.timers: list[tuple[float, int, str, Callable[[], None]]] = []
        self.ghosts: set[Ghost] = set()
        self.trace: list[str] = []
        self.fence_fail = 0.2
        self.asking = True
        self.grants = 0
        self._order = 0

    # ----------------------------------------------------------------------------------- lifecycle

    def start(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        node.boot += 1
        node.alive, node.paused, node.must_reset, node.inbox = True, False, False, []
        node.view, node.members = None, frozenset()
        self._new_run(node)
        node.clients = [Client(nodeid, i, next_at=self.t + self.rng.uniform(0.2, 1.0)) for i in range(self.nclients)]
        self._log(f"start node {nodeid} (run {node.boot})")
        self.connectivity_changed()

    def _new_run(self, node: SimNode) -> None:
        node.fencing = Fencing(self.fconfig, node.nodeid)
        fencing = node.fencing
        node.locks = LockManager(
            node.nodeid,
            self.names,
            safely_gone=fencing.is_safely_gone,
            unfenced=lambda: frozenset(fencing.victims),
        )
        node.locks.table.grant_trace = []

    def crash(self, nodeid: int, why: str) -> None:
        node = self.nodes[nodeid]
        if not node.alive:
            return
        for client in node.clients:
            if client.mode >= 0:
                self.ghosts.add(Ghost(nodeid, node.boot, client.res, client.mode))
        node.alive, node.locks, node.fencing, node.clients, node.inbox = False, None, None, [], []
        self._log(f"power off node {nodeid}: {why}")
        self.connectivity_changed()

    def pause(self, nodeid: int) -> None:
        if self.nodes[nodeid].alive and not self.nodes[nodeid].paused:
            self.nodes[nodeid].paused = True
            self._log(f"pause node {nodeid} (its clients keep what they hold)")
            self.connectivity_changed()

    def resume(self, nodeid: int) -> None:
        node = self.nodes[nodeid]
        if not (node.alive and node.paused):
            return
        node.paused = False
        pending, node.inbox = node.inbox, []
        self._log(f"resume node {nodeid}")
        evict_first = self.rng.random() < 0.5
        if evict_first:
            self._maybe_evicted(node)
        for sender, message in pending:
            self._deliver(sender, nodeid, message)
        if not evict_first:
            self._maybe_evicted(node)
        self.connectivity_changed()

    def leave(self, nodeid: int) -> None:
        """`quorated` stopping: clients lose their locks first, then the node leaves cleanly."""
        node = self.nodes[nodeid]
        if not node.alive or node.paused or node.locks is None or nodeid not in self.view_members:
            return
        node.locks.drop_all(self.t, "quorated is stopping")
        self._drain(node)
        self.left_clean.add(nodeid)
        node.alive, node.locks, node.fencing, node.clients = False, None, None, []
        self._log(f"node {nodeid} leaves cleanly")
        self.connectivity_changed()

    def heal(self) -> None:
        self.net.heal()
        for node in self.nodes.values():
            if node.alive and not node.paused:
                self._maybe_evicted(node)
        self.connectivity_changed()

    def partition(self, groups: list[set[int]]) -> None:
        self.net.partition(groups)
        self.connectivity_changed()

    def schedule(self, at: float, name: str, apply: Callable[[LockSim], None]) -> None:
        self._order += 1
        self.actions.append((at, self._order, name, apply))
        self.actions.sort(key=lambda a: (a[0], a[1]))

    def _later(self, at: float, name: str, apply: Callable[[], None]) -> None:
        self._order += 1
        self.timers.append((at, self._order, name, apply))

    # ------------------------------------------------------------------------------ membership oracle

    def connectivity_changed(self) -> None:
        self.view_due = self.t + TOKEN

    def _form_view(self) -> None:
        self.view_due = None
        candidates = sorted(i for i, nd in self.nodes.items() if nd.alive and not nd.paused and not nd.must_reset)
        groups: list[set[int]] = []
        for i in candidates:
            for group in groups:
                if all((i, j) not in self.net.blocked and (j, i) not in self.net.blocked for j in group):
                    group.add(i)
                    break
            else:
                groups.append({i})
        best = max(groups, key=lambda g: (len(g), -min(g)), default=set())
        old = self.view_members
        if len(best) * 2 <= self.n:
            if old:  # every group installs an inquorate view: fencing records who failed, locks are dropped
                self.seq += 1
                for group in groups:
                    for i in sorted(group & old):
                        failed = frozenset(old - group - self.left_clean)
                        view = ViewId(self.seq, min(group))
                        installed = ViewInstalled(view, frozenset(group), frozenset(), frozenset(), failed, False, "")
                        self._installer(i, installed)()
                self._log(f"view {self.seq}: no majority in {groups}")
            self.view_members = frozenset()
            return
        members = frozenset(best)
        restarted = frozenset(i for i in members & old if self.view_boots.get(i) != self.nodes[i].boot)
        if members == old and not restarted:
            return
        left = frozenset((old - members) & self.left_clean)
        failed = frozenset(old - members - left) | restarted  # a run that restarted within the token failed
        joined = (members - old) | restarted
        self.view_boots = {i: self.nodes[i].boot for i in members}
        self.left_clean -= set(left)
        self.seq += 1
        view = ViewId(self.seq, min(members))
        self.view_members = members
        for i in joined:  # a crashed run that came back as a new run holds nothing any more
            self.ghosts = {g for g in self.ghosts if not (g.node == i and g.boot < self.nodes[i].boot)}
        installed = ViewInstalled(view, members, joined, left, failed, True, f"view {self.seq}")
        self._log(f"view {self.seq}: members {sorted(members)}, failed {sorted(failed)}, left {sorted(left)}")
        for i in sorted(members):
            self._later(
                self.t + self.rng.uniform(0.0, 0.05), f"install view {self.seq} on {i}", self._installer(i, installed)
            )
        for i in sorted(failed - restarted):
            node = self.nodes[i]
            if node.alive:
                node.must_reset = True  # it failed in the others' eyes: it rejoins only as a new run
                if not node.paused:
                    self._lose_quorum(i, "left out of the view")

    def _installer(self, nodeid: int, installed: ViewInstalled) -> Callable[[], None]:
        def install() -> None:
            node = self.nodes[nodeid]
            if not node.alive or node.locks is None or node.fencing is None:
                return
            if node.paused:
                node.inbox.append((0, installed))  # type: ignore[arg-type]  # handled on resume
                return
            if node.view is not None and node.view.seq >= installed.view.seq:
                return
            node.view, node.members = installed.view, installed.members if installed.quorate else frozenset()
            coordinator = installed.view.coord == nodeid
            stamps = {i: (self.nodes[i].boot, 0) for i in self.nodes}
            node.fencing.on_view(self.t, installed, stamps, coordinator=coordinator)
            node.locks.on_view(self.t, installed, coordinator=coordinator)
            self._drain(node)

        return install

    def _lose_quorum(self, nodeid: int, reason: str) -> None:
        node = self.nodes[nodeid]
        if not node.alive or node.paused or node.locks is None or node.fencing is None:
            return
        node.view, node.members = None, frozenset()
        node.fencing.on_quorum(self.t, quorate=False, coordinator=False)
        node.locks.on_quorum(self.t, quorate=False, coordinator=False, view=ViewId(0, 0), members=frozenset())
        self._drain(node)

    def _maybe_evicted(self, node: SimNode) -> None:
        """A node the others moved on without learns it at once when it can hear them: it resets."""
        if node.must_reset and node.alive and not node.paused:
            self._lose_quorum(node.nodeid, "evicted")
            self._log(f"node {node.nodeid} was evicted: it resets and will rejoin as a new run")
            node.boot += 1
            self._new_run(node)
            node.must_reset = False
            node.view, node.members = None, frozenset()

    # ---------------------------------------------------------------------------------------- loop

    def run_until(self, end: float) -> None:
        spins = 0
        while True:
            candidates: list[tuple[float, int, str]] = []
            if self.actions:
                candidates.append((self.actions[0][0], 0, "action"))
            if self.view_due is not None:
                candidates.append((self.view_due, 1, "view"))
            if self.timers:
                candidates.append((min(self.timers)[0], 2, "timer"))
            net = self.net.next_time()
            if net is not None:
                candidates.append((net, 3, "net"))
            for nodeid, node in self.nodes.items():
                if node.alive and not node.paused:
                    due = self._deadline(node)
                    if due is not None:
                        candidates.append((due, 10 + nodeid, "tick"))
                    for client in node.clients:
                        if client.state in ("idle", "holding") and client.next_at < math.inf:
                            candidates.append((max(client.next_at, self.t), 100 + nodeid, "client"))
            if not candidates:
                self.t = end
                return
            at, key, kind = min(candidates)
            if at > end:
                self.t = end
                return
            spins = spins + 1 if at <= self.t else 0
            if spins > 10_000:
                raise InvariantViolation(f"no progress: {kind} events keep coming at t={at}")
            self.t = at
            if kind == "action":
                _, _, name, apply = self.actions.pop(0)
                self._log(f"fault: {name}")
                apply(self)
            elif kind == "view":
                self._form_view()
            elif kind == "timer":
                timer = min(self.timers)
                self.timers.remove(timer)
                timer[3]()
            elif kind == "net":
                d = self.net.pop()
                self._deliver(d.sender, d.receiver, d.message)
            elif kind == "tick":
                node = self.nodes[key - 10]
                assert node.locks and node.fencing
                node.locks.tick(self.t)
                node.fencing.tick(self.t)
                self._drain(node)
            else:
                self._client_step(self.nodes[key - 100])
            self.check()

    def _deadline(self, node: SimNode) -> float | None:
        assert node.locks and node.fencing
        times = [d for d in (node.locks.next_deadline(), node.fencing.next_deadline()) if d is not None]
        if not times:
            return None
        at = min(times)
        return math.nextafter(at, math.inf) if at <= self.t else at

    def _deliver(self, sender: int, receiver: int, message: Message) -> None:
        node = self.nodes[receiver]
        if not node.alive or node.locks is None or node.fencing is None:
            return
        if node.paused:
            node.inbox.append((sender, message))
            return
        if isinstance(message, ViewInstalled):  # a view that reached a paused node
            self._installer(receiver, message)()
            return
        if sender not in node.members:
            return
        if isinstance(message, LOCK_MESSAGES):
            node.locks.receive(self.t, sender, message)
        elif isinstance(message, FENCE_MSGS):
            node.fencing.receive(self.t, sender, message)
        self._drain(node)

    def _drain(self, node: SimNode) -> None:
        for _ in range(50):
            if not node.alive or node.locks is None or node.fencing is None:
                return
            busy = False
            for fe in node.fencing.take_effects():
                busy = True
                if isinstance(fe, RunFence):
                    self._run_fence(node.nodeid, fe.nodeid)
                elif isinstance(fe, CancelFence):
                    self.timers = [t for t in self.timers if t[2] != f"fence {fe.nodeid} by {node.nodeid}"]
                elif isinstance(fe, FenceConfirmed):
                    self.ghosts = {
                        g for g in self.ghosts if not (g.node == fe.record.nodeid and g.boot <= fe.record.boot)
                    }
                    node.locks.tick(self.t)
                elif isinstance(fe, Send):
                    self._send(node.nodeid, fe)
                elif isinstance(fe, Log):
                    self._log(f"n{node.nodeid}: {fe.text}")
            for le in node.locks.take_effects():
                busy = True
                if isinstance(le, Send):
                    self._send(node.nodeid, le)
                elif isinstance(le, Log):
                    self._log(f"n{node.nodeid}: {le.text}")
                else:
                    self._client_event(node, le)
            if not busy:
                return

    def _send(self, sender: int, effect: Send) -> None:
        for to in effect.to:
            self.net.send(self.t, sender, to, effect.message)

    def _run_fence(self, fencer: int, victim: int) -> None:
        ok = self.rng.random() >= self.fence_fail
        delay = self.rng.uniform(0.2, 3.0)  # fences succeed late

        def finish() -> None:
            node = self.nodes[fencer]
            if not node.alive or node.fencing is None or node.paused:
                return
            if ok:
                target = self.nodes[victim]
                if target.alive and target.boot == node.fencing.victims.get(victim, _NoVictim).boot:
                    self.crash(victim, f"fenced by node {fencer}")
            node.fencing.fence_result(self.t, victim, ok=ok, method="sim", detail="simulated switch", duration=delay)
            self._drain(node)

        self._later(self.t + delay, f"fence {victim} by {fencer}", finish)

    # ------------------------------------------------------------------------------------- clients

    def _client_step(self, node: SimNode) -> None:
        assert node.locks is not None
        for client in node.clients:
            if client.next_at > self.t or client.state not in ("idle", "holding"):
                continue
            if client.state == "idle":
                if not self.asking:
                    client.next_at = math.inf
                    continue
                res = self.rng.choice(RESOURCES)
                mode = self.rng.choice([5, 5, 5, 3, 3, 4, 1, 2, 0])
                timeout = self.rng.choice([None, None, 0.0, self.rng.uniform(0.2, 3.0)])
                try:
                    lkid = node.locks.lock(self.t, "lvm", res, MODES[mode], timeout=timeout)
                except LockError:
                    client.next_at = self.t + self.rng.uniform(0.2, 1.0)
                    continue
                client.state, client.lkid, client.res = "waiting", lkid, res
                self._log(f"n{node.nodeid} client {client.idx}: lock {lkid} {res} {MODES[mode]} timeout {timeout}")
            elif self.rng.random() < 0.25:
                new = self.rng.randrange(6)
                timeout = self.rng.choice([None, 0.0, self.rng.uniform(0.2, 2.0)])
                self._log(
                    f"n{node.nodeid} client {client.idx}: convert {client.lkid} to {MODES[new]} timeout {timeout}"
                )
                node.locks.convert(self.t, client.lkid, MODES[new], timeout=timeout)
                client.state = "converting"
                # What the application may still rely on while the conversion is in flight (the DLM's contract):
                # the old mode going up, the new one going down, and what both allow going sideways (PR to CW).
                client.mode = max(m for m in range(6) if is_down(client.mode, m) and is_down(new, m))
            else:
                lvb = f"{node.nodeid}:{self.t:.3f}".encode() if client.mode >= 4 else None
                self._log(f"n{node.nodeid} client {client.idx}: unlock {client.lkid}")
                node.locks.unlock(self.t, client.lkid, lvb=lvb)
                client.state, client.mode = "releasing", -1
            self._drain(node)
            return

    def _client_event(self, node: SimNode, event: object) -> None:
        client = next((c for c in node.clients if c.lkid == getattr(event, "lkid", None)), None)
        if client is None:
            return
        self._log(f"n{node.nodeid} client {client.idx}: {event}")
        if isinstance(event, LockGranted):
            mode = MODES.index(event.mode)
            for ghost in self.ghosts:
                if ghost.res == client.res and not COMPAT[ghost.mode][mode]:
                    raise InvariantViolation(
                        f"{client.res} granted in {event.mode} to node {node.nodeid} while crashed node {ghost.node} "
                        f"(run {ghost.boot}) held it in {MODES[ghost.mode]} and was not fenced yet"
                    )
            client.state, client.mode = "holding", mode
            client.next_at = self.t + self.rng.uniform(0.02, 1.0)
            self.grants += 1
        elif isinstance(event, LockDenied):
            if event.held is None:
                client.state, client.mode, client.lkid = "idle", -1, 0  # lock ids are reused by a node's next run
            else:
                client.state, client.mode = "holding", MODES.index(event.held)
            client.next_at = self.t + self.rng.uniform(0.05, 0.5)
        elif isinstance(event, (LockReleased, LockLost)):
            client.state, client.mode, client.lkid = "idle", -1, 0
            client.next_at = self.t + self.rng.uniform(0.05, 0.5)

    # ---------------------------------------------------------------------------------- invariants

    def check(self) -> None:
        holders: dict[str, list[tuple[int, int]]] = {}
        for nodeid, node in self.nodes.items():
            if node.alive:
                for client in node.clients:
                    if client.mode >= 0:
                        holders.setdefault(client.res, []).append((nodeid, client.mode))
        for res, held in holders.items():
            for i, (a, ma) in enumerate(held):
                for b, mb in held[i + 1 :]:
                    if not COMPAT[ma][mb]:
                        raise InvariantViolation(
                            f"{res} held in {MODES[ma]} on node {a} and in {MODES[mb]} on node {b} at once"
                        )
        for nodeid, node in self.nodes.items():
            if not node.alive or node.locks is None:
                continue
            table = node.locks.table
            trace = table.grant_trace or []
            for res, order, was_waiting in trace:
                resource = table.resources.get(res)
                if was_waiting and resource is not None:
                    earlier = [lk.order for lk in resource.waiting if lk.order < order]
                    if earlier:
                        raise InvariantViolation(
                            f"master {nodeid} granted request #{order} on {res[1]} while #{earlier[0]} queued before it"
                        )
            if table.grant_trace is not None:
                table.grant_trace.clear()

    def check_quiet(self) -> None:
        for nodeid, node in self.nodes.items():
            for client in node.clients:
                if client.state != "idle":
                    raise InvariantViolation(
                        f"client {client.idx} of node {nodeid} still {client.state} on {client.res}"
                    )
            if node.alive and node.locks is not None and node.locks.acting and node.locks.table.locks:
                left = sorted((k, lk.res[1]) for k, lk in node.locks.table.locks.items())
                raise InvariantViolation(f"master {nodeid} still has locks after everything was released: {left}")
        if self.ghosts:
            raise InvariantViolation(f"crashed runs never fenced: {sorted((g.node, g.boot) for g in self.ghosts)}")

    def _log(self, text: str) -> None:
        self.trace.append(f"{self.t:9.3f} {text}")


class _NoVictim:
    boot = -1


def run(seed: int, scenario: str, *, verbose: bool = False) -> LockSim:
    rng = random.Random(f"locks:{scenario}:{seed}")
    n = rng.choice([3, 3, 3, 5])
    sim = LockSim(rng, n)
    if scenario == "lossy":
        sim.net.loss, sim.net.duplicate = 0.05, 0.05
    for i in range(1, n + 1):
        sim.schedule(rng.uniform(0, 0.2), f"boot {i}", lambda s, i=i: s.start(i))
    t = 2.0
    for _ in range(rng.randint(1, 3)):
        victim = rng.randint(1, n)
        t += rng.uniform(0.5, 3.0)
        if scenario in ("crash", "lossy"):
            sim.schedule(t, f"crash {victim}", lambda s, v=victim: s.crash(v, "crash"))
            t += rng.uniform(0.5, 5)
            sim.schedule(t, f"restart {victim}", lambda s, v=victim: s.nodes[v].alive or s.start(v))
        elif scenario == "pause":
            sim.schedule(t, f"pause {victim}", lambda s, v=victim: s.pause(v))
            t += rng.uniform(0.3, 4)
            sim.schedule(t, f"resume {victim}", lambda s, v=victim: s.resume(v))
        elif scenario == "partition":
            ids = list(range(1, n + 1))
            rng.shuffle(ids)
            cut = rng.randint(1, n - 1)
            groups = [set(ids[:cut]), set(ids[cut:])]
            sim.schedule(t, f"partition {groups}", lambda s, g=groups: s.partition(g))
            t += rng.uniform(0.5, 4)
            sim.schedule(t, "heal", lambda s: s.heal())
        else:
            sim.schedule(t, f"node {victim} leaves", lambda s, v=victim: s.leave(v))
            t += rng.uniform(0.5, 3)
            sim.schedule(t, f"restart {victim}", lambda s, v=victim: s.nodes[v].alive or s.start(v))

    def recover(s: LockSim) -> None:
        s.net.heal()
        s.fence_fail = 0.0
        for i, node in s.nodes.items():
            if node.paused:
                s.resume(i)
        s.heal()
        for i, node in s.nodes.items():
            if not node.alive:
                s.start(i)

    def quiet(s: LockSim) -> None:
        s.asking = False

    sim.schedule(t + 0.5, "all faults stop", recover)
    sim.schedule(t + 4.0, "clients stop asking", quiet)
    finish(sim, t + 20.0, sim.check_quiet, verbose=verbose)
    return sim


def main(argv: list[str] | None = None) -> int:
    return sweep_main(
        argv,
        module="quorate.sim.locks_sim",
        description=__doc__,
        scenarios=SCENARIOS,
        default_seeds="0-99",
        run=lambda seed, scenario, verbose: run(seed, scenario, verbose=verbose),
        summary=lambda sims: f"{sum(s.grants for s in sims)} grants checked",
    )


if __name__ == "__main__":
    sys.exit(main())
