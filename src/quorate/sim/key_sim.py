"""Key rotation on virtual time: real `NodeCore`s whose datagrams carry the key they were sealed with.

Each host keeps what the daemon's shell keeps: the key file, the staged copy, and the wire codec's keys (one to
seal with, those it opens, the retired one that opens key fetches only). A datagram is delivered only if the
receiver's codec would open it; otherwise it counts as an authentication failure, as on the wire. Hosts of an
*older release* advertise no feature and cannot decode the rotation's messages (dropped as undecodable).

Checked after every event:

* no datagram between two nodes that are members of each other's view fails authentication: a rotation never
  cuts a member off (every key a member seals with is one every other member opens);
* a rotation started while some member runs an older release is refused with the sentence that names it.

Checked at the end, after the faults stopped and nodes left outside ran ``quorate key fetch``: one view of every
live node, every key file the same, and no rotation left half done (each node's rotation is done or aborted).

`python -m quorate.sim.key_sim --seed N --scenario NAME` replays one run.
"""

from __future__ import annotations

import random
import sys

from quorate.core.effects import Log, PersistGeneration, Send
from quorate.core.features import SUPPORTED
from quorate.core.key_rotation import (
    DiscardKey,
    FetchDone,
    InstallKey,
    KeyWritten,
    Phase,
    SendRetired,
    StageKey,
    UseKeys,
)
from quorate.core.messages import KEY_MESSAGES, KeyStep, Message, encode
from quorate.core.node_core import NodeCore
from quorate.sim.kernel import Event, InvariantViolation, Kernel
from quorate.sim.stack import stack_settings
from quorate.sim.sweep import finish, sweep_main

SCENARIOS = ("calm", "crash", "driver", "partition", "mixed")
WRITE_DELAY = 0.01


class KeyHost:
    """One machine: its key files, its codec's keys, and (while the daemon runs) its node core."""

    def __init__(self, sim: KeySim, nodeid: int, key: bytes, *, old_release: bool) -> None:
        self.sim = sim
        self.nodeid = nodeid
        self.key_file = key
        self.staged: bytes | None = None
        self.old_release = old_release
        self.core: NodeCore | None = None
        self.send_key = key
        self.accept: tuple[bytes, ...] = (key,)
        self.retired: bytes | None = None
        self.boots = 0
        self.seq = 0
        self.timer: Event | None = None
        self.fetched: list[FetchDone] = []

    def start(self) -> None:
        self.boots += 1
        self.send_key, self.accept, self.retired = self.key_file, (self.key_file,), None
        settings = self.sim.template.settings(self.nodeid, b"")
        features = frozenset() if self.old_release else SUPPORTED
        self.core = NodeCore(
            settings, boot=self.boots, now=self.sim.kernel.t, highest_seq=self.seq, key=self.key_file,
            features=features,
        )  # fmt: skip
        self.sim.log(f"start node {self.nodeid} (boot {self.boots}{', old release' if self.old_release else ''})")
        self.flush()

    def stop(self) -> None:
        self.core = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.sim.log(f"crash node {self.nodeid}")

    def flush(self) -> None:
        core = self.core
        if core is None:
            return
        for effect in core.take_effects():
            if isinstance(effect, Send):
                for to in effect.to:
                    self.sim.send(self.nodeid, to, self.send_key, effect.message)
            elif isinstance(effect, PersistGeneration):
                self.seq = max(self.seq, effect.seq)
            elif isinstance(effect, Log) and ("key" in effect.text or effect.level != "info"):
                self.sim.log(f"node {self.nodeid}: {effect.text}")
        for key_effect in core.take_key_effects():
            self._carry_out(key_effect)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = core.next_deadline()
        if deadline is not None:
            self.timer = self.sim.kernel.at(deadline, self._tick)

    def _carry_out(self, effect: object) -> None:
        if isinstance(effect, StageKey):
            self.staged = effect.key
            self._later(KeyWritten(effect.rotation, KeyStep.STAGED, True))
        elif isinstance(effect, InstallKey):
            self.key_file = effect.key
            self.staged = None
            self._later(KeyWritten(effect.rotation, KeyStep.INSTALLED, True))
        elif isinstance(effect, DiscardKey):
            self.staged = None
        elif isinstance(effect, UseKeys):
            self.send_key, self.accept, self.retired = effect.send, effect.accept, effect.retired
        elif isinstance(effect, SendRetired) and self.retired is not None:
            for to in effect.to:
                self.sim.send(self.nodeid, to, self.retired, effect.message)
        elif isinstance(effect, FetchDone):
            self.fetched.append(effect)
            self.sim.log(f"node {self.nodeid}: key fetch: {effect.text}")

    def _later(self, report: KeyWritten) -> None:
        boot = self.boots

        def done() -> None:
            if self.core is not None and self.boots == boot:
                self.core.key_written(report, self.sim.kernel.t)
                self.flush()

        self.sim.kernel.after(WRITE_DELAY, done)

    def _tick(self) -> None:
        self.timer = None
        if self.core is not None:
            self.core.handle_timer(self.sim.kernel.t)
            self.flush()

    def members(self) -> frozenset[int]:
        return self.core.membership.members if self.core is not None else frozenset()


