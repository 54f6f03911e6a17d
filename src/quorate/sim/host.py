"""One simulated machine: a `NodeCore` (the daemon's, unchanged) and simulated carriers for its effects.

Theory of operation
-------------------
A host is what the testbed's namespace node is, on virtual time: power, a daemon that can be killed, paused
(SIGSTOP) and restarted, a local clock that may run fast or slow (each core sees only its own clock), a disk
that keeps what the daemon persisted, and processes that outlive the daemon. The carriers do what the daemon's
do, with seeded delays and failures:

* the executor runs starts and stops one at a time per service; ``truth`` is what really runs (the ground truth
  the invariants check), which survives the daemon and dies only with the power;
* fence devices (the world's power switch) power the victim off after a delay, or fail, or hang;
* the quorum disk (`quorate.sim.disk`) answers reads and writes through this host's single I/O worker;
* heuristics, lvm refreshes and configuration files answer as the world's models say.

A paused host's daemon does nothing: datagrams, reports and its timer wait, and are handled in a seeded order
when it resumes. Its processes (services, fence agents) go on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from quorate.core.config_dist import Activate, Adopt, Discard, Stage
from quorate.core.effects import Log, PersistGeneration, PersistRejoin, Send
from quorate.core.fencing import CancelFence, RunFence
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockReleased
from quorate.core.messages import Message
from quorate.core.node_core import NodeCore
from quorate.core.node_io import (
    Action,
    AdoptRefused,
    CheckService,
    CloseDisk,
    ConfigActivated,
    ConfigStaged,
    DiskOpened,
    DiskRead,
    DiskStatusFile,
    DiskWritten,
    Effect,
    ExecOutcome,
    FenceOnce,
    HeuristicDone,
    LvmRefreshResult,
    OpenDisk,
    ReadDisk,
    RefreshLvm,
    Reply,
    Report,
    Request,
    RunHeuristic,
    SelfFence,
    ServiceDone,
    ServicesRunning,
    StartService,
    StatusChecked,
    StopService,
    WriteDisk,
)
from quorate.core.node_settings import NodeSettings
from quorate.core.qdisk_effects import block_for_stamp
from quorate.sim.disk import WALL, DiskAccess, SimDisk
from quorate.sim.kernel import Kernel
from quorate.sim.network import SimNetwork


class World(Protocol):
    """The simulated world a host lives in (`quorate.sim.world.World`, structurally: no import cycle)."""

    kernel: Kernel
    net: SimNetwork
    rng: random.Random
    names: dict[int, str]
    disk: SimDisk | None
    auto_boot: tuple[float, float] | None
    restart_daemons: bool
    restart_delay: float

    def settings_for(self, nodeid: int, data: bytes) -> NodeSettings: ...
    def validate(self, nodeid: int, data: bytes, current: bytes) -> str | None: ...
    def activation(self, nodeid: int, old: bytes, new: bytes) -> ConfigActivated: ...
    def staged(self, host: SimHost, version: int, ok: bool) -> None: ...
    def activated(self, host: SimHost, version: int, by_commit: bool) -> None: ...
    def reply(self, host: SimHost, reply: Reply) -> None: ...
    def lock_event(self, host: SimHost, effect: LockGranted | LockDenied | LockReleased | LockLost) -> None: ...
    def fence(self, fencer: SimHost, effect: RunFence | CancelFence | FenceOnce) -> None: ...
    def log(self, text: str) -> None: ...


@dataclass
class Faults:
    """What goes wrong on this host, as a scenario sets it."""

    agent_fail: float = 0.0  # probability that a start or stop fails (stops fail half as often)
    fence_fail: float = 0.0  # probability that a fence pass run by this host fails
    score_ok: bool = True  # the quorum disk's heuristics pass
    status_fail: set[str] = field(default_factory=set)  # services whose next status check fails


@dataclass
class Op:
    effect: StartService | StopService
    ok: bool
    run: int  # the daemon run that ordered it: a later run never hears of it


class SimHost:
    def __init__(self, world: World, nodeid: int, *, rate: float = 1.0, offset: float = 0.0) -> None:
        self.world = world
        self.nodeid = nodeid
        self.rate = rate
        self.offset = offset
        self.powered = False
        self.paused = False
        self.core: NodeCore | None = None
        self.boots = 0
        self.persisted_seq = 0
        self.persisted_rejoin: tuple[int, frozenset[int]] = (0, frozenset())
        self.data = b""  # the cluster.conf on this host's disk
        self.truth: dict[str, str] = {}  # what really runs here
        # Services that appeared in `truth` since the owner of this list last looked (None: nobody looks). Only
        # an appearance can break S1, so a checker that reads this list need not scan every host's truth.
        self.truth_gained: list[str] | None = None
        self.believed: dict[str, str] = {}  # what this run of the daemon's executor knows it runs
        self.queues: dict[str, list[Op]] = {}
        self.busy: set[str] = set()
        self.access = DiskAccess()
        self.faults = Faults()
        self.replies: dict[int, Reply] = {}
        self.events: list[tuple[float, object]] = []  # decisions passed between its cores (views, quorum, fences)
        self.fences: list[tuple[int, object]] = []  # (victim, event) this host's fence agents are running
        self.on_effect: Callable[[SimHost, Effect], None] | None = None
        self._timer: Any = None
        self._timer_for = 0.0  # the deadline the armed timer is for
        self._held: list[Callable[[], None]] = []  # inputs that wait while paused
        self._generation = 0  # bumps when the daemon dies: its pending callbacks are dropped
        self._power_epoch = 0  # bumps at every power-on: what ran before is gone
        self._first_live_run = 0  # agents of earlier daemon runs were killed by the daemon run that started then

    # ------------------------------------------------------------------------------------------- time

    def local(self, t: float | None = None) -> float:
        return self.offset + self.rate * (self.world.kernel.t if t is None else t)

    def _global(self, local: float) -> float:
        at = (local - self.offset) / self.rate
        while self.local(at) < local:  # rounding must not wake a node just before its deadline
            at = math.nextafter(at, math.inf)
        return at

    @property
    def rng(self) -> random.Random:
        return self.world.rng

    @property
    def running_daemon(self) -> bool:
        return self.powered and self.core is not None

    # -------------------------------------------------------------------------------------- lifecycle

    def power_on(self, *, daemon: bool = True) -> None:
        if self.powered:
            return
        self.powered, self.paused = True, False
        self._power_epoch += 1
        self.truth, self.believed, self.queues, self.busy = {}, {}, {}, set()
        self.world.log(f"power on {self.name}")
        if daemon:
            self.start_daemon()

    def power_off(self, why: str) -> None:
        if not self.powered:
            return
        self.world.log(f"power off {self.name}: {why}")
        self._stop_daemon()
        self.powered, self.paused = False, False
        self.truth, self.believed, self.queues, self.busy = {}, {}, {}, set()
        self.fences = []
        if self.world.auto_boot is not None:
            low, high = self.world.auto_boot
            epoch = self._power_epoch
            self.world.kernel.after(self.rng.uniform(low, high), lambda: self._auto_boot(epoch))

    def _auto_boot(self, epoch: int) -> None:
        if not self.powered and epoch == self._power_epoch:
            self.power_on()

    def start_daemon(self) -> None:
        if not self.powered or self.core is not None:
            return
        self.boots += 1
        self.paused = False
        self.believed, self.queues, self.busy = {}, {}, set()  # a new executor: it knows nothing yet
        self._first_live_run = self._generation  # it kills the agents a previous run left behind
        self.access.busy_until = 0.0
        settings = self.world.settings_for(self.nodeid, self.data)
        self.core = NodeCore(
            settings,
            boot=self.boots,
            now=self.local(),
            highest_seq=self.persisted_seq,
            rejoin=self.persisted_rejoin,
        )
        self.core.watchers.append(self._observe)
        self.world.log(f"start {self.name} (boot {self.boots})")
        self._after_input()

    def _observe(self, now: float, decision: object) -> None:
        self.events.append((self.world.kernel.t, decision))

    def kill_daemon(self, why: str) -> None:
        """SIGKILL: the daemon is gone; what it started keeps running until the machine is powered off."""
        if self.core is None:
            return
        self.world.log(f"daemon of {self.name} exits: {why}; still running: {sorted(self.truth)}")
        self._stop_daemon()

    def _stop_daemon(self) -> None:
        self.core = None
        self._generation += 1
        self._held = []
        self.queues, self.busy = {}, set()  # queued operations die with the executor; running agents finish
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause(self) -> None:
        if self.running_daemon and not self.paused:
            self.paused = True
            self.world.log(f"pause {self.name} (its processes keep running)")

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        held, self._held = self._held, []
        self.world.log(f"resume {self.name} with {len(held)} waiting inputs")
        self.rng.shuffle(held)  # the socket buffer, the timer and the agents' answers, in any order
        for step in held:
            if self.core is None:
                return
            step()
        self._tick()

    @property
    def name(self) -> str:
        return self.world.names.get(self.nodeid, f"node{self.nodeid}")

    # ----------------------------------------------------------------------------------------- inputs

    def _when_awake(self, step: Callable[[], None]) -> None:
        """Run a daemon input now, or when the daemon resumes; never for a later run of the daemon."""
        if self.core is None:
            return
        if self.paused:
            if len(self._held) < 5000:
                self._held.append(step)
            return
        step()

    def deliver(self, sender: int, message: Message) -> None:
        if not self.powered:
            return

        def step() -> None:
            assert self.core is not None
            self.core.deliver(message, sender, self.local())
            self._after_input()

        self._when_awake(step)

    def witness_answer(self, payload: bytes) -> None:
        """A datagram from the quorum witness reaches this host (as `deliver` does for a peer's)."""
        if not self.powered:
            return

        def step() -> None:
            assert self.core is not None
            self.core.witness_answer(payload, self.local())
            self._after_input()

        self._when_awake(step)

    def report(self, event: Report) -> None:
        generation = self._generation

        def step() -> None:
            if self.core is None or generation != self._generation:
                return
            self.core.report(event, self.local())
            self._after_input()

        self._when_awake(step)

    def request(self, req: Request) -> int | None:
        """An administrator's command typed on this host (refused silently while its daemon is down or paused)."""
        if not self.running_daemon or self.paused:
            return None
        assert self.core is not None
        rid = self.core.request(req, self.local())
        self._after_input()
        return rid

    def call(self, req: Request) -> Reply | None:
        """A request the node core answers at once (a lock operation), as the daemon's `call`: the answer comes
        back before any other effect it caused is carried out (those follow at the same instant)."""
        if not self.running_daemon or self.paused:
            return None
        assert self.core is not None
        rid = self.core.request(req, self.local())
        effects = self.core.take_effects()
        reply = next((e for e in effects if isinstance(e, Reply) and e.rid == rid), None)
        rest = [e for e in effects if e is not reply]
        generation = self._generation

        def later() -> None:
            if generation == self._generation and self.core is not None:
                for effect in rest:
                    self._carry_out(effect)
                self._arm()

        self.world.kernel.after(0.0, later)
        return reply

    def _tick(self) -> None:
        self._timer = None
        if self.core is None:
            return
        self.core.handle_timer(self.local())
        self._after_input()

    def _after_input(self) -> None:
        core = self.core
        if core is None:
            return
        for effect in core.take_effects():
            self._carry_out(effect)
            if self.core is None:
                return
        self._arm()

    def _arm(self) -> None:
        core = self.core
        if core is None:
            return
        deadline = core.next_deadline()
        if deadline is not None and self._timer is not None and self._timer_for == deadline:
            return  # already armed for it
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None:
            return
        self._timer_for = deadline
        at = self._global(deadline)
        generation = self._generation

        def fire() -> None:
            if generation == self._generation:
                self._when_awake(self._tick)

        self._timer = self.world.kernel.at(at, fire)

    # ---------------------------------------------------------------------------------------- effects

    def _carry_out(self, effect: Effect) -> None:
        world = self.world
        if self.on_effect is not None:
            self.on_effect(self, effect)
        if isinstance(effect, Send):
            for to in effect.to:
                world.net.send(self.nodeid, to, effect.message)
        elif isinstance(effect, Log):
            world.log(f"{self.name}: {effect.text}")
        elif isinstance(effect, PersistGeneration):
            self.persisted_seq = max(self.persisted_seq, effect.seq)
        elif isinstance(effect, PersistRejoin):
            self.persisted_rejoin = (effect.expected, effect.awaiting)
        elif isinstance(effect, StartService | StopService):
            self._enqueue(effect)
        elif isinstance(effect, CheckService):
            failing = effect.service in self.faults.status_fail
            self.faults.status_fail.discard(effect.service)
            detail = "simulated status failure" if failing else "ok"
            self._later(self.rng.uniform(0.001, 0.02), StatusChecked(effect.service, not failing, detail))
        elif isinstance(effect, RunFence | CancelFence | FenceOnce):
            world.fence(self, effect)
        elif isinstance(effect, OpenDisk | ReadDisk | WriteDisk | CloseDisk | DiskStatusFile):
            self._disk(effect)
        elif isinstance(effect, RunHeuristic):
            self._later(self.rng.uniform(0.001, 0.05), HeuristicDone(effect.index, self.faults.score_ok))
        elif isinstance(effect, Stage | Activate | Adopt | Discard):
            self._config(effect)
        elif isinstance(effect, LockGranted | LockDenied | LockReleased | LockLost):
            world.lock_event(self, effect)
        elif isinstance(effect, RefreshLvm):
            self._later(self.rng.uniform(0.001, 0.05), LvmRefreshResult(effect.origin, effect.req, True, "seqno 1"))
        elif isinstance(effect, Reply):
            self.replies[effect.rid] = effect
            world.reply(self, effect)
        elif isinstance(effect, SelfFence):
            self._self_fence(effect.reason)

    def _later(self, delay: float, event: Report) -> None:
        self.world.kernel.after(delay, lambda: self.report(event))

    # -------------------------------------------------------------------------------------- executor

    def _enqueue(self, effect: StartService | StopService) -> None:
        failure = self.faults.agent_fail if isinstance(effect, StartService) else self.faults.agent_fail / 2
        self.queues.setdefault(effect.service, []).append(Op(effect, self.rng.random() >= failure, self._generation))
        if effect.service not in self.busy:
            self._next_op(effect.service)

    def _next_op(self, service: str) -> None:
        queue = self.queues.get(service)
        if not queue:
            self.busy.discard(service)
            return
        op = queue.pop(0)
        self.busy.add(service)
        name = op.effect.service
        if isinstance(op.effect, StartService):
            if self.core is not None and not self.core.quorate:  # the executor's last-moment guard
                self._op_done(op, ExecOutcome.START_FAILED, "this node is not quorate")
                return
            self._set(name, "starting")
        else:  # as the daemon's executor: "stopping" in its books; really stopping only if it really runs
            if name in self.truth:
                self.truth[name] = "stopping"
            self.believed[name] = "stopping"
            self.report(ServicesRunning(dict(self.believed)))
        held = name in self.truth  # a stop can leave behind only what really ran when it began
        epoch = self._power_epoch

        def finish() -> None:
            if epoch != self._power_epoch or op.run < self._first_live_run:
                return  # powered off meanwhile, or killed by a later run of the daemon: it never completed
            same_run = op.run == self._generation
            if isinstance(op.effect, StartService):
                state, outcome = ("started", ExecOutcome.STARTED) if op.ok else (None, ExecOutcome.START_FAILED)
            elif op.ok:
                state, outcome = None, ExecOutcome.STOPPED
            else:
                state, outcome = "failed", ExecOutcome.STOP_FAILED
            if state == "failed" and not held and name not in self.truth:
                # The stop's agent failed, but nothing of the service ran here (a fresh boot's initial stop):
                # the executor must believe the worst, the machine holds nothing.
                if same_run:
                    self.believed[name] = state
                    self.report(ServicesRunning(dict(self.believed)))
            else:
                self._set(name, state, report=same_run)
            if same_run:
                self._op_done(op, outcome, "simulated agent" if op.ok else "simulated agent failed")

        self.world.kernel.after(self.rng.uniform(0.01, 0.3), finish)

    def _set(self, name: str, state: str | None, *, report: bool = True) -> None:
        """The outcome of an agent: the ground truth changes; the executor's books too if it is still the run
        that ordered it (and then the node core hears of it)."""
        books = (self.truth, self.believed) if report else (self.truth,)
        if state is not None and self.truth_gained is not None and name not in self.truth:
            self.truth_gained.append(name)
        for book in books:
            if state is None:
                book.pop(name, None)
            else:
                book[name] = state
        if report:
            self.report(ServicesRunning(dict(self.believed)))

    def _op_done(self, op: Op, outcome: ExecOutcome, detail: str) -> None:
        effect = op.effect
        action = Action.START if isinstance(effect, StartService) else Action.STOP
        why = effect.why if isinstance(effect, StopService) else None
        self.report(ServiceDone(effect.service, effect.cmd, action, outcome, detail, why))
        self._next_op(effect.service)

    def _self_fence(self, reason: str) -> None:
        """quorated's self-fence: it stops what it can (the stops the node core just ordered), then exits
        without a clean leave; what did not stop keeps running until the others fence this machine."""
        self.world.log(f"{self.name}: self-fence: {reason}")
        generation = self._generation
        boots = self.boots

        def die() -> None:
            if self.boots == boots and generation == self._generation:
                self.kill_daemon(f"self-fence: {reason}")
                self.world.kernel.after(self.world.restart_delay, self._restart_after_exit(boots))

        self.world.kernel.after(0.35, die)  # the longest simulated stop

    def _restart_after_exit(self, boots: int) -> Callable[[], None]:
        def restart() -> None:  # systemd restarts quorated (exit status 3); it stops everything before joining
            if self.powered and self.core is None and self.boots == boots and self.world.restart_daemons:
                self.start_daemon()

        return restart

    # ------------------------------------------------------------------------------------------ disk

    def _disk(self, effect: OpenDisk | ReadDisk | WriteDisk | CloseDisk | DiskStatusFile) -> None:
        world = self.world
        kernel = world.kernel
        if isinstance(effect, OpenDisk):
            ok = not self.access.error and world.disk is not None
            incarnation = self.boots * 1000 + self.nodeid
            event = DiskOpened(ok, "/dev/sim-qdisk", "sim_qdisk", incarnation, "" if ok else "EIO")
            self._later(0.01, event)
        elif isinstance(effect, ReadDisk):
            if self.access.busy_until > kernel.t:
                self._later(0.0, DiskRead(False, error="the previous disk transfer has hung"))
                return
            done, ok = self.access.transfer(kernel.t, self.rng)
            if done - kernel.t > effect.budget:
                self._later(effect.budget, DiskRead(False, error="no answer within the read budget"))
            elif not ok:
                self._later(done - kernel.t, DiskRead(False, error="EIO"))
            else:
                kernel.at(done, lambda: self.report(DiskRead(True, world.disk.read() if world.disk else {})))
        elif isinstance(effect, WriteDisk):
            self._write(list(effect.blocks), kernel.t + effect.budget)

    def _write(self, blocks: list[Any], deadline: float) -> None:
        kernel = self.world.kernel
        if not blocks:
            self.report(DiskWritten(True))
            return
        if self.access.busy_until > kernel.t:
            self.report(DiskWritten(False, "previous transfer still hung"))
            return
        block = block_for_stamp(blocks[0], WALL + int(kernel.t), 0.0, 0.0)
        done, ok = self.access.transfer(kernel.t, self.rng)
        disk = self.world.disk
        if ok and disk is not None:
            kernel.at(done, lambda: disk.land(kernel.t, block))  # lands even if the node gave up waiting
        if done > deadline:
            kernel.at(deadline, lambda: self.report(DiskWritten(False, "write missed its deadline")))
        elif not ok:
            kernel.at(done, lambda: self.report(DiskWritten(False, "EIO")))
        else:
            kernel.at(done, lambda: self._write(blocks[1:], deadline))

    # ----------------------------------------------------------------------------------- configuration

    def _config(self, effect: Stage | Activate | Adopt | Discard) -> None:
        world = self.world
        if isinstance(effect, Stage):
            error = world.validate(self.nodeid, effect.data, self.data)
            world.staged(self, effect.version, error is None)
            self._later(0.001, ConfigStaged(effect.tx, effect.digest, error is None, error or ""))
        elif isinstance(effect, Activate | Adopt):
            error = world.validate(self.nodeid, effect.data, self.data)
            if error is not None and isinstance(effect, Adopt):
                self._later(0.001, AdoptRefused(effect.version, effect.digest, error))
                return
            if error is not None:
                world.log(f"{self.name}: configuration version {effect.version} not activated: {error}")
                return
            old, self.data = self.data, effect.data
            committed = isinstance(effect, Activate) and effect.why == "every member staged it"
            world.activated(self, effect.version, committed)
            self.report(world.activation(self.nodeid, old, effect.data))
