"""The testbed's network power switch: a TCP service that really cuts and restores a testbed node's power.

Theory of operation: fencing is only believable if "off" means off. This switch runs as its own process in
the testbed's *switch* network namespace, bound to 192.168.0.254:1623 on the bridge ``br0`` (the address is
added to the bridge for it), so every testbed node reaches it over the testbed LAN while the machine's own
network namespace has no route to it. ``ip netns exec`` gives the process the switch's network but leaves
it the machine's ``/run``, so it drives the testbed through its ``state.json`` like any other controller
(``Testbed.attach``): ``OFF`` is ``Testbed.power_off`` (every process of the node's namespaces killed, its
mounts released, its port down) and is answered only once the node is verifiably off; ``ON`` is
``Testbed.power_on`` followed, by default, by starting the node's daemon, as a booting host would.

Protocol (one line each way, ASCII, ``\\n``-terminated): the client first sends ``AUTH <secret>``; then
``OFF <node>`` / ``ON <node>`` → ``OK`` (``OK already off`` when nothing had to change); ``STATUS <node>`` →
``ON`` or ``OFF``; ``LIST`` → one ``<node> ON|OFF`` line per node, then ``OK``; ``QUIT`` → ``OK``. Errors are
``ERR <reason>``; a failed login closes the connection. Nodes are named by full or short name. Power
operations are serialised by one lock, because the testbed controller is not thread-safe.

The secret lives in ``<run dir>/power-switch.secret`` (0600): the one given to `start_power_switch`, else the
``passwd`` of the first ``fence_netns`` fencedevice in the testbed's cluster.conf, else a random one. The
server exits by itself when its testbed's state file disappears, and testbed teardown kills it anyway since
it lives in the switch namespace; `PowerSwitch.stop` ends it earlier. It cannot be started *by*
``Testbed.up`` without changing testbed.py, so tests and the demo call `start_power_switch` after ``up``.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import secrets
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lxml import etree

from quorate.agents.fence_netns import DEFAULT_ADDRESS, DEFAULT_PORT, SwitchClient
from quorate.testbed import netns, procs
from quorate.testbed.conf import SUBNET_BITS, TestbedError, resolve, switch_netns
from quorate.testbed.state import load, run_dir, state_path
from quorate.testbed.testbed import Testbed

SECRET_FILE = "power-switch.secret"
PID_FILE = "power-switch.pid"
LOG_FILE = "power-switch.log"
START_TIMEOUT = 15.0
LOGIN_TIMEOUT = 10.0
IDLE_TIMEOUT = 120.0
MAX_LINE = 1024
T = TypeVar("T")


class PowerBackend(Protocol):
    """What the switch needs from a testbed; tests substitute a fake to exercise the protocol unprivileged."""

    def nodes(self) -> list[str]: ...
    def resolve(self, name: str) -> str: ...  # full node name, or raises TestbedError
    def is_on(self, node: str) -> bool: ...
    def off(self, node: str) -> None: ...
    def on(self, node: str) -> None: ...


class TestbedBackend:
    """The real power: a `Testbed` controller attached to the state of testbed ``prefix``."""

    __test__ = False

    def __init__(self, prefix: str, *, start_daemon: bool = True) -> None:
        self.prefix = prefix
        self.start_daemon = start_daemon
        self.bed = Testbed.attach(prefix)
        self._specs = [node.spec for node in load(prefix).nodes]

    def nodes(self) -> list[str]:
        return self.bed.nodes

    def resolve(self, name: str) -> str:
        return resolve(self._specs, name).name

    def is_on(self, node: str) -> bool:
        return self.bed.is_powered(node)

    def off(self, node: str) -> None:
        self.bed.power_off(node)
        if self.bed.is_powered(node):
            raise TestbedError(f"{node} is still powered after power-off")

    def on(self, node: str) -> None:
        self.bed.power_on(node, start_daemon=self.start_daemon)

    def housekeeping(self) -> None:
        """Collect launchers of nodes we booted that someone else powered off: the testbed reaps only when
        it acts itself, and this long-lived controller must not pile up zombies meanwhile."""
        self.bed._reap()


# ------------------------------------------------------------------------------------------------- server
@dataclass
class SwitchServer:
    """The protocol over asyncio streams; power operations run in a thread, one at a time."""

    backend: PowerBackend
    secret: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def _call(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self.lock:
                return fn()

        return await asyncio.to_thread(locked)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await self._login(reader, writer):
                while True:
                    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                    if not line:
                        break
                    answer = await self.answer(line.decode(errors="replace").strip())
                    writer.write(answer.encode() + b"\n")
                    await writer.drain()
                    if answer == "OK" and line.strip().upper() == b"QUIT":
                        break
        except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = (await asyncio.wait_for(reader.readline(), LOGIN_TIMEOUT)).decode(errors="replace").strip()
        verb, _, given = line.partition(" ")
        ok = verb.upper() == "AUTH" and hmac.compare_digest(given.encode(), self.secret.encode())
        writer.write(b"OK\n" if ok else b"ERR authentication failed\n")
        await writer.drain()
        return ok

    async def answer(self, line: str) -> str:
        """The answer to one command line (after login)."""
        verb, _, arg = line.partition(" ")
        verb, arg = verb.upper(), arg.strip()
        try:
            if verb == "QUIT":
                return "OK"
            if verb == "LIST":
                rows = await self._call(lambda: [f"{n} {'ON' if self.backend.is_on(n) else 'OFF'}"
                                                 for n in self.backend.nodes()])  # fmt: skip
                return "\n".join([*rows, "OK"])
            if verb not in ("ON", "OFF", "STATUS"):
                return f"ERR unknown command {verb or '(empty)'}"
            if not arg:
                return f"ERR {verb} needs a node name"
            node = self.backend.resolve(arg)
            return await self._call(lambda: self._power(verb, node))
        except TestbedError as exc:
            return f"ERR {str(exc).splitlines()[0]}"
        except Exception as exc:  # a switch answers; it does not crash on one bad request
            return f"ERR {type(exc).__name__}: {exc}".splitlines()[0]

    def _power(self, verb: str, node: str) -> str:
        on = self.backend.is_on(node)
        if verb == "STATUS":
            return "ON" if on else "OFF"
        if verb == "OFF":
            if not on:
                return "OK already off"
            self.backend.off(node)
            return "OK"
        if on:
            return "OK already on"
        self.backend.on(node)
        return "OK"


async def serve(
    backend: PowerBackend, secret: str, host: str, port: int, *, ready: Callable[[int], None] = lambda _: None,
    stop_when: Callable[[], bool] = lambda: False, housekeeping: Callable[[], None] = lambda: None,
    poll: float = 2.0, signals: bool = True,
) -> None:  # fmt: skip
    """Serve until SIGTERM/SIGINT (with ``signals``, main thread only) or until ``stop_when()``, checked every
    ``poll`` seconds with ``housekeeping``; ``ready`` gets the bound port once listening."""
    switch = SwitchServer(backend, secret)
    server = await asyncio.start_server(switch.handle, host, port, limit=MAX_LINE, reuse_address=True)
    stopping = asyncio.Event()
    if signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    ready(server.sockets[0].getsockname()[1])
    async with server:
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), poll)
            except TimeoutError:
                if stop_when():
                    break
                await switch._call(housekeeping)


# ------------------------------------------------------------------------------------------ starting it
@dataclass
class PowerSwitch:
    """A running switch: where it listens, its secret, its process (``proc`` only in the process that started
    it; others know the pid)."""

    prefix: str
    switch_ns: str
    address: str
    port: int
    secret: str
    pid: int
    proc: subprocess.Popen[bytes] | None = None

    def client(self, timeout: float = 5.0) -> SwitchClient:
        """A connection to the switch; only usable from inside the testbed LAN (a node or the switch)."""
        return SwitchClient(self.address, self.port, self.secret, timeout=timeout)

    def running(self) -> bool:
        return procs.is_alive(self.pid) and _in_netns(self.pid, self.switch_ns)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; reaps our own child; idempotent."""
        if self.running():
            procs.terminate(self.pid, timeout)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        _RUNNING.pop(self.prefix, None)
        try:
            pid_file = run_dir(self.prefix) / PID_FILE
            if pid_file.read_text().strip() == str(self.pid):
                pid_file.unlink()
        except OSError:
            pass

    def __enter__(self) -> PowerSwitch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: Switches this process started, kept referenced so their Popen objects are not collected while running.
