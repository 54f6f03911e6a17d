"""A simulated cluster: the kernel, the network, the hosts, the shared disk, the power switch and the models.

Theory of operation
-------------------
Every simulator builds one `World` and runs the same hosts (`quorate.sim.host.SimHost`, each a real
`NodeCore`); they differ only in their scenarios and in the invariants they check. What the world knows that a
node cannot:

* the power switch: a fence pass (`RunFence`, `FenceOnce`) powers its victim off after a seeded delay, or
  fails, or hangs until the agent's timeout; only the coordinator of a quorate view may run one (checked when
  the fence starts, on the fencer's own state);
* the configuration model: which file a node runs, whether a node can use a pushed file, and what the node core
  is told when it activates one (`ConfigModel`; the default derives everything from a template);
* the ground truth the invariants read: what each host really runs, which views were committed.

The universal checks live here (`check_views`, `check_split_brain`, `check_one_owner`, and in `World._watch`
nothing starting on an inquorate node); each simulator adds its own. All raise `InvariantViolation`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from quorate.core.config_dist import digest_of, short
from quorate.core.fencing import CancelFence, RunFence
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockReleased
from quorate.core.membership import State
from quorate.core.messages import Message, ViewId
from quorate.core.node_io import ConfigActivated, Effect, FenceDone, FenceOnce, Reply, StartService
from quorate.core.node_settings import NodeSettings
from quorate.sim.disk import SimDisk
from quorate.sim.host import SimHost
from quorate.sim.kernel import InvariantViolation, Kernel
from quorate.sim.network import SimNetwork


class ConfigModel(Protocol):
    """What cluster.conf means in a simulation: the node core's settings for a file, and the validation."""

    def settings(self, nodeid: int, data: bytes) -> NodeSettings: ...

    def validate(self, nodeid: int, data: bytes, current: bytes) -> str | None: ...

    def activation(self, nodeid: int, old: bytes, new: bytes) -> ConfigActivated: ...


@dataclass
class TemplateModel:
    """Files are small byte strings naming their version (`make_file`); every node runs ``template(nodeid)``
    with the version and digest of its file. A file containing ``refuse:N`` is refused by node N's validation,
    as a file valid on one node and not on another would be (a fence agent missing there, say)."""

    template: Callable[[int], NodeSettings]

    def settings(self, nodeid: int, data: bytes) -> NodeSettings:
        base = self.template(nodeid)
        if not data:
            if base.membership.config_digest:
                return base
            # Heartbeats name the file the node runs, as the daemon's do (without a digest, every heartbeat would
            # look like another file to the configuration distribution).
            digest = short(digest_of(base.config_data))
            return replace(base, membership=replace(base.membership, config_digest=digest))
        membership = replace(base.membership, config_version=version_of(data), config_digest=short(digest_of(data)))
        return replace(base, membership=membership, config_data=data)

    def validate(self, nodeid: int, data: bytes, current: bytes) -> str | None:
        if f"refuse:{nodeid}".encode() in data:
            return f"node {nodeid} cannot use this file"
        if version_of(data) <= version_of(current):
            return "not a higher config_version"
        return None

    def activation(self, nodeid: int, old: bytes, new: bytes) -> ConfigActivated:
        return ConfigActivated(self.settings(nodeid, new), new)


def make_file(version: int, *, refuse: int = 0, size: int = 200) -> bytes:
    body = f'<cluster config_version="{version}">' + (f"refuse:{refuse}" if refuse else "")
    return (body + "x" * max(0, size - len(body))).encode()


def version_of(data: bytes) -> int:
    marker = b'config_version="'
    start = data.find(marker)
    if start < 0:
        return 0
    end = data.find(b'"', start + len(marker))
    digits = data[start + len(marker) : end]
    return int(digits) if digits.isdigit() else 0


