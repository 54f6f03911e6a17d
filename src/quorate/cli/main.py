"""`quorate`: the modern command line (status, keys, configuration, testbed), next to the classic tools.

Subcommand groups that pull in heavy modules (lxml for `config`, the testbed) are imported only when used,
so `quorate status` stays quick.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, ClassVar

import click

from quorate.cli import client


class LazyGroup(click.Group):
    """Imports a subcommand group's module the first time that group is asked for."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "chaos": ("quorate.cli.chaos_cmd", "chaos"),
        "config": ("quorate.cli.config_cmd", "config"),
        "simulate": ("quorate.cli.simulate", "simulate"),
        "firewall": ("quorate.cli.firewall", "firewall"),
        "testbed": ("quorate.cli.testbed_cmd", "testbed"),
        "lock": ("quorate.cli.lock_cmd", "lock"),
        "locks": ("quorate.cli.lock_cmd", "locks"),
        "lvm": ("quorate.cli.lvm_cmd", "lvm"),
        "lvs": ("quorate.cli.lvs_cmd", "lvs"),
        "metrics": ("quorate.cli.metrics_cmd", "metrics"),
        "web": ("quorate.web.command", "web"),
        "witness": ("quorate.witness.cli", "witness"),
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


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{seconds:.1f}s ago"


def render_status(s: dict[str, Any]) -> str:
    names = {n["nodeid"]: n["name"] for n in s["nodes"]}
    verdict = "Quorate" if s["quorate"] else "INQUORATE (activity blocked)"
    lines = [
        f"Cluster {s['cluster_name']} (id {s['cluster_id']}), config version {s['config_version']}",
        f"This node: {s['node_name']} (id {s['node_id']}), {s['state']}, view {s['generation']}"
        + (f", coordinator {names.get(s['coordinator'], s['coordinator'])}" if s["coordinator"] else ""),
        f"Quorum: {verdict}: {s['total_votes']} votes, expected {s['expected_votes']}, quorum {s['quorum']}",
        f"Why: {s['reason']}",
        "",
        f"  {'ID':>3}  {'NAME':<28} {'VOTES':>5}  {'STATE':<8} {'HEARD':<12} NOTE",
    ]
    for n in s["nodes"]:
        state = "member" if n["member"] else "out"
        heard = "local" if n["local"] else _ago(n["last_heard_age"])
        note = n["refused"] or ""
        lines.append(f"  {n['nodeid']:>3}  {n['name']:<28} {n['votes']:>5}  {state:<8} {heard:<12} {note}")
    t = s["transport"]
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(t["dropped"].items())) or "none"
    lines += [
        "",
        f"Transport: {t['accepted']} datagrams accepted, {t['sent']} sent; dropped: {dropped}; "
        f"undecodable: {t['undecodable']}",
    ]
    w = s.get("witness")
    if w:
        left = f", {w['lease_left']:.1f} s of lease left" if w.get("lease_left") is not None else ""
        lines.append(
            f"Witness: {w['host']}:{w['port']} ({w['algorithm']}, lease {w['lease']:g} s), {w['state']}, "
            f"{w['votes']} votes{left}; last answer: {w['last_reason']}"
        )
    if s.get("log"):
        lines += ["", "Recent decisions:", *[f"  {entry}" for entry in s["log"][-8:]]]
    return "\n".join(lines)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full state as JSON.")
@click.option("--watch", type=float, default=None, metavar="SECONDS", help="Repeat every SECONDS.")
def status(as_json: bool, watch: float | None) -> None:
    """Show this node's view of the cluster and why it is (or is not) quorate."""
    while True:
        try:
            s = client.status()
        except client.NotRunning:
            raise click.ClickException(
                f"quorated is not running on this node (no answer on {client.socket_path()})"
            ) from None
        click.echo(json.dumps(s, indent=2) if as_json else render_status(s))
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