_RUNNING: dict[str, PowerSwitch] = {}


class _Started(Protocol):
    proc: subprocess.Popen[bytes] | None


def forget_finished(registry: dict[Any, Any]) -> None:
    """Forget (and reap) started services whose process ended, e.g. killed by a testbed teardown."""
    for key, entry in list(registry.items()):
        started: _Started = entry
        if started.proc is not None and started.proc.poll() is not None:
            del registry[key]


def _in_netns(pid: int, name: str) -> bool:
    ident = procs.file_ns_id(Path(netns.NETNS_DIR) / name)
    return ident is not None and procs.ns_id(pid, "net") == ident


def add_switch_address(switch_ns: str, address: str) -> None:
    """Give the switch's bridge an address on the testbed LAN (idempotent), for a service to listen on."""
    current = netns.run(["ip", "-n", switch_ns, "-o", "-4", "addr", "show", "dev", netns.BRIDGE], check=False)
    if f" {address}/" not in current:
        netns.run(["ip", "-n", switch_ns, "addr", "add", f"{address}/{SUBNET_BITS}", "dev", netns.BRIDGE])


def conf_secret(conf_path: str | Path) -> str | None:
    """The ``passwd`` of the first ``fence_netns`` fencedevice of a cluster.conf, if any."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(Path(conf_path).read_bytes().replace("\u00a0".encode(), b" "), parser)
    except (OSError, etree.XMLSyntaxError):
        return None
    for device in root.iter("fencedevice"):
        if (device.get("agent") or "").rsplit("/", 1)[-1] == "fence_netns":
            value = device.get("passwd") or device.get("password")
            if value:
                return value
    return None


def power_secret(prefix: str) -> str:
    """The secret the switch of testbed ``prefix`` expects (after `start_power_switch`)."""
    try:
        return (run_dir(prefix) / SECRET_FILE).read_text().strip()
    except FileNotFoundError as exc:
        raise TestbedError(f"testbed {prefix!r} has no power switch secret; call start_power_switch") from exc


def _write_secret(prefix: str, secret: str) -> None:
    path = run_dir(prefix) / SECRET_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")


def start_power_switch(
    tb: Testbed, *, secret: str | None = None, start_daemon: bool = True, port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS, timeout: float = START_TIMEOUT,
) -> PowerSwitch:  # fmt: skip
    """Start (or restart) the power switch of ``tb``; returns once it listens. ``start_daemon``: whether ON
    also starts the node's daemon."""
    forget_finished(_RUNNING)
    stop_power_switch(tb.prefix)
    switch_ns = switch_netns(tb.prefix)
    directory = run_dir(tb.prefix)
    chosen = secret or conf_secret(tb.node_dir(tb.nodes[0]) / "etc/cluster/cluster.conf") or secrets.token_hex(16)
    if any(ch.isspace() for ch in chosen):
        raise TestbedError("the power switch secret must not contain white space")
    _write_secret(tb.prefix, chosen)
    add_switch_address(switch_ns, address)
    argv = ["ip", "netns", "exec", switch_ns, sys.executable, "-m", "quorate.testbed.power", "serve",
            "--prefix", tb.prefix, "--address", address, "--port", str(port)]  # fmt: skip
    if not start_daemon:
        argv.append("--no-daemon")
    with open(directory / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)  # fmt: skip
    line = _read_line(proc, timeout)
    if line != "ready":
        procs.send(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5.0)
        raise TestbedError(f"the power switch did not start ({line or 'no answer'}); see {directory / LOG_FILE}")
    (directory / PID_FILE).write_text(f"{proc.pid}\n")
    switch = PowerSwitch(tb.prefix, switch_ns, address, port, chosen, proc.pid, proc)
    _RUNNING[tb.prefix] = switch
    return switch


