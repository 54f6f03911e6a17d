"""quorated: the cluster daemon of one node, in the foreground (systemd Type=notify).

Theory of operation: an asyncio loop in the manner of a sans-I/O protocol shell. Every input (a datagram, a
control request, a signal, the timer) is handed to the pure core with the loop's monotonic time; then the
core's effects are carried out in order (send, persist, log) and one timer is re-armed at the core's next
deadline. The shell holds no policy: it maps node ids to addresses and turns effects into I/O.

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
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from quorate.cli.cman_format import format_clustat, format_fence_ls, format_nodes, format_services, format_status
from quorate.config import ConfigError, load_config
from quorate.config.model import ClusterConfig, ClusterNode
from quorate.core.config_messages import CfgAbort, CfgChunk, CfgCommit, CfgFetch, CfgResult, CfgStaged
from quorate.core.effects import (
    Evicted,
    Killed,
    Log,
    PersistGeneration,
    PersistRejoin,
    QuorumChanged,
    Send,
    ViewInstalled,
)
from quorate.core.lock_messages import LOCK_MESSAGES
from quorate.core.membership import Membership, MembershipConfig, MembershipError, NodeSpec, State
from quorate.core.messages import (
    FenceAck,
    FenceNotice,
    FenceStatus,
    Heartbeat,
    MalformedMessage,
    SvcCommand,
    SvcInventory,
    SvcReply,
    SvcReport,
    SvcRequest,
    SvcTable,
    decode,
    encode,
)
from quorate.node.config_shell import ConfigShell
from quorate.node.control import DEFAULT_SOCKET, ControlError, ControlServer
from quorate.node.fencing_shell import FencingShell, fencing_config
from quorate.node.identity import IdentityError, find_local_node, peer_addresses
from quorate.node.keys import DEFAULT_KEY_PATH, KeyFileError, load_key
from quorate.node.locks_shell import LocksShell
from quorate.node.qdisk_glue import QdiskGlue
from quorate.node.sdnotify import Notifier
from quorate.node.services_shell import ServicesShell
from quorate.node.status import CMAN_PROTOCOL_VERSION, build_status
from quorate.node.store import DEFAULT_STATE_DIR, StateError, StateStore
from quorate.node.transport import Transport, TransportError
from quorate.node.wire import WireCodec

CONFIG_MESSAGES = (CfgChunk, CfgStaged, CfgCommit, CfgAbort, CfgResult, CfgFetch)
EXIT_FATAL_CONFIG = 100
EXIT_SELF_FENCE = 3
DEFAULT_CONFIG = "/etc/cluster/cluster.conf"

log = logging.getLogger("quorated")


def membership_config(cfg: ClusterConfig) -> MembershipConfig:
    return MembershipConfig(
        nodes=tuple(NodeSpec(n.nodeid, n.name, n.votes) for n in cfg.nodes),
        expected_votes=cfg.expected_votes,
        token=cfg.token_ms / 1000.0,
        join=cfg.join_ms / 1000.0,
        two_node=cfg.two_node,
        wait_for_all=cfg.wait_for_all,
        config_version=cfg.config_version,
        config_digest=cfg.digest[:16],
    )


class Daemon:
    def __init__(
        self,
        config: ClusterConfig,
        *,
        node: str | None = None,
        key_path: Path = Path(DEFAULT_KEY_PATH),
        state_dir: Path = DEFAULT_STATE_DIR,
        socket_path: Path = DEFAULT_SOCKET,
    ) -> None:
        self.config = config
        self.local = find_local_node(config, node)
        self.key = load_key(key_path)
        self.store = StateStore(state_dir)
        self.store.load()
        self.socket_path = socket_path
        self.addresses, self.resolve_problems = peer_addresses(config.nodes)
        if self.local.nodeid not in self.addresses:
            raise IdentityError(f"cannot resolve this node's own name {self.local.name}: check /etc/hosts")
        self.multicast: str | None = config.multicast_address if config.multicast_explicit else None
        self.subsystems: set[str] = {"membership", "quorum"}
        self.recent_log: collections.deque[str] = collections.deque(maxlen=50)
        self.undecodable = 0
        self.transport: Transport | None = None
        self.started_at = 0.0
        self.notifier = Notifier()
        self._timer: asyncio.TimerHandle | None = None
        self._qdisk_reconfigure: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._terminating = False
        self._exit_code = 0

    # ---------------------------------------------------------------------------------- lifecycle

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.started_at = now
        epoch = self.store.new_boot()
        self.codec = WireCodec(self.key, self.config.cluster_id, self.local.nodeid, epoch, set(self.addresses))
        sock = Transport.open_socket(self.addresses[self.local.nodeid], self.config.port, self.multicast)
        self.membership = Membership(
            membership_config(self.config),
            self.local.nodeid,
            boot=epoch,
            now=now,
            highest_seq=self.store.state.highest_seq,
            rejoin=(self.store.state.rejoin_expected, frozenset(self.store.state.rejoin_awaiting)),
        )
        self.fencing = FencingShell(self)
        self.subsystems.add("fenced")
        self.services = ServicesShell(self)
        self.qdisk = QdiskGlue(self)
        self.config_dist = ConfigShell(self)
        self.locks = LocksShell(self)
        self.fencing.on_confirmed.append(lambda _confirmed: self.services.core.tick(loop.time()))
        if self.services.specs:
            self.subsystems.add("rgmanager")
            self.membership.set_dirty(now, True)  # until the stop-before-start below has run
        _, protocol = await loop.create_datagram_endpoint(
            lambda: Transport(self.codec, self.addresses, self.config.port, self._on_datagram, self.multicast),
            sock=sock,
        )
        self.transport = protocol
        control = ControlServer(self.socket_path, self._on_request)
        control.sessions.update(self.locks.handlers())
        await control.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_terminate)
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        for problem in self.resolve_problems:
            self.log_line(problem, "warning")
        self.log_line(
            f"node {self.local.name} (id {self.local.nodeid}) starting in cluster {self.config.name} "
            f"(id {self.config.cluster_id}), config version {self.config.config_version}, "
            f"{'multicast ' + self.multicast if self.multicast else 'unicast'} on UDP port {self.config.port}"
        )
        self.flush()
        self._services_start = loop.create_task(self.services.start())
        await self.qdisk.start()
        self.notifier.ready(self._status_line())
        try:
            await self._stop.wait()
        finally:
            if self._timer:
                self._timer.cancel()
            self.fencing.cancel_all()
            self.services.close()
            if self._qdisk_reconfigure is not None and not self._qdisk_reconfigure.done():
                self._qdisk_reconfigure.cancel()
                await asyncio.gather(self._qdisk_reconfigure, return_exceptions=True)
            await self.qdisk.stop()
            await control.close()
            self.notifier.stopping()
            protocol.transport and protocol.transport.close()
        return self._exit_code

    def _on_terminate(self) -> None:
        if self._terminating:
            return
        self._terminating = True
        asyncio.get_running_loop().create_task(self._terminate())

    async def _terminate(self) -> None:
        """Stop the local services (R-34: a planned failover without fencing), then leave cleanly and exit."""
        loop = asyncio.get_running_loop()
        if self.services.running:
            self.log_line("stopping: stopping local services before leaving the cluster")
            await self.services.stop_everything("quorated is stopping")
        await self.locks.shutdown("quorated is stopping")  # clients stop their commands before the leave
        now = loop.time()
        if self.membership.state is not State.LEFT:
            try:
                self.membership.leave(now, force=True)
            except MembershipError:
                pass
            self.flush()
        self.log_line("stopping: left the cluster cleanly")
        # Leave datagrams go out now; a short grace lets the socket drain before the process exits.
        loop.call_later(0.05, self._stop.set)

    def _on_hangup(self) -> None:
        self.log_line("SIGHUP: configuration changes are activated cluster-wide with 'ccs_tool update'", "warning")

    # ------------------------------------------------------------------------------------- inputs

    def _on_datagram(self, sender: int, epoch: int, payload: bytes) -> None:
        try:
            message = decode(payload)
        except MalformedMessage:
            self.undecodable += 1
            return
        now = asyncio.get_running_loop().time()
        if isinstance(message, CONFIG_MESSAGES):
            self.config_dist.core.receive(now, sender, message)
        elif isinstance(message, LOCK_MESSAGES):
            if sender in self.membership.members:
                self.locks.receive(now, sender, message)
        elif isinstance(message, (FenceStatus, FenceAck, FenceNotice)):
            if sender in self.membership.members:
                self.fencing.core.receive(now, sender, message)
        elif isinstance(message, (SvcTable, SvcCommand, SvcReport, SvcInventory, SvcRequest, SvcReply)):
            if sender in self.membership.members:
                self.services.core.receive(now, sender, message)
        else:
            self.membership.receive(now, sender, message)
            if isinstance(message, Heartbeat):
                self.config_dist.core.heard(now, sender, message, self.membership.members)
        self.flush()

    def _on_timer(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        self.membership.tick(now)
        self.fencing.core.tick(now)
        self.services.core.tick(now)
        self.locks.core.tick(now)
        self.config_dist.core.tick(now)
        self.flush()

    def _requested_node(self, request: dict[str, Any]) -> ClusterNode:
        """The configured node a request names (short names accepted), or the refusal listing the valid ones."""
        node = self.config.node_by_name(str(request.get("node", "")))
        if node is None:
            names = ", ".join(n.name for n in self.config.nodes)
            raise MembershipError(f"unknown node {request.get('node')!r} (nodes: {names})")
        return node

    async def _on_request(self, request: dict[str, Any]) -> dict[str, Any]:
        now = asyncio.get_running_loop().time()
        cmd = request["cmd"]
        try:
            if cmd == "status":
                return {"ok": True, "status": build_status(self, now)}
            if cmd == "cman_status":
                return {"ok": True, "text": format_status(build_status(self, now))}
            if cmd == "cman_nodes":
                text = format_nodes(
                    build_status(self, now), addresses=bool(request.get("addresses")), only=request.get("only")
                )
                return {"ok": True, "text": text}
            if cmd == "cman_version":
                return {"ok": True, "text": f"{CMAN_PROTOCOL_VERSION} config {self.config.config_version}\n"}
            if cmd == "expected":
                votes = int(request.get("votes", 0))
                self.membership.set_expected(now, votes)
                return {"ok": True}
            if cmd == "leave":
                force = bool(request.get("force"))
                if self.services.running:
                    if not force:
                        names = ", ".join("service:" + n for n in sorted(self.services.running))
                        return {"ok": False, "error": f"{names} run here: relocate or stop them, or use force"}
                    # A clean leave is never fenced, so nothing may keep running here: stop it first.
                    await self.services.stop_everything("leaving the cluster")
                    now = asyncio.get_running_loop().time()
                self.membership.leave(now, remove=bool(request.get("remove")), force=force)
                return {"ok": True}
            if cmd == "join":
                self.membership.join(now)
                return {"ok": True}
            if cmd == "kill":
                node = self._requested_node(request)
                self.membership.kill(now, node.nodeid)
                return {"ok": True}
            if cmd in ("fence_ack", "fence_node"):
                node = self._requested_node(request)
                if cmd == "fence_ack":
                    error = self.fencing.core.acknowledge(now, node.nodeid, self.local.nodeid)
                    return {"ok": error is None, "error": error, "text": "done\n"}
                ok, reason = await self.fencing.fence_now(node.name)
                return {"ok": ok, "error": reason, "text": reason + "\n"}
            if cmd == "config_push":
                data = str(request.get("data", "")).encode()
                ok, text = await self.config_dist.push(data, dry_run=bool(request.get("dry_run")))
                return {"ok": ok, "error": None if ok else text, "text": text + "\n"}
            if cmd == "svc":
                return await self._service_request(request)
            if cmd == "clustat":
                return {"ok": True, "text": format_clustat(build_status(self, now), request)}
            if cmd == "cman_services":
                held = self.locks.core.status(now)["local"]
                assert isinstance(held, list)
                spaces = [str(entry["lockspace"]) for entry in held]
                return {"ok": True, "text": format_services(build_status(self, now), spaces)}
            if cmd == "fence_ls":
                return {"ok": True, "text": format_fence_ls(build_status(self, now))}
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        except MembershipError as exc:
            return {"ok": False, "error": str(exc)}
        except (TypeError, ValueError) as exc:
            return {"ok": False, "error": f"bad argument: {exc}"}
        finally:
            self.flush()

    async def _service_request(self, request: dict[str, Any]) -> dict[str, Any]:
        service = str(request.get("service", "")).removeprefix("service:")
        target_name = request.get("target")
        target = 0
        if target_name:
            node = self.config.node_by_name(str(target_name))
            if node is None:
                return {"ok": False, "error": f"'{target_name}' not in membership list"}
            target = node.nodeid
        done = await self.services.request(str(request.get("op", "")), service, target)
        owner = self.config.node_by_id(done.owner) if done.owner else None
        return {"ok": True, "done": done.ok, "result": done.result, "owner": owner.name if owner else ""}

    # ------------------------------------------------------------------------------------ effects

    def flush(self) -> None:
        """Carry out every core's effects until none is left, then re-arm the one timer."""
        now = asyncio.get_running_loop().time()
        for _ in range(100):  # effects may cause effects (a view starts a fence); bounded, never a spin
            effects = self.membership.take_effects()
            for effect in effects:
                if isinstance(effect, Send):
                    self.send(effect)
                elif isinstance(effect, PersistGeneration):
                    self.store.save_generation(effect.seq)
                elif isinstance(effect, PersistRejoin):
                    self.store.save_rejoin(effect.expected, effect.awaiting)
                elif isinstance(effect, Log):
                    self.log_line(effect.text, effect.level)
                elif isinstance(effect, ViewInstalled):
                    coordinator = self.membership.is_coordinator
                    self.fencing.core.on_view(now, effect, self.membership.stamps(), coordinator=coordinator)
                    self.services.core.on_view(now, effect, coordinator=coordinator)
                    self.locks.core.on_view(now, effect, coordinator=coordinator)
                elif isinstance(effect, QuorumChanged):
                    self.log_line(
                        "quorum regained, resuming activity" if effect.quorate else "quorum lost, blocking activity",
                        "info" if effect.quorate else "warning",
                    )
                    self.fencing.core.on_quorum(now, quorate=effect.quorate, coordinator=self.membership.is_coordinator)
                    m = self.membership
                    self.locks.core.on_quorum(
                        now, quorate=effect.quorate, coordinator=m.is_coordinator, view=m.view, members=m.members
                    )
                    if not effect.quorate:
                        self._emergency_stop(effect.reason)
                    elif not any(isinstance(e, ViewInstalled) for e in effects):
                        # Quorum came back within the same view (the quorum disk's votes returned): the resource
                        # manager starts again as it would on a new view, asking every member what it runs.
                        m = self.membership
                        same = ViewInstalled(
                            m.view, m.members, frozenset(), frozenset(), frozenset(), True, effect.reason
                        )
                        self.services.core.on_view(now, same, coordinator=m.is_coordinator)
                elif isinstance(effect, Killed):
                    self.log_line(effect.reason, "warning")
                    self.self_fence(effect.reason)
                elif isinstance(effect, Evicted):
                    self.fencing.core.on_quorum(now, quorate=False, coordinator=False)
                    self.locks.core.drop_all(now, effect.reason)
                    self._emergency_stop(effect.reason)
            if any(isinstance(e, (ViewInstalled, QuorumChanged, Evicted)) for e in effects):
                self.qdisk.membership_changed()
                m = self.membership
                self.config_dist.core.on_view(now, m.members, m.view.coord, m.quorum.quorate)
            self.config_dist.carry_out()
            self.fencing.carry_out()
            self.services.carry_out()
            self.locks.carry_out()
            if not effects:
                break
        self.notifier.status(self._status_line())
        self._arm_timer()

    def apply_config(self, cfg: ClusterConfig) -> None:
        """A new cluster.conf, already validated and written: every subsystem takes it without a restart."""
        now = asyncio.get_running_loop().time()
        old, self.config = self.config, cfg
        self.local = find_local_node(cfg, self.local.name)
        self.addresses, problems = peer_addresses(cfg.nodes)
        for problem in problems:
            self.log_line(problem, "warning")
        if self.transport is not None:
            self.transport.addresses = self.addresses
        self.codec.set_known_senders(self.addresses)
        self.membership.reconfigure(now, membership_config(cfg))
        self.fencing.core.config = fencing_config(cfg)
        self.services.reconfigure(old, cfg)
        if old.quorumd != cfg.quorumd:
            self._qdisk_reconfigure = asyncio.get_running_loop().create_task(
                self.qdisk.reconfigure(old.quorumd, cfg.quorumd)
            )

    def self_fence(self, reason: str) -> None:
        """The node must not go on: try to stop what it runs, then die without a clean leave.

        What a reboot achieves, minus the reboot (quorated never reboots a machine by itself): the others see a
        failure, not a departure, so they fence this node before they recover anything it ran. Exit status 3;
        systemd restarts the daemon, which stops every service before it may rejoin.
        """
        if self._terminating:
            return
        self._terminating = True
        self.log_line(f"self-fence: {reason}", "warning")

        async def die() -> None:
            try:
                await asyncio.wait_for(self.services.stop_everything(reason), 30)
            except TimeoutError:
                pass
            os._exit(EXIT_SELF_FENCE)

        asyncio.get_running_loop().create_task(die())

    def _emergency_stop(self, reason: str) -> None:
        """S2: a node outside a quorate view stops what it runs, at once, without asking anyone."""
        self.services.core.on_quorum_lost(asyncio.get_running_loop().time(), reason)
        if self.services.running:
            asyncio.get_running_loop().create_task(self.services.stop_everything(reason))

    def send(self, effect: Send) -> None:
        if self.transport is not None:
            self.transport.send(effect.to, encode(effect.message))

    def _arm_timer(self) -> None:
        candidates = (
            self.membership.next_deadline(),
            self.fencing.core.next_deadline(),
            self.services.core.next_deadline(),
            self.locks.core.next_deadline(),
            self.config_dist.core.next_deadline(),
        )
        deadlines = [d for d in candidates if d is not None]
        deadline = min(deadlines) if deadlines else None
        if self._timer is not None:
            if deadline is not None and abs(self._timer.when() - deadline) < 1e-6:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _status_line(self) -> str:
        q = self.membership.quorum
        word = "Quorate" if q.quorate else "Inquorate"
        return (
            f"{word}, view {self.membership.view.seq}, {len(self.membership.members)} nodes, "
            f"{q.total_votes}/{q.expected_votes} votes, quorum {q.quorum}"
        )

    def log_line(self, text: str, level: str = "info") -> None:
        self.recent_log.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}")
        log.log(logging.WARNING if level == "warning" else logging.INFO, text)


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
    parser.add_argument("-k", "--key", default=DEFAULT_KEY_PATH, help="cluster key (default %(default)s)")
    parser.add_argument("-n", "--node", help="this node's name or id (default: found from host name or addresses)")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help="default %(default)s")
    parser.add_argument("--socket", default=str(DEFAULT_SOCKET), help="control socket (default %(default)s)")
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
            key_path=Path(args.key),
            state_dir=Path(args.state_dir),
            socket_path=Path(args.socket),
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
    try:
        return asyncio.run(daemon.run())
    except (TransportError, ControlError) as exc:
        print(f"quorated: {exc}", file=sys.stderr)
        return EXIT_FATAL_CONFIG
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