@dataclass
class Switch:
    """The power switch's books: every fence that really cut the power, and who asked."""

    cuts: list[tuple[float, int, int]] = field(default_factory=list)  # (time, fencer, victim)


class World:
    def __init__(
        self,
        rng: random.Random,
        model: ConfigModel,
        node_ids: Iterable[int],
        *,
        names: dict[int, str] | None = None,
        skew: float = 0.0,
        shared_disk: bool = False,
        first_file: bytes = b"",
    ) -> None:
        self.rng = rng
        self.model = model
        self.kernel = Kernel()
        self.net = SimNetwork(self.kernel, rng, self._deliver)
        ids = list(node_ids)
        self.names = names or {i: f"node{i}" for i in ids}
        self.hosts: dict[int, SimHost] = {}
        for i in ids:
            rate = 1.0 + rng.uniform(-skew, skew) if skew else 1.0
            host = SimHost(self, i, rate=rate, offset=rng.uniform(0, 1000) if skew else 0.0)
            host.data = first_file
            self.hosts[i] = host
        self.disk = SimDisk() if shared_disk else None
        self.switch = Switch()
        self.restart_daemons = True
        self.restart_delay = 1.0
        self.auto_boot: tuple[float, float] | None = None  # a machine powered off boots again after that long
        self.fence_delay = (0.05, 0.5)
        self.committed: dict[ViewId, frozenset[int]] = {}
        self.on_reply: Callable[[SimHost, Reply], None] | None = None
        self.on_lock: Callable[[SimHost, LockGranted | LockDenied | LockReleased | LockLost], None] | None = None
        self.on_staged: Callable[[SimHost, int, bool], None] | None = None
        self.on_activated: Callable[[SimHost, int, bool], None] | None = None
        self.on_fenced: Callable[[int], None] | None = None
        self._fences: dict[tuple[int, int], object] = {}
        for host in self.hosts.values():
            host.on_effect = self._watch

    # ------------------------------------------------------------------------------------------- models

    def settings_for(self, nodeid: int, data: bytes) -> NodeSettings:
        return self.model.settings(nodeid, data)

    def validate(self, nodeid: int, data: bytes, current: bytes) -> str | None:
        return self.model.validate(nodeid, data, current)

    def activation(self, nodeid: int, old: bytes, new: bytes) -> ConfigActivated:
        return self.model.activation(nodeid, old, new)

    def staged(self, host: SimHost, version: int, ok: bool) -> None:
        if self.on_staged is not None:
            self.on_staged(host, version, ok)

    def activated(self, host: SimHost, version: int, by_commit: bool) -> None:
        if self.on_activated is not None:
            self.on_activated(host, version, by_commit)

    def reply(self, host: SimHost, reply: Reply) -> None:
        if self.on_reply is not None:
            self.on_reply(host, reply)

    def lock_event(self, host: SimHost, effect: LockGranted | LockDenied | LockReleased | LockLost) -> None:
        if self.on_lock is not None:
            self.on_lock(host, effect)

    # --------------------------------------------------------------------------------------- the network

    def _deliver(self, sender: int, receiver: int, message: Message) -> None:
        host = self.hosts.get(receiver)
        if host is not None:
            host.deliver(sender, message)

    # ------------------------------------------------------------------------------------------ fencing

    def fence(self, fencer: SimHost, effect: RunFence | CancelFence | FenceOnce) -> None:
        if isinstance(effect, CancelFence):
            event = self._fences.pop((fencer.nodeid, effect.nodeid), None)
            if event is not None:
                event.cancel()  # type: ignore[attr-defined]
            return
        if isinstance(effect, RunFence):
            core = fencer.core
            m = core.membership if core is not None else None
            if m is None or m.state is not State.MEMBER or m.view.coord != fencer.nodeid or not m.quorum.quorate:
                raise InvariantViolation(f"{fencer.name} ran a fence without being the coordinator of a quorate view")
        victim = effect.nodeid
        rid = effect.rid if isinstance(effect, FenceOnce) else 0
        ok = self.rng.random() >= fencer.faults.fence_fail
        # A failing device sometimes hangs until the executor's timeout kills it (then it failed).
        low, high = self.fence_delay
        delay = self.rng.uniform(low, high) if ok or self.rng.random() < 0.5 else 3.0

        def done() -> None:
            self._fences.pop((fencer.nodeid, victim), None)
            if not fencer.powered:
                return
            if ok:
                self.switch.cuts.append((self.kernel.t, fencer.nodeid, victim))
                self.hosts[victim].power_off(f"fenced by {fencer.name}")
                if self.on_fenced is not None:
                    self.on_fenced(victim)
            detail = "simulated switch: powered off" if ok else "simulated switch: failed"
            fencer.report(FenceDone(victim, ok, "sim", detail, delay, rid))

        self._fences[(fencer.nodeid, victim)] = self.kernel.after(delay, done)

    def _watch(self, host: SimHost, effect: Effect) -> None:
        """Checks made on effects as they leave a node core (its own state at that instant)."""
        if isinstance(effect, StartService) and effect.cmd:
            core = host.core
            if core is None or not core.quorate:
                raise InvariantViolation(f"{host.name} was told to start {effect.service} while inquorate")

    # ------------------------------------------------------------------------------------------ helpers

    def log(self, text: str) -> None:
        self.kernel.log(text)

    def schedule(self, at: float, name: str, action: Callable[[], None]) -> None:
        def fault() -> None:
            self.log(f"fault: {name}")
            action()

        self.kernel.at(at, fault)

    def live(self) -> list[SimHost]:
        """Hosts whose daemon runs and is not paused."""
        return [h for h in self.hosts.values() if h.running_daemon and not h.paused]

    def members_of(self, host: SimHost) -> frozenset[int]:
        return host.core.membership.members if host.core is not None else frozenset()

    # --------------------------------------------------------------------------------------- invariants

    def check_views(self) -> None:
        """Nodes that committed one view id agree on its members; each core's own invariants hold."""
        for host in self.hosts.values():
            core = host.core
            if core is None:
                continue
            m = core.membership
            try:
                m.check_invariants()
            except AssertionError as exc:
                raise InvariantViolation(str(exc)) from None
            if m.state is State.MEMBER:
                known = self.committed.setdefault(m.view, m.members)
                if known != m.members:
                    raise InvariantViolation(
                        f"view {m.view.seq}/{m.view.coord} committed with members {sorted(known)} on one node and "
                        f"{sorted(m.members)} on {host.name}"
                    )

    def check_split_brain(self) -> None:
        """No two disjoint views are quorate at one instant (a quorate view holds a majority of the votes).

        Quorate hosts of one view share one member set, so the distinct member sets (each with the first host
        that holds it) are compared pairwise, not every pair of hosts: the same violations, named alike."""
        views: dict[frozenset[int], SimHost] = {}
        for host in self.hosts.values():
            if host.core is not None and host.core.quorate:
                views.setdefault(host.core.membership.members, host)
        quorate = [(host, members) for members, host in views.items()]
        for i, (a, members_a) in enumerate(quorate):
            for b, members_b in quorate[i + 1 :]:
                if not members_a & members_b:
                    raise InvariantViolation(
                        f"split brain: {a.name} is quorate with {sorted(members_a)} and {b.name} is quorate with "
                        f"{sorted(members_b)}"
                    )

    def check_one_owner(self) -> None:
        """S1 on the ground truth: a service runs (or may still hold its resources) on at most one machine."""
        owners: dict[str, list[str]] = {}
        for host in self.hosts.values():
            if host.powered:
                for service in host.truth:
                    owners.setdefault(service, []).append(host.name)
        for service, where in owners.items():
            if len(where) > 1:
                raise InvariantViolation(f"S1 violated: service {service} runs on {where} at once")