class KeySim:
    def __init__(self, rng: random.Random, n: int, *, old: frozenset[int] = frozenset()) -> None:
        self.rng = rng
        self.kernel = Kernel()
        self.template = stack_settings(n, {}, token=1.0)
        first = bytes(rng.getrandbits(8) for _ in range(64))
        self.hosts = {i: KeyHost(self, i, first, old_release=i in old) for i in range(1, n + 1)}
        self.loss = 0.0
        self.blocked: set[tuple[int, int]] = set()
        self.auth_failed = 0
        self.refusals: list[str] = []
        self.fetching = False  # from the fetches on: a node that fetches leaves the peers still on the old key
        self.kernel.checks.append(lambda: None)

    @property
    def trace(self) -> list[str]:
        return self.kernel.trace

    def log(self, text: str) -> None:
        self.kernel.log(text)

    def run_until(self, end: float) -> None:
        self.kernel.run_until(end)

    def send(self, sender: int, receiver: int, key: bytes, message: Message) -> None:
        if (sender, receiver) in self.blocked or (self.loss and self.rng.random() < self.loss):
            return
        delay = 0.0005 + self.rng.random() * 0.002
        self.kernel.after(delay, lambda: self.deliver(sender, receiver, key, message))

    def deliver(self, sender: int, receiver: int, key: bytes, message: Message) -> None:
        host = self.hosts[receiver]
        core = host.core
        if core is None:
            return
        now = self.kernel.t
        if key in host.accept:
            if host.old_release and isinstance(message, KEY_MESSAGES):
                core.undecodable += 1  # 0.2.0 does not know these kinds: dropped, counted
                return
            core.deliver(message, sender, now)
        elif host.retired is not None and key == host.retired:
            core.retired_datagram(encode(message), sender, now)
        else:
            self.auth_failed += 1
            other = self.hosts[sender]
            if not self.fetching and sender in host.members() and receiver in other.members():
                raise InvariantViolation(
                    f"t={now:.3f}: node {receiver} cannot open a datagram from node {sender}, a member of its view "
                    f"{sorted(host.members())}: the rotation cut a member off"
                )
            return
        host.flush()

    def rotate(self, nodeid: int) -> str | None:
        host = self.hosts[nodeid]
        if host.core is None:
            return "down"
        key = bytes(self.rng.getrandbits(8) for _ in range(64))
        answer = host.core.rotate_key(key, 86400, self.kernel.t)
        self.log(f"rotate on node {nodeid}: {answer or 'started'}")
        if answer is not None:
            self.refusals.append(answer)
        host.flush()
        return answer

    def fetch(self, nodeid: int) -> None:
        host = self.hosts[nodeid]
        if host.core is not None:
            host.core.fetch_key(self.rng.getrandbits(32), self.kernel.t)
            host.flush()

    def live(self) -> list[KeyHost]:
        return [h for h in self.hosts.values() if h.core is not None]

    def check_end(self) -> None:
        live = self.live()
        ids = frozenset(h.nodeid for h in live)
        for host in live:
            if host.members() != ids:
                raise InvariantViolation(f"node {host.nodeid} has view {sorted(host.members())}, not {sorted(ids)}")
            assert host.core is not None
            rot = host.core.keys.current
            if rot is not None and rot.phase in (Phase.STAGING, Phase.SWITCHING):
                raise InvariantViolation(f"node {host.nodeid}: rotation {rot.rid} left in phase {rot.phase.value}")
        files = {h.key_file for h in self.hosts.values() if h.core is not None}
        if len(files) != 1:
            raise InvariantViolation(f"the live nodes hold {len(files)} different key files")


