"""`quorate witness --listen ADDR:PORT` runs the witness; `quorate witness add-cluster NAME KEYFILE` registers one.

Exit status 100 for what a restart cannot fix (no cluster registered, a cluster file or key it cannot use, an
address it cannot bind), as quorated: the unit file keeps systemd from respawning it in a loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from quorate.core.witness_protocol import DEFAULT_PORT
from quorate.node.keys import KeyFileError
from quorate.witness.clusters import DEFAULT_DIR, ClusterFileError, add_cluster, load_clusters
from quorate.witness.service import DEFAULT_MAX_LEASE, DEFAULT_STATE_DIR, serve

FATAL = 100


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(DEFAULT_PORT)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise click.BadParameter(f"{text!r}: expected ADDRESS:PORT with a port from 1 to 65535")
    return host.strip("[]") or "0.0.0.0", int(port)


@click.group(invoke_without_command=True)
@click.option("--listen", "listen", metavar="ADDR:PORT", help=f"where to answer (port {DEFAULT_PORT} by default)")
@click.option("--config-dir", type=click.Path(path_type=Path), default=DEFAULT_DIR, show_default=True)
@click.option("--state-dir", type=click.Path(path_type=Path), default=DEFAULT_STATE_DIR, show_default=True)
@click.option(
    "--max-lease",
    type=click.FloatRange(1.0, 300.0),
    default=DEFAULT_MAX_LEASE,
    show_default=True,
    help="the longest lease granted; after a start nothing is granted for this long",
)
@click.pass_context
def witness(ctx: click.Context, listen: str | None, config_dir: Path, state_dir: Path, max_lease: float) -> None:
    """The quorum witness: breaks ties between the halves of clusters that have no shared storage."""
    ctx.ensure_object(dict)
    ctx.obj["config_dir"] = config_dir
    if ctx.invoked_subcommand is not None:
        return
    if listen is None:
        raise click.UsageError("give --listen ADDR:PORT, or a subcommand (add-cluster)")
    host, port = parse_listen(listen)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        clusters = load_clusters(config_dir)
        for cluster in clusters:
            cluster.key()
    except (ClusterFileError, KeyFileError, OSError) as exc:
        click.echo(f"quorate witness: {exc}", err=True)
        sys.exit(FATAL)
    if not clusters:
        click.echo(
            f"quorate witness: no cluster is registered in {config_dir}: add one with 'quorate witness add-cluster "
            "NAME KEYFILE'",
            err=True,
        )
        sys.exit(FATAL)
    try:
        code = asyncio.run(serve(clusters, host, port, state_dir=state_dir, max_lease=max_lease))
    except OSError as exc:
        click.echo(f"quorate witness: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(FATAL)
    sys.exit(code)


@witness.command("add-cluster")
@click.argument("name")
@click.argument("keyfile", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--cluster-id", type=click.IntRange(0, 0xFFFF), help="the cluster's id if cluster.conf sets one")
@click.option("--max-nodeid", type=click.IntRange(1, 0xFFFFFFF0), default=255, show_default=True)
@click.pass_context
def add_cluster_cmd(ctx: click.Context, name: str, keyfile: Path, cluster_id: int | None, max_nodeid: int) -> None:
    """Serve cluster NAME, whose nodes share KEYFILE (copied next to the cluster's file)."""
    try:
        path = add_cluster(ctx.obj["config_dir"], name, keyfile, cluster_id=cluster_id, max_nodeid=max_nodeid)
    except (ClusterFileError, KeyFileError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"cluster {name} registered in {path}; restart the witness to serve it")
