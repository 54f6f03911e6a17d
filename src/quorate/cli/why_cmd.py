"""`quorate why [SERVICE|NODE]`: the reason for a service's place, for quorum, or for a node's fencing (L-20).

The daemon that answers computes the sentence from its live state with the placement and fencing code the
coordinator runs (`quorate.core.explain`), so this command only asks and prints. The sentence alone travels in
the protocol's raw form (`quorate.cli.fastclient`: no JSON to decode, so the command starts as fast as the status
commands); ``--json`` asks for the typed answer with the facts the sentence rests on. An unknown name is refused
by the daemon with the list of valid ones; both that and a daemon that does not answer exit with status 1.
"""

from __future__ import annotations

import sys

import click

from quorate.cli import fastclient


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the sentence and the facts it rests on as JSON.")
def why(name: str | None, as_json: bool) -> None:
    """Why SERVICE runs where it does (or not), where NODE stands, or (no argument) why the cluster is quorate."""
    if not as_json:
        sys.exit(fastclient.answer("why", prog="quorate why", not_running=_not_running(), name=name))
    import json

    from quorate.cli import client

    try:
        answer = client.request("why", name=name)
    except client.NotRunning:
        sys.stderr.write(_not_running() + "\n")
        sys.exit(1)
    except client.RequestFailed as exc:
        sys.stderr.write(f"quorate why: {exc}\n")
        sys.exit(1)
    answer.pop("ok", None)
    click.echo(json.dumps(answer, indent=2))


def _not_running() -> str:
    from quorate.cli.entry import why_not_running

    return why_not_running()
