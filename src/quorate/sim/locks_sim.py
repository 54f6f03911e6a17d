"""The cluster lock service on virtual time: whole nodes (`NodeCore`), lock clients, crashes, pauses, partitions.

Every host runs the daemon's node core (`quorate.sim.host`): membership, fencing and the lock service are the
real ones, wired as in quorated. A few clients per node ask for random locks on a handful of resources (random
modes, try-locks, timeouts, conversions) through the node core's requests, as lock sessions on the control
socket do, and release them. Fence devices succeed late, or fail and are tried again; a successful fence powers
its victim off. A node that leaves stops its daemon cleanly (clients lose their locks first).

Checked after every step, on the clients' state (what the applications believe they hold), not on any core's
belief:

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

import random
import sys
from dataclasses import dataclass, field

from quorate.core.fencing import FencingConfig
from quorate.core.lock_modes import COMPAT, MODES, is_down
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockReleased
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.node_io import LeaveCluster, LockAcquire, LockConvert, LockRelease, Request, Shutdown
from quorate.core.node_settings import NodeSettings
from quorate.sim.host import SimHost
from quorate.sim.kernel import InvariantViolation
from quorate.sim.sweep import finish, sweep_main
from quorate.sim.world import TemplateModel, World

__all__ = ["SCENARIOS", "InvariantViolation", "LockSim", "run"]

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
    run: int = 0  # the daemon run its lock belongs to


@dataclass(frozen=True)
class Ghost:
    """A lock a crashed run held: nobody may get a conflicting one before that run is fenced or replaced."""

    node: int
    boot: int
    res: str
    mode: int


@dataclass
class Books:
    grants: int = 0
    asking: bool = True
    ghosts: set[Ghost] = field(default_factory=set)


class LockSim:
    def __init__(self, rng: random.Random, n: int, clients: int = 2) -> None:
        self.rng = rng
        self.n = n
        names = {i: f"node{i}" for i in range(1, n + 1)}
        membership = MembershipConfig(
            nodes=tuple(NodeSpec(i, names[i], 1) for i in names), expected_votes=n, token=TOKEN, config_version=1
        )
        fencing = FencingConfig(node_names=names, post_join_delay=1.0, clean_start=True, override_time=0.5)
        self.world = World(rng, TemplateModel(lambda i: NodeSettings(i, membership, fencing)), names, names=names)
        self.world.fence_delay = (0.2, 3.0)  # fences succeed late
        self.world.on_lock = self._lock_event
        self.world.on_fenced = self._fenced
        self.kernel = self.world.kernel
        self.trace = self.kernel.trace
        self.books = Books()
        self.nclients = clients
        self.clients: dict[int, list[Client]] = {i: [] for i in names}
        self.kernel.checks.append(self.check)
        self.set_fence_failures(0.2)

    @property
    def grants(self) -> int:
        return self.books.grants

    @property
    def hosts(self) -> dict[int, SimHost]:
        return self.world.hosts

    def run_until(self, end: float) -> None:
        self.kernel.run_until(end)

    def set_fence_failures(self, rate: float) -> None:
        for host in self.hosts.values():
            host.faults.fence_fail = rate

    # ----------------------------------------------------------------------------------- lifecycle

    def start(self, nodeid: int) -> None:
        host = self.hosts[nodeid]
        if host.powered:
            host.start_daemon()
        else:
            host.power_on()
        self.clients[nodeid] = [Client(nodeid, i, run=host.boots) for i in range(self.nclients)]
        for client in self.clients[nodeid]:
            self._wake(client, self.rng.uniform(0.2, 1.0))

    def crash(self, nodeid: int, why: str) -> None:
        host = self.hosts[nodeid]
        if not host.powered:
            return
        self._abandon(nodeid, ghosts=True)
        host.power_off(why)

    def leave(self, nodeid: int) -> None:
        """quorated stopping: clients lose their locks first, then the node leaves cleanly and the daemon exits."""
        host = self.hosts[nodeid]
        if not host.running_daemon or host.paused:
            return
        host.request(Shutdown())
        host.request(LeaveCluster(force=True))
        self.world.log(f"{host.name} leaves cleanly")
        self.kernel.after(0.05, lambda: self._exited(nodeid))

    def _exited(self, nodeid: int) -> None:
        host = self.hosts[nodeid]
        self._abandon(nodeid, ghosts=False)
        host.kill_daemon("left the cluster and exited")

    def _abandon(self, nodeid: int, *, ghosts: bool) -> None:
        boot = self.hosts[nodeid].boots
        for client in self.clients[nodeid]:
            if ghosts and client.mode >= 0:
                self.books.ghosts.add(Ghost(nodeid, boot, client.res, client.mode))
        self.clients[nodeid] = []

    def _fenced(self, victim: int) -> None:
        boot = self.hosts[victim].boots
        self.books.ghosts = {g for g in self.books.ghosts if not (g.node == victim and g.boot <= boot)}

    # ------------------------------------------------------------------------------------- clients

    def _wake(self, client: Client, delay: float) -> None:
        self.kernel.after(delay, lambda: self._client_step(client))

    def _call(self, host: SimHost, req: Request) -> object:
        reply = host.call(req)
        return reply.value if reply is not None and reply.ok else None

    def _client_step(self, client: Client) -> None:
        host = self.hosts[client.node]
        if client not in self.clients[client.node]:
            return  # its node crashed or left: the client is gone
        if not host.running_daemon or host.paused:
            self._wake(client, 0.2)
            return
        rng = self.rng
        if client.state == "idle":
            if not self.books.asking:
                return
            res = rng.choice(RESOURCES)
            mode = rng.choice([5, 5, 5, 3, 3, 4, 1, 2, 0])
            timeout = rng.choice([None, None, 0.0, rng.uniform(0.2, 3.0)])
            lkid = self._call(host, LockAcquire("lvm", res, MODES[mode], timeout))
            if not isinstance(lkid, int):
                self._wake(client, rng.uniform(0.2, 1.0))
                return
            client.state, client.lkid, client.res, client.run = "waiting", lkid, res, host.boots
            self.world.log(f"{host.name} client {client.idx}: lock {lkid} {res} {MODES[mode]} timeout {timeout}")
        elif client.state == "holding":
            if rng.random() < 0.25:
                new = rng.randrange(6)
                timeout = rng.choice([None, 0.0, rng.uniform(0.2, 2.0)])
                self.world.log(f"{host.name} client {client.idx}: convert {client.lkid} to {MODES[new]}")
                # What the application may still rely on while the conversion is in flight (the DLM's contract):
                # the old mode going up, the new one going down, and what both allow going sideways (PR to CW).
                relied = max(m for m in range(6) if is_down(client.mode, m) and is_down(new, m))
                client.state, client.mode = "converting", relied
                host.request(LockConvert(client.lkid, MODES[new], timeout))
            else:
                lvb = f"{client.node}:{self.kernel.t:.3f}".encode() if client.mode >= 4 else None
                self.world.log(f"{host.name} client {client.idx}: unlock {client.lkid}")
                client.state, client.mode = "releasing", -1
                host.request(LockRelease(client.lkid, lvb))

    def _lock_event(self, host: SimHost, event: LockGranted | LockDenied | LockReleased | LockLost) -> None:
        client = next((c for c in self.clients[host.nodeid] if c.lkid == event.lkid and c.run == host.boots), None)
        if client is None:
            return
        self.world.log(f"{host.name} client {client.idx}: {event}")
        rng = self.rng
        if isinstance(event, LockGranted):
            mode = MODES.index(event.mode)
            self._check_ghosts(host, client.res, mode, event.mode)
            client.state, client.mode = "holding", mode
            self.books.grants += 1
            self._wake(client, rng.uniform(0.02, 1.0))
        elif isinstance(event, LockDenied):
            if event.held is None:
                client.state, client.mode, client.lkid = "idle", -1, 0
            else:
                client.state, client.mode = "holding", MODES.index(event.held)
            self._wake(client, rng.uniform(0.05, 0.5))
        else:
            client.state, client.mode, client.lkid = "idle", -1, 0
            self._wake(client, rng.uniform(0.05, 0.5))

    def _check_ghosts(self, host: SimHost, res: str, mode: int, name: str) -> None:
        self._forget_replaced_runs()
        for ghost in self.books.ghosts:
            if ghost.res == res and not COMPAT[ghost.mode][mode]:
                raise InvariantViolation(
                    f"{res} granted in {name} to {host.name} while crashed node {ghost.node} (run {ghost.boot}) "
                    f"held it in {MODES[ghost.mode]} and was not fenced yet"
                )

    def _forget_replaced_runs(self) -> None:
        """A crashed run's locks are void once a later run of that node is a member of a quorate view: the
        cluster admitted it as a new run, which holds nothing."""
        for ghost in list(self.books.ghosts):
            core = self.hosts[ghost.node].core
            if self.hosts[ghost.node].boots > ghost.boot and core is not None and core.quorate:
                self.books.ghosts.discard(ghost)

    # ---------------------------------------------------------------------------------- invariants

    def check(self) -> None:
        self._forget_replaced_runs()
        holders: dict[str, list[tuple[int, int]]] = {}
        for nodeid, clients in self.clients.items():
            if self.hosts[nodeid].powered:
                for client in clients:
                    if client.mode >= 0:
                        holders.setdefault(client.res, []).append((nodeid, client.mode))
        for res, held in holders.items():
            for i, (a, ma) in enumerate(held):
                for b, mb in held[i + 1 :]:
                    if not COMPAT[ma][mb]:
                        raise InvariantViolation(
                            f"{res} held in {MODES[ma]} on node {a} and in {MODES[mb]} on node {b} at once"
                        )
        for nodeid, host in self.hosts.items():
            if host.core is None:
                continue
            table = host.core.locks.table
            if table.grant_trace is None:
                table.grant_trace = []
                continue
            for res, order, was_waiting in table.grant_trace:
                resource = table.resources.get(res)
                if was_waiting and resource is not None:
                    earlier = [lk.order for lk in resource.waiting if lk.order < order]
                    if earlier:
                        raise InvariantViolation(
                            f"master {nodeid} granted request #{order} on {res[1]} while #{earlier[0]} queued before it"
                        )
            table.grant_trace.clear()

    def check_quiet(self) -> None:
        for nodeid, clients in self.clients.items():
            for client in clients:
                if client.state != "idle":
                    raise InvariantViolation(
                        f"client {client.idx} of node {nodeid} still {client.state} on {client.res}"
                    )
            host = self.hosts[nodeid]
            if host.core is not None and host.core.locks.acting and host.core.locks.table.locks:
                left = sorted((k, lk.res[1]) for k, lk in host.core.locks.table.locks.items())
                raise InvariantViolation(f"master {nodeid} still has locks after everything was released: {left}")
        if self.books.ghosts:
            runs = sorted((g.node, g.boot) for g in self.books.ghosts)
            raise InvariantViolation(f"crashed runs never fenced: {runs}")


def run(seed: int, scenario: str, *, verbose: bool = False) -> LockSim:
    rng = random.Random(f"locks:{scenario}:{seed}")
    n = rng.choice([3, 3, 3, 5])
    sim = LockSim(rng, n)
    world = sim.world
    if scenario == "lossy":
        world.net.loss, world.net.duplicate = 0.05, 0.05
    for i in range(1, n + 1):
        world.schedule(rng.uniform(0, 0.2), f"boot {i}", lambda i=i: sim.start(i))
    t = 2.0
    for _ in range(rng.randint(1, 3)):
        victim = rng.randint(1, n)
        t += rng.uniform(0.5, 3.0)
        if scenario in ("crash", "lossy"):
            world.schedule(t, f"crash {victim}", lambda v=victim: sim.crash(v, "crash"))
            t += rng.uniform(0.5, 5)
            world.schedule(t, f"restart {victim}", lambda v=victim: sim.hosts[v].powered or sim.start(v))
        elif scenario == "pause":
            world.schedule(t, f"pause {victim}", lambda v=victim: sim.hosts[v].pause())
            t += rng.uniform(0.3, 4)
            world.schedule(t, f"resume {victim}", lambda v=victim: sim.hosts[v].resume())
        elif scenario == "partition":
            ids = list(range(1, n + 1))
            rng.shuffle(ids)
            cut = rng.randint(1, n - 1)
            groups = [set(ids[:cut]), set(ids[cut:])]
            world.schedule(t, f"partition {groups}", lambda g=groups: world.net.partition(g))
            t += rng.uniform(0.5, 4)
            world.schedule(t, "heal", world.net.heal)
        else:
            world.schedule(t, f"node {victim} leaves", lambda v=victim: sim.leave(v))
            t += rng.uniform(0.5, 3)
            world.schedule(t, f"restart {victim}", lambda v=victim: sim.hosts[v].running_daemon or sim.start(v))

    def recover() -> None:
        world.net.heal()
        sim.set_fence_failures(0.0)
        for i, host in sim.hosts.items():
            if host.paused:
                host.resume()
            if not host.running_daemon:
                sim.start(i)

    def quiet() -> None:
        sim.books.asking = False

    world.schedule(t + 0.5, "all faults stop", recover)
    world.schedule(t + 4.0, "clients stop asking", quiet)
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
