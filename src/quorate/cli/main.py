"""`quorate`: the modern command line (status, keys, configuration, testbed), next to the classic tools.

Subcommand groups that pull in heavy modules (lxml for `config`, the testbed) are imported only when used,
so `quorate status` stays quick.
"""

from __future__ import annotations

import sys
import time
from typing import ClassVar

import click

from quorate.cli.status_cmd import StatusUnavailable, status_text


class LazyGroup(click.Group):
    """Imports a subcommand group's module the first time that group is asked for."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "chaos": ("quorate.cli.chaos_cmd", "chaos"),
        "config": ("quorate.cli.config_cmd", "config"),
        "simulate": ("quorate.cli.simulate", "simulate"),
        "firewall": ("quorate.cli.firewall", "firewall"),
        "key": ("quorate.cli.key_cmd", "key"),
        "testbed": ("quorate.cli.testbed_cmd", "testbed"),
        "lock": ("quorate.cli.lock_cmd", "lock"),
        "locks": ("quorate.cli.lock_cmd", "locks"),
        "lvm": ("quorate.cli.lvm_cmd", "lvm"),
        "lvs": ("quorate.cli.lvs_cmd", "lvs"),
        "metrics": ("quorate.cli.metrics_cmd", "metrics"),
        "web": ("quorate.web.command", "web"),
        "witness": ("quorate.witness.cli", "witness"),
        "why": ("quorate.cli.why_cmd", "why"),
        "timeline": ("quorate.cli.timeline_cmd", "timeline"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            import importlib

            module, attr = self.lazy[name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="quorate")
def main() -> None:
    """quorate: membership, quorum, fencing and services for a cluster of Linux machines."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full state as JSON.")
@click.option("--watch", type=float, default=None, metavar="SECONDS", help="Repeat every SECONDS.")
def status(as_json: bool, watch: float | None) -> None:
    """Show this node's view of the cluster and why it is (or is not) quorate."""
    while True:
        try:
            click.echo(status_text(as_json), nl=False)
        except StatusUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        if watch is None:
            return
        time.sleep(watch)
        click.echo()


@main.command()
@click.argument("path", default="/etc/cluster/quorate.key")
@click.option("--force", is_flag=True, help="Replace an existing key (every node needs the new one).")
def keygen(path: str, force: bool) -> None:
    """Write a new random cluster key (mode 0600); copy it to every node."""
    from quorate.node.keys import KeyFileError, generate_key

    try:
        written = generate_key(path, force=force)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Wrote a new cluster key to {written} (mode 0600). Copy it to every node, e.g. with scp -p.")


@main.group(invoke_without_command=True)
@click.option("--non-interactive", is_flag=True, help="Do not stop between steps.")
@click.pass_context
def demo(ctx: click.Context, non_interactive: bool) -> None:
    """Build the article's cluster magi on this machine (root) and walk through it."""
    if ctx.invoked_subcommand is not None:
        return
    import os

    if os.geteuid() != 0:
        raise click.ClickException("the demo builds network namespaces and needs root: run it with sudo")
    from quorate.demo import Demo

    Demo(interactive=not non_interactive and sys.stdin.isatty()).story()


@demo.command("down")
def demo_down() -> None:
    """Remove the demo cluster (namespaces, processes, files)."""
    from quorate.demo import down

    down()
    click.echo("demo cluster magi removed")


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
