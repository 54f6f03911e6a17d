"""``quorate testbed``: bring up and abuse a namespace cluster from a shell.

Theory of operation: every command is a fresh process, so each one attaches to
the testbed by prefix (``--prefix``, or $QUORATE_TESTBED_PREFIX, default
``qt``) through its ``state.json`` and acts on it; ``up`` creates it and
returns, leaving the hosts running.  Library errors (not root, unknown node,
node powered off, ...) become one-line click errors; ``exec`` passes the
command's exit status through.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from quorate.testbed import Testbed, TestbedError, missing_prerequisites
from quorate.testbed.clients import DEFAULT_CLIENT_ADDRESS
from quorate.testbed.state import known_prefixes

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PREFIX = "qt"


def _prefix_option(func: F) -> F:
    return click.option(
        "--prefix",
        default=lambda: os.environ.get("QUORATE_TESTBED_PREFIX", DEFAULT_PREFIX),
        show_default="qt, or $QUORATE_TESTBED_PREFIX",
        help="Which testbed (namespace name prefix).",
    )(func)


def _require_root() -> None:
    problems = missing_prerequisites()
    if problems:
        raise click.ClickException("; ".join(problems))


def _attach(prefix: str) -> Testbed:
    _require_root()
    try:
        return Testbed.attach(prefix)
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc


def _guard(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc


def _signal(value: str) -> int:
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return int(signal.Signals[name])
    except KeyError as exc:
        raise click.BadParameter(f"unknown signal {value!r}") from exc


@click.group("testbed")
def testbed() -> None:
    """Network-namespace hosts for a real multi-node cluster on this machine (root only)."""


@testbed.command("up")
@click.argument("conf", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_prefix_option
@click.option("--key", "key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Cluster key file.")
@click.option("--no-daemons", is_flag=True, help="Do not start quorated on the nodes.")
@click.option("--nodes", type=int, help="Instead of CONF: a generated cluster of this many nodes (2-32).")
@click.option("--services", type=int, help="With --nodes: this many light script services (default 0).")
@click.option("--token", "token_ms", type=int, help="With --nodes: the totem token in ms (default cman's).")
@click.option("--multicast", is_flag=True, help="With --nodes: heartbeats by multicast instead of unicast.")
def up_cmd(
    conf: Path | None,
    prefix: str,
    key: Path | None,
    no_daemons: bool,
    nodes: int | None,
    services: int | None,
    token_ms: int | None,
    multicast: bool,
) -> None:
    """Create the hosts of CONF (a cluster.conf), or of a generated cluster (--nodes), replacing a testbed of the
    same prefix.

    With --nodes N the nodes are node01.scale .. nodeNN.scale, fenced by fence_netns through the testbed's power
    switch (started too), each preferred by one failover domain; --services M deals M services, each a script
    that keeps a flag file in the node's /run, round-robin over those domains.
    """
    if conf is not None and nodes is not None:
        raise click.UsageError("give either CONF or --nodes, not both")
    if nodes is None:
        scale_only = [name for name, value in (("--services", services), ("--token", token_ms)) if value is not None]
        scale_only += ["--multicast"] if multicast else []
        if scale_only:
            raise click.UsageError(f"{', '.join(scale_only)} only go with --nodes")
        if conf is None:
            raise click.UsageError("give a cluster.conf (CONF) or --nodes N")
    if nodes is not None:
        from quorate.testbed.scale import DEFAULT_MULTICAST, ScaleShape
        from quorate.testbed.scale_bed import up_scale

        shape = ScaleShape(
            nodes=nodes, services=services or 0, token_ms=token_ms, multicast=DEFAULT_MULTICAST if multicast else None
        )
        _guard(shape.check)  # before the root check: a bad shape is reported to anyone
        _require_root()
        bed = _guard(lambda: up_scale(shape, prefix=prefix, key_path=key, start_daemons=not no_daemons))
    else:
        assert conf is not None
        _require_root()
        bed = _guard(lambda: Testbed.up(conf, prefix=prefix, key_path=key, start_daemons=not no_daemons))
    for node in bed.nodes:
        click.echo(f"{node}\t{bed.address(node)}\tnetns {bed.netns(node)}\tfiles {bed.node_dir(node)}")


@testbed.command("down")
@_prefix_option
def down_cmd(prefix: str) -> None:
    """Remove the testbed: processes, namespaces, files (also after a crash)."""
    _require_root()
    _guard(lambda: Testbed.down_prefix(prefix))


@testbed.command("status")
@_prefix_option
@click.option("--all", "show_all", is_flag=True, help="List every testbed on this machine.")
def status_cmd(prefix: str, show_all: bool) -> None:
    """Show nodes, power, daemons and faults."""
    _require_root()
    for name in known_prefixes() if show_all else [prefix]:
        bed = _attach(name)
        click.echo(f"testbed {name}")
        for node in bed.nodes:
            power = "on" if bed.is_powered(node) else "off"
            pid = bed.daemon_pid(node) if power == "on" else None
            daemon = f"daemon pid {pid}" if pid else "no daemon"
            click.echo(f"  {node}\t{bed.address(node)}\tpower {power}\t{daemon}")
        for client in bed.clients:
            click.echo(f"  client {client}\t{bed.client_address(client)}\tnetns {bed.client_netns(client)}")
        for fault in bed.faults():
            click.echo(f"  fault {fault}")


@testbed.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("node")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@_prefix_option
def exec_cmd(node: str, cmd: tuple[str, ...], prefix: str) -> None:
    """Run CMD on NODE (or on a client host) with this terminal's input and output; exits with its status."""
    argv = list(cmd[1:] if cmd[:1] == ("--",) else cmd)  # click keeps the "--" once parsing stopped at NODE
    if not argv:
        raise click.UsageError("no command given")
    bed = _attach(prefix)
    if bed.is_client(node):
        proc = _guard(lambda: bed.client_popen(node, argv))
    else:
        proc = _guard(lambda: bed.popen(node, argv))
    sys.exit(proc.wait())


