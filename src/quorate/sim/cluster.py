"""The membership simulation: many nodes' `NodeCore`s on one virtual clock, membership's invariants after every step.

Each simulated node runs the daemon's node core (`quorate.sim.host`) with a local clock that may run fast or
slow (rate skew), so timeouts are measured with the node's own clock as they would be on a real machine. No
service is configured and no fence device works (there is no power switch here: the whole-stack simulator,
`quorate.sim.stack`, tests fencing), so what is tested is membership itself: failed nodes stay failed until they
come back as new runs, exactly the paths a paused or partitioned node takes.

Checked after every step (`World.check_views`, `World.check_split_brain`): nodes that committed one view id
agree on its members; every core's own invariants hold (no node calls itself quorate without the votes); no two
disjoint views are quorate at once. After the faults stop (`check_converged`): every live node runs one and the
same view of all of them, quorate exactly when their votes make a majority.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig, State
from quorate.core.messages import ViewId
from quorate.core.node_io import JoinCluster, LeaveCluster
from quorate.core.node_settings import NodeSettings
from quorate.sim.host import SimHost
from quorate.sim.kernel import InvariantViolation
from quorate.sim.world import TemplateModel, World

__all__ = ["InvariantViolation", "SimCluster", "SimNode"]


@dataclass
class SimNode:
    """The view of one host the scenarios use."""

    host: SimHost

    @property
    def alive(self) -> bool:
        return self.host.powered

    @property
    def paused(self) -> bool:
        return self.host.paused

    @property
    def core(self):  # type: ignore[no-untyped-def]
        core = self.host.core
        return core.membership if core is not None else None

    @property
    def events(self) -> list[tuple[float, object]]:
        """(time, decision) for every view installed, quorum change, eviction and kill order, in order."""
        return self.host.events

    def local(self, t: float) -> float:
        return self.host.local(t)

    @property
    def spec(self):  # type: ignore[no-untyped-def]
        return self.host.world.config.spec(self.host.nodeid)  # type: ignore[attr-defined]


def membership_world(config: MembershipConfig, rng: random.Random, *, skew: float = 0.0) -> World:
    """A world of ``config``'s nodes with no services and no working fence device."""
    names = {n.nodeid: n.name for n in config.nodes}
    fencing = FencingConfig(node_names=names, post_join_delay=3.0, override_time=2.0)
    model = TemplateModel(lambda i: NodeSettings(i, config, fencing))
    world = World(rng, model, names, names=names, skew=skew)
    for host in world.hosts.values():
        host.faults.fence_fail = 1.0
    world.fence_delay = (0.05, 0.2)
    return world


class SimCluster:
    """The whole simulated cluster. `run_until(t)` advances virtual time, checking invariants each step."""

    def __init__(self, config: MembershipConfig, rng: random.Random, *, skew: float = 0.0) -> None:
        self.config = config
        self.rng = rng
        self.world = membership_world(config, rng, skew=skew)
        self.world.config = config  # type: ignore[attr-defined]
        self.kernel = self.world.kernel
        self.net = self.world.net
        self.trace = self.kernel.trace
        self.nodes = {i: SimNode(h) for i, h in self.world.hosts.items()}
        self.kernel.checks.extend([self.world.check_views, self.world.check_split_brain])

    @property
    def t(self) -> float:
        return self.kernel.t

    @property
    def steps(self) -> int:
        return self.kernel.steps

    @property
    def committed(self) -> dict[ViewId, frozenset[int]]:
        return self.world.committed

    # ------------------------------------------------------------- lifecycle

    def start(self, nodeid: int) -> None:
        host = self.world.hosts[nodeid]
        if host.powered:
            host.start_daemon()
        else:
            host.power_on()

    def crash(self, nodeid: int) -> None:
        self.world.hosts[nodeid].power_off("crash")

    def pause(self, nodeid: int) -> None:
        self.world.hosts[nodeid].pause()

    def resume(self, nodeid: int) -> None:
        self.world.hosts[nodeid].resume()

    def leave(self, nodeid: int, remove: bool = False) -> None:
        host = self.world.hosts[nodeid]
        core = host.core
        if core is not None and not host.paused and core.membership.state is not State.LEFT:
            self.world.log(f"leave {host.name}" + (" (remove)" if remove else ""))
            host.request(LeaveCluster(remove=remove))

    def join(self, nodeid: int) -> None:
        """`cman_tool join` on a node that left (nothing if it crashed or is paused meanwhile)."""
        host = self.world.hosts[nodeid]
        core = host.core
        if core is not None and not host.paused and core.membership.state is State.LEFT:
            host.request(JoinCluster())

    def schedule(self, at: float, name: str, apply: Callable[[SimCluster], None]) -> None:
        self.world.schedule(at, name, lambda: apply(self))

    def run_until(self, end: float) -> None:
        self.kernel.run_until(end)

    # ------------------------------------------------------------ invariants

    def live_nodes(self) -> set[int]:
        return {
            h.nodeid
            for h in self.world.live()
            if h.core is not None and h.core.membership.state is not State.LEFT
        }

    def check_converged(self) -> None:
        """Liveness: once faults have stopped, every live node runs one and the same view of all of them."""
        live = self.live_nodes()
        if not live:
            return
        hosts = self.world.hosts
        views = {n: (hosts[n].core.membership.view, hosts[n].core.membership.members) for n in live}  # type: ignore[union-attr]
        distinct = set(views.values())
        if len(distinct) != 1:
            detail = "; ".join(
                f"{hosts[n].name}: view {v.seq}/{v.coord} {sorted(m)}" for n, (v, m) in sorted(views.items())
            )
            raise InvariantViolation(f"no single view after faults stopped: {detail}")
        ((_view, members),) = distinct
        if members != frozenset(live):
            raise InvariantViolation(f"the view {sorted(members)} is not the set of live nodes {sorted(live)}")
        votes = sum(self.config.spec(n).votes for n in live)
        should = votes >= self.config.expected_votes // 2 + 1
        for n in live:
            core = hosts[n].core
            assert core is not None
            if core.quorate != should:
                raise InvariantViolation(
                    f"{hosts[n].name} quorate={core.quorate} with {votes} of {self.config.expected_votes} "
                    "expected votes"
                )

    def _log(self, text: str) -> None:
        self.world.log(text)