def run(seed: int, scenario: str, *, verbose: bool = False) -> KeySim:
    rng = random.Random(seed)
    n = rng.choice((3, 4, 5))
    old = frozenset(i for i in range(1, n + 1) if rng.random() < 0.3) if scenario == "mixed" else frozenset()
    sim = KeySim(rng, n, old=old)
    k = sim.kernel
    for host in sim.hosts.values():
        k.at(rng.random() * 0.5, host.start)
    sim.loss = 0.03 if scenario != "calm" else 0.0
    initiator = rng.randint(1, n)
    when = 8.0 + rng.random() * 2
    down_before: int | None = None
    if scenario == "crash" and rng.random() < 0.5:  # a node down before the rotation, started after it
        down_before = rng.choice([i for i in range(1, n + 1) if i != initiator])
        k.at(6.0, sim.hosts[down_before].stop)
        k.at(when + 20.0, sim.hosts[down_before].start)
    k.at(when, lambda: sim.rotate(initiator))
    if scenario in ("crash", "driver"):
        victim = initiator if scenario == "driver" else rng.randint(1, n)
        if victim != down_before:
            at = when + rng.random() * 0.2
            k.at(at, sim.hosts[victim].stop)
            k.at(at + 3.0 + rng.random() * 15, sim.hosts[victim].start)
    if scenario == "partition":
        nodes = list(range(1, n + 1))
        rng.shuffle(nodes)
        small = set(nodes[: rng.randint(1, (n - 1) // 2)])
        at = when + rng.random() * 0.2

        def cut() -> None:
            sim.blocked = {(a, b) for a in range(1, n + 1) for b in range(1, n + 1) if (a in small) != (b in small)}
            sim.log(f"partition {sorted(small)} from the rest")

        def heal() -> None:
            sim.blocked = set()
            sim.log("heal")

        k.at(at, cut)
        k.at(at + 2.0 + rng.random() * 10, heal)
    k.at(45.0, lambda: setattr(sim, "loss", 0.0))
    if scenario == "mixed":

        def upgrade_and_retry() -> None:
            if old:
                expected = [t for t in sim.refusals if "upgrade" in t and "key rotation" in t]
                if not expected:
                    raise InvariantViolation(f"a rotation with old-release members {sorted(old)} was not refused")
            for nodeid in sorted(old):
                host = sim.hosts[nodeid]
                host.stop()
                host.old_release = False
                k.after(0.5, host.start)
            k.after(15.0, lambda: sim.rotate(initiator))

        k.at(20.0, upgrade_and_retry)

    def fetch_outsiders() -> None:
        """Nodes that do not hold the newest completed rotation's key fetch it (what their log tells them)."""
        sim.fetching = True
        live = sim.live()
        done = [h for h in live if h.core is not None and h.core.keys.last is not None
                and h.core.keys.current is not None and h.core.keys.current.phase is Phase.DONE]  # fmt: skip
        if not done:
            return
        newest = max(done, key=lambda h: h.core.keys.last if h.core and h.core.keys.last else (0, 0))
        for host in live:
            if host.key_file != newest.key_file:
                sim.fetch(host.nodeid)

    k.at(60.0, fetch_outsiders)
    finish(sim, 90.0, sim.check_end, verbose=verbose)
    return sim


def main(argv: list[str] | None = None) -> int:
    return sweep_main(
        argv, module="quorate.sim.key_sim", description=__doc__.splitlines()[0] if __doc__ else None,
        scenarios=SCENARIOS, default_seeds="0-199", run=lambda seed, scenario, verbose: run(seed, scenario,
        verbose=verbose),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