def stop_power_switch(prefix: str) -> None:
    """Stop the switch of testbed ``prefix``, whoever started it (by its pid file); no-op when none runs."""
    known = _RUNNING.get(prefix)
    if known is not None:
        known.stop()
        return
    try:
        pid = int((run_dir(prefix) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return
    PowerSwitch(prefix, switch_netns(prefix), "", 0, "", pid).stop()


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            buffer += chunk
    proc.stdout.close()
    return buffer.split(b"\n", 1)[0].decode(errors="replace").strip()


# ---------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quorate.testbed.power", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run the switch (inside the testbed's switch namespace)")
    run.add_argument("--prefix", required=True)
    run.add_argument("--address", default=DEFAULT_ADDRESS)
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--no-daemon", action="store_true", help="ON powers the node on without its daemon")
    args = parser.parse_args(argv)
    backend = TestbedBackend(args.prefix, start_daemon=not args.no_daemon)
    secret = power_secret(args.prefix)
    state = state_path(args.prefix)

    def ready(port: int) -> None:
        print("ready", flush=True)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the starter stops reading; later prints must not hit a closed pipe
        os.close(devnull)
        print(f"power switch of {args.prefix} listening on {args.address}:{port}", file=sys.stderr, flush=True)

    asyncio.run(serve(backend, secret, args.address, args.port, ready=ready,
                      stop_when=lambda: not state.exists(), housekeeping=backend.housekeeping))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
