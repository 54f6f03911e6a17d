"""`quorate why [SERVICE|NODE]`: the reason for a service's place, for quorum, or for a node's fencing state.

The daemon that answers computes the sentence from its live state with the placement and fencing code the
coordinator runs (`quorate.core.explain`), so this command only asks and prints: the sentence, or with
``--json`` the sentence and the facts it rests on. An unknown name is refused by the daemon with the list of
valid ones; both that and a daemon that does not answer exit with status 1.
"""

from __future__ import annotations

import json
import sys

import click

from quorate.cli import client


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the sentence and the facts it rests on as JSON.")
def why(name: str | None, as_json: bool) -> None:
    """Why SERVICE runs where it does (or not), where NODE stands, or (no argument) why the cluster is quorate."""
    try:
        answer = client.request("why", name=name)
    except client.NotRunning:
        sys.stderr.write(f"Could not connect to CMAN: quorated is not running (no answer on {client.socket_path()})\n")
        sys.exit(1)
    except client.RequestFailed as exc:
        sys.stderr.write(f"quorate why: {exc}\n")
        sys.exit(1)
    if as_json:
        answer.pop("ok", None)
        click.echo(json.dumps(answer, indent=2))
    else:
        click.echo(answer["sentence"])
