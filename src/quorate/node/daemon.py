"""quorated: the cluster daemon of one node, in the foreground (systemd Type=notify).

Theory of operation: an asyncio shell around one `quorate.core.node_core.NodeCore`, in the manner of a sans-I/O
protocol shell. Every input (a datagram, a control request, the outcome of an agent, a disk transfer, the
timer) is handed to the node core with the loop's monotonic time; then the core's effects are carried out in
order (`flush`) and one timer is re-armed at the core's next deadline. The shell holds no policy: it maps node
ids to addresses and turns effects into I/O through its carriers (the executor for services, the fence
runner, the quorum disk's I/O, the configuration files, the lock sessions), each of which reports back.

Start-up refuses, with one line each, what an administrator must fix: a config that does not load, a host
that is not a clusternode, a missing or too open key, a port in use. Those exit with status 100 so that
systemd (RestartPreventExitStatus=100) does not respawn a daemon that cannot work.

SIGTERM or SIGINT make the node leave the cluster cleanly (it is not fenced) and exit once the leave has
been announced; SIGKILL is a failure, which the survivors treat as such.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import math
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from quorate.config import ConfigError, load_config
from quorate.config.model import ClusterConfig, ClusterNode
from quorate.config.to_core import node_settings
from quorate.core.config_dist import Activate, Adopt, Discard, Stage
from quorate.core.effects import Log, PersistGeneration, PersistRejoin, Send
from quorate.core.fencing import CancelFence, RunFence
from quorate.core.key_rotation import (
    DiscardKey,
    FetchDone,
    InstallKey,
    KeyWritten,
    SendRetired,
    StageKey,
    UseKeys,
)
from quorate.core.key_rotation_effects import KeyEffect
from quorate.core.locks import LockDenied, LockGranted, LockLost, LockReleased
from quorate.core.membership import State
from quorate.core.messages import Heartbeat, KeyStep, encode
from quorate.core.node_core import NodeCore
from quorate.core.node_io import (
    AckFence,
    CheckService,
    CloseDisk,
    ConfigActivated,
    DiskOpened,
    DiskStatusFile,
    Effect,
    FenceNow,
    FenceOnce,
    JoinCluster,
    KillMember,
    LeaveCluster,
    OpenDisk,
    PushConfig,
    ReadDisk,
    RefreshLvm,
    Reply,
    Report,
    Request,
    RunHeuristic,
    SelfFence,
    ServiceRequest,
    SetExpected,
    Shutdown,
    StartService,
    StopDisk,
    StopService,
    WriteDisk,
)
from quorate.core.witness_driver import SendToWitness
from quorate.node import protocol
from quorate.node.cman_format import format_clustat, format_fence_ls, format_nodes, format_services, format_status
from quorate.node.config_files import ConfigFiles
from quorate.node.control import DEFAULT_SOCKET, ControlError, ControlServer
from quorate.node.executor import Executor
from quorate.node.fence_runner import FenceRunner
from quorate.node.identity import IdentityError, find_local_node, peer_addresses
from quorate.node.journal import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES
from quorate.node.journal_events import DecisionLog
from quorate.node.keys import (
    KeyFileError,
    choose_key_path,
    discard_staged,
    install_key,
    load_key,
    stage_key,
)
from quorate.node.lock_sessions import LockSessions
from quorate.node.sdnotify import Notifier
from quorate.node.status import CMAN_PROTOCOL_VERSION, build_status, status_doc
from quorate.node.status_text import status_text
from quorate.node.store import DEFAULT_STATE_DIR, StateError, StateStore
from quorate.node.transport import Transport, TransportError
from quorate.node.why import answer_why
from quorate.node.wire import WireCodec
from quorate.node.witness_link import WitnessLink
from quorate.qdisk.shell import DiskIO
from quorate.system.priority import follow_in_this_thread, run_at_realtime_priority

EXIT_FATAL_CONFIG = 100
EXIT_SELF_FENCE = 3
DEFAULT_CONFIG = "/etc/cluster/cluster.conf"
SELF_FENCE_STOP_TIMEOUT = 30.0
MAX_FLUSH_ROUNDS = 100
DISK_READY_TIMEOUT = 30.0

log = logging.getLogger("quorated")


class Daemon:
    def __init__(
        self,
        config: ClusterConfig,
        *,
        node: str | None = None,
        key_path: Path | None = None,
        state_dir: Path = DEFAULT_STATE_DIR,
        socket_path: Path = DEFAULT_SOCKET,
        journal: tuple[int, float] = (DEFAULT_MAX_BYTES, DEFAULT_MAX_AGE),
        clock_warn_above: float = 1.0,
    ) -> None:
        self.config = config
        self.priority_note: tuple[str, str] | None = None  # what `run_at_realtime_priority` said, logged at start
        self.local = find_local_node(config, node)
        self.key_path, self.key_source = choose_key_path(str(key_path) if key_path else None, config.keyfile)
        try:
            self.key = load_key(self.key_path)
        except KeyFileError as exc:
            raise KeyFileError(f"{exc} (key file chosen by {self.key_source})") from None
        self.store = StateStore(state_dir)
        self.store.load()
        self.socket_path = socket_path
        self.addresses, self.resolve_problems = peer_addresses(config.nodes)
        if self.local.nodeid not in self.addresses:
            raise IdentityError(f"cannot resolve this node's own name {self.local.name}: check /etc/hosts")
        self.multicast: str | None = config.multicast_address if config.multicast_explicit else None
        self.recent_log: collections.deque[str] = collections.deque(maxlen=50)
        self.transport: Transport | None = None
        self.witness_link: WitnessLink | None = None
        self._epoch = 0
        self.started_at = 0.0
        self.notifier = Notifier()
        self.replies: dict[int, asyncio.Future[Reply]] = {}
        self._backlog: collections.deque[Effect | KeyEffect] = collections.deque()
        self.key_fetches: dict[int, asyncio.Future[FetchDone]] = {}
        self._flushing = False
        self._timer: asyncio.TimerHandle | None = None
        self._state_writer: asyncio.Task[None] | None = None  # a write of state.json in a worker thread
        self._timer_due = 0.0  # when the armed timer should run (see _check_lateness)
        self._late_after = math.inf  # two heartbeat intervals, once the node core exists (and at each new file)
        self.late_timers = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._disk_ready = asyncio.Event()
        self._terminating = False
        self._exit_code = 0
        # Decision events: logged, journaled, counted; `quorate timeline` (E-1..E-4).
        self.decisions = DecisionLog(state_dir, bounds=journal, log_line=self.log_line, logger=log)
        self.clock_warn_above = clock_warn_above

    @property
    def undecodable(self) -> int:
        return self.core.undecodable

    # ---------------------------------------------------------------------------------- lifecycle

    async def run(self) -> int:
        self._loop = loop = asyncio.get_running_loop()
        workers = ThreadPoolExecutor(thread_name_prefix="quorate-worker", initializer=follow_in_this_thread)
        loop.set_default_executor(workers)
        now = loop.time()
        self.started_at = now
        epoch = self.store.new_boot()
        self._epoch = epoch
        self.codec = WireCodec(self.key, self.config.cluster_id, self.local.nodeid, epoch, set(self.addresses))
        sock = Transport.open_socket(self.addresses[self.local.nodeid], self.config.port, self.multicast)
        self.files = ConfigFiles(
            self.config,
            self.local.nodeid,
            current=lambda: self.config,
            members=self._member_names,
            activated=self._activated,
            report=self.report,
            log=self.log_line,
        )
        self.executor = Executor(self.report, may_start=lambda: self.core.quorate)
        self.fences = FenceRunner(lambda: self.config, self.report, self.log_line)
        self.disk = DiskIO(self.local.nodeid, self.report, self.log_line)
        self.lock_sessions = LockSessions(self.local.name, self.submit, self.call, self.report)
        unavailable = self.executor.configure(self.config, self.local.name, self._is_member)
        if unavailable:
            self.log_line(unavailable, "warning")
        self.core = NodeCore(
            node_settings(self.config, self.local.nodeid, self.files.data()),
            boot=epoch,
            now=now,
            highest_seq=self.store.start_seq,
            rejoin=(self.store.state.rejoin_expected, frozenset(self.store.state.rejoin_awaiting)),
            key=self.key,
        )
        self.core.clock.warn_above = self.clock_warn_above
        self._late_after = 2 * self.core.membership.config.heartbeat_interval
        self._align_heartbeats(now)
        self.decisions.start(self.core, self.local.name, self._send_datagram)
        _, protocol = await loop.create_datagram_endpoint(
            lambda: Transport(
                self.codec,
                self.addresses,
                self.config.port,
                self._on_datagram,
                self.multicast,
                deliver_retired=self._on_retired,
            ),
            sock=sock,
        )
        self.transport = protocol
        if self.core.witness is not None:
            await self._open_witness_link()
        control = ControlServer(self.socket_path, self._on_request)
        control.sessions.update(self.lock_sessions.handlers())
        await control.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_terminate)
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        for problem in self.resolve_problems:
            self.log_line(problem, "warning")
        for line in unmanaged(self.config):
            self.log_line(line, "warning")
        if self.priority_note is not None:
            self.log_line(*self.priority_note)
        self.log_line(
            f"node {self.local.name} (id {self.local.nodeid}) starting in cluster {self.config.name} "
            f"(id {self.config.cluster_id}), config version {self.config.config_version}, "
            f"{'multicast ' + self.multicast if self.multicast else 'unicast'} on UDP port {self.config.port}, "
            f"cluster key from {self.key_path} ({self.key_source})"
        )
        self.flush()
        if self.core.qdisk is not None:  # qdiskd started before cman: READY once the disk is open (or failed)
            try:
                await asyncio.wait_for(self._disk_ready.wait(), DISK_READY_TIMEOUT)
            except TimeoutError:
                self.log_line("the quorum disk did not open in time; going on without waiting", "warning")
        self.notifier.ready(self.core.status_line())
        try:
            await self._stop.wait()
        finally:
            if self._timer:
                self._timer.cancel()
            self.fences.cancel_all()
            self.executor.close()
            await self._stop_disk()
            await control.close()
            self.notifier.stopping()
            protocol.transport and protocol.transport.close()
            if self.witness_link is not None:
                self.witness_link.close()
            self.decisions.flush(self.core, self.now())
            await self.decisions.close()
        return self._exit_code

    async def _stop_disk(self) -> None:
        """A clean logout from the quorum disk (block written NONE) within one interval, then the device closes."""
        if self.core.qdisk is None:
            self.disk.cancel()
            return
        interval = float(self.core.qdisk.interval)
        self.call(StopDisk())
        self.flush()
        pending = [t for t in self.disk.tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=interval)
        self.flush()
        self.disk.cancel()

    def _on_terminate(self) -> None:
        if self._terminating:
            return
        self._terminating = True
        asyncio.get_running_loop().create_task(self._terminate())

    async def _terminate(self) -> None:
        """Stop the local services (R-34: a planned failover without fencing), then leave cleanly and exit."""
        if self.core.local.active():
            self.log_line("stopping: stopping local services before leaving the cluster")
        await self.submit(Shutdown())
        await self.lock_sessions.wait_closed()  # clients stop their commands before the leave
        if self.core.membership.state is not State.LEFT:
            await self.submit(LeaveCluster(force=True))
        self.log_line("stopping: left the cluster cleanly")
        # Leave datagrams go out now; a short grace lets the socket drain before the process exits.
        asyncio.get_running_loop().call_later(0.05, self._stop.set)

    def _on_hangup(self) -> None:
        self.log_line("SIGHUP: configuration changes are activated cluster-wide with 'ccs_tool update'", "warning")

    # ------------------------------------------------------------------------------------- inputs

    def now(self) -> float:
        # The loop is kept: asking asyncio for the running loop costs a getpid system call, several per datagram.
        return (self._loop or asyncio.get_running_loop()).time()

    def _on_datagram(self, sender: int, epoch: int, payload: bytes) -> None:
        core = self.core
        before = core.routine_mark()
        core.receive(payload, sender, self.now(), wall=time.time())
        if core.unchanged_by_routine(before) and not self._backlog:
            return  # a quiet cluster's usual datagram: nothing to carry out, the armed timer stands
        self.flush()

    def _send_datagram(self, to: tuple[int, ...], payload: bytes) -> None:
        if self.transport is not None:
            self.transport.send(to, payload)

    def _on_retired(self, sender: int, epoch: int, payload: bytes) -> None:
        self.core.retired_datagram(payload, sender, self.now())
        self.flush()

    async def _open_witness_link(self) -> None:
        """The witness's socket: an ephemeral UDP port on this node's cluster address."""
        if self.witness_link is not None:
            return
        self.witness_link = await WitnessLink.open(
            self.addresses[self.local.nodeid],
            self.key,
            self.config.cluster_id,
            self.local.nodeid,
            self._epoch,
            self._on_witness,
        )

    def _on_witness(self, payload: bytes) -> None:
        self.core.witness_answer(payload, self.now())
        self.flush()

    def _on_timer(self) -> None:
        self._timer = None
        now = self.now()
        self._check_lateness(now)
        self._align_heartbeats(now)
        self.core.handle_timer(now)
        self.flush()

    def _check_lateness(self, now: float) -> None:
        """Say so when the loop ran this timer much later than asked: its heartbeats were late by as much, and
        peers evict a node silent for a token. The cause is outside the protocol (a blocking call on the loop, a
        starved CPU, a paused virtual machine), so the figure is what an administrator needs to find it, as
        corosync's "not scheduled for" warning gives. Threshold: two heartbeat intervals."""
        late = now - self._timer_due
        if late > self._late_after:
            interval = self.core.membership.config.heartbeat_interval
            token = self.core.membership.config.token
            self.late_timers += 1
            self.log_line(
                f"quorated was not scheduled for {late * 1000:.0f} ms (warning above {2 * interval * 1000:.0f} ms): "
                f"its heartbeats were late by as much, and peers evict a node silent for {token * 1000:.0f} ms "
                "(token); look for a blocked disk or starved CPUs",
                "warning",
            )

    def _align_heartbeats(self, now: float) -> None:
        """Put the heartbeat grid on the wall clock, which every node shares to within NTP's error, so that the
        nodes send together and each wakes up once per interval rather than once per datagram (see
        `Membership.heartbeat_due`). Followed again only when the wall clock moved by more than a millisecond
        against the loop's clock (a step, or slewing adding up): a grid that moves never delays a heartbeat."""
        phase = now - time.time()
        membership = self.core.membership
        if membership.heartbeat_phase is None or abs(membership.heartbeat_phase - phase) > 1e-3:
            membership.heartbeat_phase = phase

    def report(self, event: Report) -> None:
        """A carrier's outcome: to the node core, then its effects (a report from inside a flush joins it)."""
        self.core.report(event, self.now())
        if isinstance(event, ConfigActivated):  # a new token: a new threshold for `_check_lateness`
            self._late_after = 2 * self.core.membership.config.heartbeat_interval
        if isinstance(event, DiskOpened):
            self._disk_ready.set()
        if not self._flushing:
            self.flush()

    def submit(self, req: Request) -> asyncio.Future[Reply]:
        """A request to the node core; the future resolves with its `Reply`."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        rid = self.core.request(req, self.now())
        self.replies[rid] = future
        self.flush()
        return future

    def call(self, req: Request) -> Reply | None:
        """A request the node core answers at once; returns the answer before any other effect it caused is
        carried out (those follow on the next turn of the loop)."""
        rid = self.core.request(req, self.now())
        reply = None
        for effect in self.core.take_effects():
            if isinstance(effect, Reply) and effect.rid == rid and reply is None:
                reply = effect
            else:
                self._backlog.append(effect)
        asyncio.get_running_loop().call_soon(self.flush)
        return reply

    def _requested_node(self, name: str) -> ClusterNode | str:
        """The configured node a request names (short names accepted), or the refusal listing the valid ones."""
        node = self.config.node_by_name(name)
        if node is None:
            names = ", ".join(n.name for n in self.config.nodes)
            return f"unknown node {name!r} (nodes: {names})"
        return node

    async def _ask(self, req: Request, text: str = "") -> protocol.Answer:
        reply = await self.submit(req)
        if not reply.ok:
            return protocol.Answer(False, error=reply.text, code=reply.code.value)
        return protocol.Answer(True, text=text)

    async def _on_request(self, request: protocol.Request) -> Any:
        """One control request, decoded against the schema (`quorate.node.protocol`): its answer."""
        now = self.now()
        text = protocol.Answer
        match request:
            case protocol.Status():
                return protocol.StatusAnswer(True, status_doc(self, now))
            case protocol.StatusText(as_json=as_json):
                return text(True, text=status_text(status_doc(self, now), as_json=as_json))
            case protocol.CmanStatus():
                return text(True, text=format_status(build_status(self, now)))
            case protocol.CmanNodes(addresses=addresses, only=only):
                return text(True, text=format_nodes(build_status(self, now), addresses=addresses, only=only))
            case protocol.CmanVersion():
                return text(True, text=f"{CMAN_PROTOCOL_VERSION} config {self.config.config_version}\n")
            case protocol.Clustat():
                options = {"member": request.member, "service": request.service, "quiet": request.quiet,
                           "xml": request.xml}  # fmt: skip
                return text(True, text=format_clustat(build_status(self, now), options))
            case protocol.CmanServices():
                held = self.core.locks.status(now)["local"]
                assert isinstance(held, list)
                spaces = [str(entry["lockspace"]) for entry in held]
                return text(True, text=format_services(build_status(self, now), spaces))
            case protocol.FenceLs():
                return text(True, text=format_fence_ls(build_status(self, now)))
            case protocol.Expected(votes=votes):
                return await self._ask(SetExpected(votes))
            case protocol.Leave(remove=remove, force=force):
                return await self._ask(LeaveCluster(remove, force))
            case protocol.Join():
                return await self._ask(JoinCluster())
            case protocol.Kill(node=name) | protocol.FenceAck(node=name) | protocol.FenceNode(node=name):
                node = self._requested_node(name)
                if isinstance(node, str):
                    return text(False, error=node, code="invalid")
                if isinstance(request, protocol.Kill):
                    return await self._ask(KillMember(node.nodeid))
                if isinstance(request, protocol.FenceAck):
                    return await self._ask(AckFence(node.nodeid), "done\n")
                reply = await self.submit(FenceNow(node.nodeid))
                return text(reply.ok, error=None if reply.ok else reply.text, text=reply.text + "\n")
            case protocol.ConfigPush(data=data, dry_run=dry_run):
                return await self._config_push(data.encode(), dry_run)
            case protocol.Svc():
                return await self._service_request(request)
            case protocol.Why(name=name, raw=raw):
                return answer_why(self.core, self.config, name, now, raw=raw)
            case protocol.Timeline():
                self.decisions.flush(self.core, now)
                return await self.decisions.answer(request, config=self.config, core=self.core,
                                                   local_id=self.local.nodeid)  # fmt: skip
            case protocol.KeyRotate(grace=grace):
                refusal = self.core.rotate_key(os.urandom(64), max(0, grace), now)
                self.flush()
                if refusal is not None:
                    return text(False, error=refusal, code="refused")
                return text(True, text="key rotation started: 'quorate key status' follows it\n")
            case protocol.KeyStatus():
                members = self.core.membership.members
                doc = self.core.keys.status(now) | {
                    "key_file": str(self.key_path),
                    "source": self.key_source,
                    "view_features": sorted(self.core.features.common(members)),
                }
                return text(True, text=json.dumps(doc))
            case protocol.KeyFetchReq():
                return await self._key_fetch()
        return text(False, error=f"unknown command {type(request).__name__}", code="invalid")

    async def _key_fetch(self) -> protocol.Answer:
        nonce = int.from_bytes(os.urandom(4), "big")
        future: asyncio.Future[FetchDone] = asyncio.get_running_loop().create_future()
        self.key_fetches[nonce] = future
        self.core.fetch_key(nonce, self.now())
        self.flush()
        done = await future
        return protocol.Answer(done.ok, error=None if done.ok else done.text, text=done.text + "\n")

    def _carry_out_key(self, effect: KeyEffect) -> None:
        """Key files and the wire codec's keys, as the key rotation core asks; outcomes go back to it."""
        if isinstance(effect, StageKey | InstallKey):
            step = KeyStep.STAGED if isinstance(effect, StageKey) else KeyStep.INSTALLED
            try:
                (stage_key if isinstance(effect, StageKey) else install_key)(self.key_path, effect.key)
                report = KeyWritten(effect.rotation, step, True)
            except OSError as exc:
                report = KeyWritten(effect.rotation, step, False, f"{self.key_path}: {exc.strerror or exc}")
            if isinstance(effect, InstallKey) and report.ok:
                self.key = effect.key
            self.core.key_written(report, self.now())
        elif isinstance(effect, DiscardKey):
            discard_staged(self.key_path)
        elif isinstance(effect, UseKeys):
            self.codec.use_keys(effect.send, effect.accept, effect.retired)
        elif isinstance(effect, SendRetired):
            if self.transport is not None and self.codec.has_retired:
                self.transport.send(effect.to, encode(effect.message), retired=True)
        elif isinstance(effect, FetchDone):
            future = self.key_fetches.pop(effect.nonce, None)
            if future is not None and not future.done():
                future.set_result(effect)

    async def _config_push(self, data: bytes, dry_run: bool) -> protocol.Answer:
        """`ccs_tool update FILE` / `quorate config push FILE`, typed on this node: checked here first."""
        candidate, error = await self.files.check_off_loop(data, members_rule=True)
        if candidate is None:
            return protocol.Answer(False, error=f"refused on {self.local.name}: {error}", code="invalid")
        if dry_run:
            text = (
                f"would distribute config version {candidate.config_version} "
                f"(running {self.config.config_version}); nothing sent"
            )
            return protocol.Answer(True, text=text + "\n")
        reply = await self.submit(PushConfig(data, candidate.config_version))
        return protocol.Answer(reply.ok, error=None if reply.ok else reply.text, code=reply.code.value,
                               text=reply.text + "\n")  # fmt: skip

    async def _service_request(self, request: protocol.Svc) -> protocol.ServiceAnswer | protocol.Answer:
        service = request.service.removeprefix("service:")
        target = 0
        if request.target:
            node = self.config.node_by_name(request.target)
            if node is None:
                return protocol.Answer(False, error=f"'{request.target}' not in membership list", code="invalid")
            target = node.nodeid
        reply = await self.submit(ServiceRequest(request.op, service, target))
        value = reply.value if isinstance(reply.value, dict) else {"done": False, "result": reply.text, "owner": ""}
        return protocol.ServiceAnswer(True, bool(value["done"]), str(value["result"]), str(value["owner"]))

    # ------------------------------------------------------------------------------------ effects

    def flush(self) -> None:
        """Carry out every effect until none is left, then re-arm the one timer."""
        if self._flushing:
            return
        self._flushing = True
        try:
            for _ in range(MAX_FLUSH_ROUNDS):  # carriers may report at once; bounded, never a spin
                self._backlog.extend(self.core.take_effects())
                self._backlog.extend(self.core.take_key_effects())
                if not self._backlog:
                    break
                while self._backlog:
                    self._carry_out(self._backlog.popleft())
        finally:
            self._flushing = False
        self.decisions.flush(self.core, self.now())
        if self.notifier.address:  # outside systemd nobody reads it: not worth a string per datagram
            self.notifier.status(self.core.status_line())
        self._arm_timer()

    def _carry_out(self, effect: Effect | KeyEffect) -> None:
        if isinstance(effect, StageKey | InstallKey | DiscardKey | UseKeys | SendRetired | FetchDone):
            self._carry_out_key(effect)
        elif isinstance(effect, Send):
            if self.transport is not None:
                message = effect.message
                if isinstance(message, Heartbeat):  # stamped as it leaves, for the clock offsets (E-4)
                    message = self.core.clock.stamp(message, time.time())
                self.transport.send(effect.to, encode(message))
        elif isinstance(effect, Log):
            self.log_line(effect.text, effect.level)
        elif isinstance(effect, StartService | StopService | CheckService):
            self.executor.carry_out(effect)
        elif isinstance(effect, RunFence | CancelFence | FenceOnce):
            self.fences.carry_out(effect)
        elif isinstance(effect, OpenDisk | ReadDisk | WriteDisk | RunHeuristic | DiskStatusFile):
            self.disk.carry_out(effect)
        elif isinstance(effect, CloseDisk):
            self.disk.close()
        elif isinstance(effect, Stage | Activate | Adopt | Discard):
            self.files.carry_out(effect)
        elif isinstance(effect, LockGranted | LockDenied | LockReleased | LockLost | RefreshLvm):
            self.lock_sessions.carry_out(effect)
        elif isinstance(effect, Reply):
            future = self.replies.pop(effect.rid, None)
            if future is not None and not future.done():
                future.set_result(effect)
        elif isinstance(effect, PersistGeneration | PersistRejoin):
            self._persist(effect)
        elif isinstance(effect, SelfFence):
            self.self_fence(effect.reason)
        elif isinstance(effect, SendToWitness):
            if self.witness_link is not None:
                self.witness_link.send(effect.host, effect.port, effect.payload)
            else:  # a witness added by a new configuration: its socket opens now, the next request goes out
                asyncio.get_running_loop().create_task(self._open_witness_link())

    def _persist(self, effect: PersistGeneration | PersistRejoin) -> None:
        """Write the state: a generation within the reserve on disk in a worker thread (the loop carries the
        heartbeats), one beyond it or a leave record before going on (see store.py). A failed write is logged
        once (and its end too); the daemon runs on."""
        if isinstance(effect, PersistRejoin):
            before = self.store.failure
            self.store.save_rejoin(effect.expected, effect.awaiting)
            self._state_written(before)
            return
        urgent = self.store.generation_write(effect.seq)
        if urgent:
            before = self.store.failure
            self.store.write_pending()
            self._state_written(before)
        elif urgent is not None and self._state_writer is None:
            self._state_writer = asyncio.get_running_loop().create_task(self._write_state_off_loop())

    async def _write_state_off_loop(self) -> None:
        before = self.store.failure
        try:
            await asyncio.to_thread(self.store.write_pending)
        finally:
            self._state_writer = None
        self._state_written(before)

    def _state_written(self, before: str | None) -> None:
        if self.store.failure is not None and self.store.failure != before:
            self.log_line(f"{self.store.failure}; running on with the state in memory, writing it again at the next "
                          "view change", "warning")  # fmt: skip
        elif before is not None and self.store.failure is None:
            self.log_line(f"state written again to {self.store.path}")

    def _activated(self, cfg: ClusterConfig) -> None:
        """A new cluster.conf is live: the shell's own copies (addresses, known senders, trees) follow it."""
        self.config = cfg
        self.local = find_local_node(cfg, self.local.name)
        self.addresses, problems = peer_addresses(cfg.nodes)
        for problem in problems:
            self.log_line(problem, "warning")
        if self.transport is not None:
            self.transport.addresses = self.addresses
        self.codec.set_known_senders(self.addresses)
        unavailable = self.executor.configure(cfg, self.local.name, self._is_member)
        if unavailable:
            self.log_line(unavailable, "warning")

    def self_fence(self, reason: str) -> None:
        """The node must not go on: the node core has ordered every local service stopped; wait for those stops
        (at most 30 s), then die without a clean leave. What a reboot achieves, minus the reboot (quorated never
        reboots a machine by itself): the others see a failure, not a departure, so they fence this node before
        they recover anything it ran. Exit status 3; systemd restarts the daemon, which stops every service
        before it may rejoin."""
        if self._terminating:
            return
        self._terminating = True

        async def die() -> None:
            await asyncio.sleep(0)  # let the stops the core ordered with this self-fence start
            await self.executor.idle(SELF_FENCE_STOP_TIMEOUT)
            os._exit(EXIT_SELF_FENCE)

        asyncio.get_running_loop().create_task(die())

    def _arm_timer(self) -> None:
        deadline = self.core.next_deadline()
        if self._timer is not None:
            if deadline is not None and abs(self._timer.when() - deadline) < 1e-6:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            loop = self._loop or asyncio.get_running_loop()
            self._timer_due = max(deadline, loop.time())
            self._timer = loop.call_at(deadline, self._on_timer)

    def _member_names(self) -> list[str]:
        members = self.core.membership.members
        return [n.name for n in self.config.nodes if n.nodeid in members]

    def _is_member(self, name: str) -> bool:
        return any(n.name == name and n.nodeid in self.core.membership.members for n in self.config.nodes)

    def log_line(self, text: str, level: str = "info") -> None:
        self.recent_log.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}")
        log.log(logging.WARNING if level in ("warning", "error") else logging.INFO, text)