@testbed.command("client")
@click.argument("name")
@click.option("--address", default=DEFAULT_CLIENT_ADDRESS, show_default=True, help="Its address on the LAN.")
@click.option("--remove", is_flag=True, help="Unplug the client instead (its processes are killed).")
@_prefix_option
def client_cmd(name: str, address: str, remove: bool, prefix: str) -> None:
    """Cable a client host NAME to the LAN: not a cluster node, the source of HTTP, SQL... traffic.

    It reaches every node (faults cut only the links between nodes); run commands on it with
    `exec NAME -- CMD`. `down` removes it with the rest.
    """
    bed = _attach(prefix)
    if remove:
        _guard(lambda: bed.remove_client(name))
        return
    namespace = _guard(lambda: bed.add_client(name, address))
    click.echo(f"{name}\t{bed.client_address(name)}\tnetns {namespace}")


@testbed.command("kill")
@click.argument("node")
@click.option("--signal", "-s", "sig", default="KILL", show_default=True, help="Signal name or number.")
@_prefix_option
def kill_cmd(node: str, sig: str, prefix: str) -> None:
    """Send a signal to NODE's daemon."""
    bed = _attach(prefix)
    _guard(lambda: bed.kill(node, _signal(sig)))


@testbed.command("start")
@click.argument("node")
@_prefix_option
def start_cmd(node: str, prefix: str) -> None:
    """Start the daemon on NODE."""
    bed = _attach(prefix)
    click.echo(_guard(lambda: bed.start_daemon(node)))


@testbed.command("stop")
@click.argument("node")
@_prefix_option
def stop_cmd(node: str, prefix: str) -> None:
    """Stop NODE's daemon (SIGTERM, then SIGKILL)."""
    bed = _attach(prefix)
    _guard(lambda: bed.stop_daemon(node))


@testbed.command("pause")
@click.argument("node")
@_prefix_option
def pause_cmd(node: str, prefix: str) -> None:
    """Freeze NODE's daemon (SIGSTOP)."""
    bed = _attach(prefix)
    _guard(lambda: bed.pause(node))


@testbed.command("resume")
@click.argument("node")
@_prefix_option
def resume_cmd(node: str, prefix: str) -> None:
    """Thaw NODE's daemon (SIGCONT)."""
    bed = _attach(prefix)
    _guard(lambda: bed.resume(node))


@testbed.command("power-off")
@click.argument("node")
@_prefix_option
def power_off_cmd(node: str, prefix: str) -> None:
    """Cut NODE's power: all its processes die, its link goes down."""
    bed = _attach(prefix)
    _guard(lambda: bed.power_off(node))


@testbed.command("power-on")
@click.argument("node")
@click.option("--start-daemon", is_flag=True, help="Also start the daemon.")
@_prefix_option
def power_on_cmd(node: str, start_daemon: bool, prefix: str) -> None:
    """Boot NODE again (fresh processes and /run, same files)."""
    bed = _attach(prefix)
    _guard(lambda: bed.power_on(node, start_daemon=start_daemon))


@testbed.command("partition")
@click.argument("groups", nargs=-1, required=True)
@_prefix_option
def partition_cmd(groups: tuple[str, ...], prefix: str) -> None:
    """Split the network: each GROUP is comma-separated node names; unnamed nodes are alone."""
    bed = _attach(prefix)
    parsed = [[name.strip() for name in group.split(",") if name.strip()] for group in groups]
    _guard(lambda: bed.partition(*parsed))


@testbed.command("one-way")
@click.argument("src")
@click.argument("dst")
@_prefix_option
def one_way_cmd(src: str, dst: str, prefix: str) -> None:
    """Packets from SRC no longer reach DST (DST to SRC still works)."""
    bed = _attach(prefix)
    _guard(lambda: bed.one_way(src, dst))


@testbed.command("loss")
@click.argument("node")
@click.argument("percent", type=click.IntRange(0, 100))
@_prefix_option
def loss_cmd(node: str, percent: int, prefix: str) -> None:
    """NODE drops PERCENT % of incoming packets."""
    bed = _attach(prefix)
    _guard(lambda: bed.loss(node, percent))


@testbed.command("heal")
@_prefix_option
def heal_cmd(prefix: str) -> None:
    """Remove all network faults."""
    bed = _attach(prefix)
    _guard(bed.heal)


@testbed.command("log")
@click.argument("node")
@_prefix_option
def log_cmd(node: str, prefix: str) -> None:
    """Print NODE's daemon log."""
    bed = _attach(prefix)
    click.echo(_guard(lambda: bed.daemon_log(node)), nl=False)


@testbed.command("firewall")
@click.argument("nodes", nargs=-1)
@click.option(
    "--policy",
    type=click.Choice(["accept", "drop"]),
    default="drop",
    show_default=True,
    help="Input policy for what the rules do not mention.",
)
@click.option("--show", is_flag=True, help="Print each node's rules with their counters instead of loading them.")
@_prefix_option
def firewall_cmd(nodes: tuple[str, ...], policy: str, show: bool, prefix: str) -> None:
    """Load `quorate firewall` on NODES (default: all), each from its own cluster.conf."""
    bed = _attach(prefix)
    if show:
        for node in nodes or bed.nodes:
            click.echo(f"# {node}\n{_guard(lambda node=node: bed.firewall_rules(node))}")
        return
    _guard(lambda: bed.apply_firewall(list(nodes) or None, policy=policy))
