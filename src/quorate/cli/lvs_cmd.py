"""`quorate lvs [--json]`: the load balancer's virtual services, their real servers, health and traffic.

Theory of operation: the director of a virtual service is whichever node runs the cluster service holding the
``<lvs>`` resource, and only that node has the live table (its nftables counters and its health checks). The
command asks the local quorated (control request ``lvs``): on the director it gets the table and prints it in the
layout of ``ipvsadm -Ln --stats`` (connections, packets and bytes each way; counts of 100000 and more shortened
with K, M, G as ipvsadm does), with each real server's weight and health added at the end of its line. The
control socket is local to each node, so a member that directs nothing cannot forward the question: it reads the
running cluster.conf and its view of the services and says which node directs each virtual service (or that
its service is not running), so the administrator knows where to ask.
"""

from __future__ import annotations

import json
from typing import Any

import click

from quorate.cli import client

STATS = ("conns", "in_packets", "out_packets", "in_bytes", "out_bytes")
HEAD = f"{'Prot LocalAddress:Port':<33} {'Conns':>8} {'InPkts':>8} {'OutPkts':>8} {'InBytes':>8} {'OutBytes':>8}"



def _where(address: object, port: object) -> str:
    """``address:port`` as ipvsadm prints it: an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in str(address) else f"{address}:{port}"

def large(value: int) -> str:
    """ipvsadm's short form: exact below 100000, then K, M, G, T."""
    for unit in ("", "K", "M", "G"):
        if value < 100000:
            return f"{value}{unit}"
        value //= 1000
    return f"{value}T"


def render(node: str, tables: list[dict[str, Any]]) -> str:
    lines = [f"quorate load balancer on {node}"]
    if tables:
        lines.append(f"data plane: {tables[0]['plane']}")
    lines += [HEAD, f"  -> {'RemoteAddress:Port':<28} {'':>44} Weight Health"]
    for table in tables:
        rows = table["realservers"]
        total = {k: sum(int(r[k]) for r in rows) for k in STATS}
        label = f"{str(table['protocol']).upper():<4} {_where(table['address'], table['port'])} {table['scheduler']}"
        if table["persistence"]:
            label += f" persistent {table['persistence']}"
        lines.append(f"{label:<33} {_stats(total)}  ({table['name']}, check {table['check']})")
        for row in rows:
            health = "up" if row["healthy"] else f"DOWN ({row['reason']})" if row["reason"] else "DOWN"
            where = _where(row["address"], row["port"])
            lines.append(f"  -> {where:<28} {_stats(row)} {row['weight']:>6} {health}")
        if table.get("error"):
            lines.append(f"  ! {table['error']}")
        if not table.get("checking", True):
            lines.append("  ! health checks are not running")
    return "\n".join(lines)


def _stats(values: dict[str, Any]) -> str:
    return " ".join(f"{large(int(values[k])):>8}" for k in STATS)


def elsewhere(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The virtual services of the running configuration and the node directing each, from this node's view."""
    from quorate.config import load_config

    path = status.get("config_file")
    if not path:
        return []
    config = load_config(str(path))
    services = {s["name"]: s for s in status.get("services", [])}
    found = []
    for service in config.rm.managed:
        for top in service.children:
            for res in top.walk():
                if res.type != "lvs":
                    continue
                entry = services.get(service.name, {})
                found.append(
                    {
                        "name": res.get("name") or "",
                        "address": res.get("address") or "",
                        "port": res.get("port") or "",
                        "service": service.name,
                        "state": entry.get("state", "unknown"),
                        "director": entry.get("owner", "") if entry.get("state") == "started" else "",
                    }
                )
    return found


@click.command("lvs")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
def lvs(as_json: bool) -> None:
    """Show the load-balanced virtual services: real servers, weights, health and traffic."""
    try:
        answer = client.request("lvs")
        status = client.status()
    except client.NotRunning:
        where = client.socket_path()
        raise click.ClickException(f"quorated is not running on this node (no answer on {where})") from None
    except client.RequestFailed as exc:
        raise click.ClickException(str(exc)) from None
    node = str(status["node_name"])
    tables: list[dict[str, Any]] = answer.get("directors", [])
    mine = {t["name"] for t in tables}
    from quorate.config import ConfigError

    try:
        others = [e for e in elsewhere(status) if e["name"] not in mine]
    except ConfigError as exc:
        if not tables:
            raise click.ClickException(f"{node} directs no virtual service, and the configuration cannot be read "
                                       f"to find the director: {exc}") from None  # fmt: skip
        others = []
    if as_json:
        click.echo(json.dumps({"node": node, "directors": tables, "elsewhere": others}, indent=2))
        return
    if tables:
        click.echo(render(node, tables))
    elif not others:
        click.echo(f"{node} directs no virtual service, and the configuration has none")
        return
    else:
        click.echo(f"{node} directs no virtual service")
    for entry in others:
        where = f"{entry['name']} ({_where(entry['address'], entry['port'])}, service {entry['service']})"
        if entry["director"]:
            click.echo(f"{where}: directed by {entry['director']}; run quorate lvs there")
        else:
            click.echo(f"{where}: no director, the service is {entry['state']}")