def unmanaged(cfg: ClusterConfig) -> list[str]:
    """What the file declares that this daemon will not run, said once at start."""
    lines = []
    if cfg.rm.disabled and cfg.rm.services:
        lines.append('<rm disabled="1">: no service is managed by quorated (the file declares '
                     f"{len(cfg.rm.services)}); remove the attribute to let it manage them")
    if cfg.rm.vms and shutil.which("virsh") is None:
        names = ", ".join(v.rg_name for v in cfg.rm.vms)
        lines.append(f"{names}: virtual machines are not managed here: running them needs libvirt (virsh), which "
                     "is not installed on this machine")
    elif cfg.rm.vms:
        names = ", ".join(v.rg_name for v in cfg.rm.vms)
        lines.append(f"{names}: virtual machines are not managed by quorated yet: they load, order and simulate only")
    return lines


class _JournalFormatter(logging.Formatter):
    """Under journald, a `<N>` prefix carries the priority; elsewhere a timestamp and the node name."""

    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        if self.journal:
            level = 4 if record.levelno >= logging.WARNING else 6
            return f"<{level}>{record.getMessage()}"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp}.{int(record.msecs):03d} quorated[{os.getpid()}]: {record.getMessage()}"


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JournalFormatter("JOURNAL_STREAM" in os.environ))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quorated", description="quorate cluster daemon (runs in the foreground)")
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="cluster.conf (default %(default)s)")
    parser.add_argument(
        "-k", "--key", default=None,
        help="cluster key (default: <cman keyfile> in cluster.conf, else /etc/cluster/quorate.key)",
    )  # fmt: skip
    parser.add_argument("-n", "--node", help="this node's name or id (default: found from host name or addresses)")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help="default %(default)s")
    parser.add_argument("--socket", default=str(DEFAULT_SOCKET), help="control socket (default %(default)s)")
    parser.add_argument("--journal-max-mb", type=float, default=DEFAULT_MAX_BYTES / 2**20, metavar="MB",
                        help="decision journal size bound (default %(default)g)")  # fmt: skip
    parser.add_argument("--journal-max-days", type=float, default=DEFAULT_MAX_AGE / 86400, metavar="DAYS",
                        help="decision journal age bound (default %(default)g)")  # fmt: skip
    parser.add_argument("--no-realtime", action="store_true",
                        help="stay at normal CPU priority (default: real-time round robin, as corosync)")
    parser.add_argument("--clock-skew-warning", type=float, default=1.0, metavar="SECONDS",
                        help="warn when a peer's wall clock is off by more than this, seconds (default %(default)g)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _setup_logging()
    try:
        config = load_config(args.config)
        for warning in config.warnings:
            log.warning("%s", warning)
        daemon = Daemon(
            config,
            node=args.node,
            key_path=Path(args.key) if args.key else None,
            state_dir=Path(args.state_dir),
            socket_path=Path(args.socket),
            journal=(int(args.journal_max_mb * 2**20), args.journal_max_days * 86400),
            clock_warn_above=args.clock_skew_warning,
        )
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"quorated: {line}", file=sys.stderr)
        return EXIT_FATAL_CONFIG
    except (IdentityError, KeyFileError, StateError) as exc:
        print(f"quorated: {exc}", file=sys.stderr)
        return EXIT_FATAL_CONFIG
    except OSError as exc:
        print(f"quorated: {exc}", file=sys.stderr)
        return 1
    if not args.no_realtime:
        said = run_at_realtime_priority()
        daemon.priority_note = (said, "info" if said.startswith("running") else "warning")
    try:
        return asyncio.run(daemon.run())
    except (TransportError, ControlError) as exc:
        print(f"quorated: {exc}", file=sys.stderr)
        return EXIT_FATAL_CONFIG
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
