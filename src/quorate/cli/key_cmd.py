"""`quorate key`: rotate the cluster key without stopping the cluster, follow a rotation, catch up after one.

Every subcommand asks the local quorated over the control socket; the rotation itself runs in the daemons
(`quorate.core.key_rotation`): the new key is generated on the node where ``rotate`` runs and reaches the others
sealed with the current key, so no key ever crosses the network in clear and nothing needs copying by hand,
except to a node that was down for longer than the grace period.
"""

from __future__ import annotations

import json
import re

import click

from quorate.cli import client

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``86400``, ``90m``, ``24h``, ``2d`` -> seconds; a clear error otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not a duration (examples: 3600, 90m, 24h, 2d)")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _ask(cmd: str, **args: object) -> dict[str, object]:
    try:
        return client.request(cmd, **args)
    except client.NotRunning as exc:
        raise click.ClickException(str(exc) or "quorated is not running on this node") from None
    except client.RequestFailed as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def key() -> None:
    """Rotate the cluster key while the cluster runs, and follow or catch up with a rotation."""


@key.command()
@click.option("--grace", default="24h", show_default=True, metavar="DURATION",
              help="How long members hand the new key to a node that missed the rotation (0: never).")  # fmt: skip
def rotate(grace: str) -> None:
    """Generate a new key here and switch every member to it, without downtime."""
    answer = _ask("key_rotate", grace=parse_duration(grace))
    click.echo(str(answer.get("text", "")).rstrip())


def render(doc: dict[str, object]) -> str:
    advertised = doc.get("view_features")
    features = ", ".join(str(f) for f in advertised) if isinstance(advertised, list) and advertised else "none"
    lines = [
        f"Key file: {doc.get('key_file')} (from {doc.get('source')})",
        f"Features every member supports: {features}",
        f"Phase: {doc.get('phase')}",
    ]
    if "rotation" in doc:
        lines.append(f"Rotation: {doc['rotation']} (started by {doc.get('started_by')}, driven by {doc.get('driver')})")
    nodes = doc.get("nodes")
    if isinstance(nodes, dict) and nodes:
        width = max(len(str(name)) for name in nodes)
        lines.append("")
        lines += [f"  {name!s:<{width}}  {step}" for name, step in nodes.items()]
        lines.append("")
    if doc.get("last"):
        lines.append(f"Last: {doc['last']}")
    retired = doc.get("retired_key_for")
    if isinstance(retired, int) and retired > 0:
        lines.append(f"Retired key: answers key fetches for {retired // 3600} h {retired % 3600 // 60} min more")
    return "\n".join(lines)


@key.command()
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def status(as_json: bool) -> None:
    """The rotation's phase, and each node's step as this node knows it (all of them on the driver)."""
    answer = _ask("key_status")
    doc = json.loads(str(answer.get("text", "{}")))
    click.echo(json.dumps(doc, indent=2) if as_json else render(doc))


@key.command()
def fetch() -> None:
    """On a node that was down during a rotation: obtain the new key from a member (within its grace period)."""
    answer = _ask("key_fetch")
    click.echo(str(answer.get("text", "")).rstrip())
