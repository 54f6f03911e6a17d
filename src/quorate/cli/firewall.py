"""``quorate firewall``: the packet-filter rules a node needs, written from cluster.conf.

Theory of operation: the article opens cman's ports in ``/etc/sysconfig/iptables`` before anything else,
because every later step needs the nodes to talk. quorate needs far less than the article's list (cman 5404
and 5405, ccsd 50006-50009, gnbd 14567, dlm 21064): quorated sends and receives every message, heartbeats
and service or fence traffic alike, on **one UDP port**, ``<cman port>`` (5405 by default), by unicast to
each node's address or, when ``<multicast addr>`` is set, to that group. Fence agents open *outgoing*
connections (IPMI over UDP 623, the testbed's power switch over TCP), so a node only has to accept their
replies. The quorum disk is shared storage, not network traffic between nodes.

So the rules are: UDP to the cluster port from the nodes' addresses is accepted and counted; UDP to that
port from anywhere else is counted and dropped (a forged datagram would be refused by the wire's
authentication anyway, but it is cheaper and more visible to drop it here). With a multicast address IGMP is
accepted too, so the switches keep forwarding the group. By default nothing else is decided (policy accept):
the table can be loaded next to a host's own firewall without locking anyone out. ``--policy drop`` turns it
into the node's whole input firewall: loopback, established and related traffic (the fence agents'
replies), ICMP and the ``--allow-tcp`` ports are accepted, the rest dropped.

A note on nftables that matters here: an ``accept`` in one table does not override a ``drop`` in another, so
on a host whose own firewall drops by default the accept rules must go into that firewall too (the printed
comment says so). The builders are pure functions of the configuration and the node addresses, so they are
unit-tested without root; only ``--apply`` touches the host (``nft -f -``).
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import click

from quorate.config import DEFAULT_PATH, ClusterConfig, ConfigError, load_config

TABLE = "quorate"
IPMI_PORT = 623
NETNS_SWITCH = ("192.168.0.254", 1623)  # fence_netns's defaults (quorate.agents.fence_netns)


@dataclass(frozen=True)
class FenceEndpoint:
    """Where a fence device listens, for the comment that explains why its replies must get through."""

    device: str
    agent: str
    protocol: str
    address: str
    port: int | None

    def describe(self) -> str:
        where = f"{self.address}:{self.port}" if self.port is not None else f"{self.address} (the agent's port)"
        return f"{self.device} ({self.agent}): {self.protocol} {where}"


@dataclass(frozen=True)
class Plan:
    """Everything the rules say, independent of the syntax they are printed in."""

    cluster: str
    config_version: int
    port: int
    nodes: tuple[tuple[str, str], ...]  # (name, IPv4 address), in node id order
    multicast: str | None
    fence: tuple[FenceEndpoint, ...]
    policy: str = "accept"
    allow_tcp: tuple[int, ...] = ()

    @property
    def addresses(self) -> list[str]:
        return sorted({address for _, address in self.nodes}, key=ipaddress.IPv4Address)


def fence_endpoints(cfg: ClusterConfig) -> tuple[FenceEndpoint, ...]:
    """Fence devices reached over the network, with per-node ``<device>`` attributes taking precedence."""
    found: dict[tuple[str, str, int | None], FenceEndpoint] = {}
    for node in cfg.nodes:
        for method in node.fence:
            for ref in method.devices:
                device = cfg.fencedevice(ref.name)
                if device is None:
                    continue
                attrs = dict(device.attrs) | dict(ref.attrs)
                endpoint = _endpoint(device.name, device.agent, attrs)
                if endpoint is not None:
                    found.setdefault((endpoint.protocol, endpoint.address, endpoint.port), endpoint)
    return tuple(found.values())


def _endpoint(name: str, agent: str, attrs: Mapping[str, str]) -> FenceEndpoint | None:
    port_text = attrs.get("ipport", "").strip()
    port = int(port_text) if port_text.isdigit() else None
    if agent == "fence_netns":
        address = attrs.get("ipaddr", NETNS_SWITCH[0])
        return FenceEndpoint(name, agent, "tcp", address, port or NETNS_SWITCH[1])
    host = attrs.get("ipaddr") or attrs.get("ip")
    if not host:
        return None  # fence_manual and agents that do not use the network
    if "ipmi" in agent:
        return FenceEndpoint(name, agent, "udp", host, port or IPMI_PORT)
    return FenceEndpoint(name, agent, "tcp", host, port)


def make_plan(
    cfg: ClusterConfig, addresses: Mapping[str, str], *, policy: str = "accept", allow_tcp: Iterable[int] = ()
) -> Plan:
    """``addresses`` maps each clusternode name to its IPv4 address (``resolve_nodes`` finds them)."""
    if policy not in ("accept", "drop"):
        raise ValueError(f"policy must be accept or drop, not {policy!r}")
    missing = [node.name for node in cfg.nodes if node.name not in addresses]
    if missing:
        raise ValueError(f"no address for {', '.join(missing)}")
    return Plan(
        cluster=cfg.name,
        config_version=cfg.config_version,
        port=cfg.port,
        nodes=tuple((node.name, addresses[node.name]) for node in cfg.nodes),
        multicast=cfg.multicast_address if cfg.multicast_explicit else None,
        fence=fence_endpoints(cfg),
        policy=policy,
        allow_tcp=tuple(sorted(set(allow_tcp))),
    )


def _header(plan: Plan, how: str) -> list[str]:
    lines = [
        f"# quorate firewall for cluster {plan.cluster} (config_version {plan.config_version}),"
        " written by `quorate firewall`.",
        f"# quorated uses one port, UDP {plan.port}, for everything between nodes (the article's other ports,",
        "# 5404, ccsd 50006-50009, gnbd 14567 and dlm 21064, are not used by quorate). Accepted from the nodes:",
    ]
    lines += [f"#   {name:<32} {address}" for name, address in plan.nodes]
    lines.append("# and counted then dropped from any other address.")
    if plan.multicast:
        lines.append(f"# Messages to every node go to the multicast group {plan.multicast}; IGMP is accepted for it.")
    if plan.fence:
        lines.append("# Fence devices this node connects to (outgoing; only their replies come back in):")
        lines += [f"#   {endpoint.describe()}" for endpoint in plan.fence]
    if plan.policy == "drop":
        allowed = f"TCP {', '.join(map(str, plan.allow_tcp))}" if plan.allow_tcp else "no new TCP (SSH: --allow-tcp 22)"
        lines.append("# Policy drop: nothing else comes in but loopback, replies (the fence agents' included), ICMP")
        lines.append(f"# and {allowed}.")
    else:
        lines.append("# Policy accept: only the cluster port is decided here. If another firewall on this host drops")
        lines.append("# by default, accept the nodes' UDP there too: its drop wins over this table's accept.")
    lines.append(how)
    return lines


def nft_ruleset(plan: Plan) -> str:
    """An nft script that replaces table ``inet quorate`` atomically (``nft -f`` runs it as one transaction)."""
    nodes = ", ".join(plan.addresses)
    rules = [
        f'ip saddr {{ {nodes} }} udp dport {plan.port} counter accept comment "quorated: cluster nodes"',
        f'udp dport {plan.port} counter drop comment "quorated: not a cluster node"',
    ]
    if plan.multicast:
        rules.append(f'ip protocol igmp accept comment "multicast group {plan.multicast}"')
    if plan.policy == "drop":
        rules += [
            'iifname "lo" accept',
            'ct state established,related accept comment "replies, fence agents\' included"',
            "ip protocol icmp accept",
        ]
        if plan.allow_tcp:
            rules.append(f"tcp dport {{ {', '.join(map(str, plan.allow_tcp))} }} accept")
    how = "# Load with: nft -f FILE (or quorate firewall --apply); remove with: nft delete table inet quorate"
    lines = [
        *_header(plan, how),
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "\tchain input {",
        f"\t\ttype filter hook input priority filter; policy {plan.policy};",
        *[f"\t\t{rule}" for rule in rules],
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def iptables_rules(plan: Plan) -> str:
    """The same rules in iptables-save format, the format of the article's /etc/sysconfig/iptables."""
    how = (
        "# A whole /etc/sysconfig/iptables (iptables-restore FILE); to add to an existing one,"
        " copy the -A lines before its final REJECT."
    )
    lines = [*_header(plan, how), "*filter", f":INPUT {plan.policy.upper()} [0:0]"]
    lines += [f"-A INPUT -s {address}/32 -p udp -m udp --dport {plan.port} -j ACCEPT" for address in plan.addresses]
    lines.append(f"-A INPUT -p udp -m udp --dport {plan.port} -j DROP")
    if plan.multicast:
        lines.append("-A INPUT -p igmp -j ACCEPT")
    if plan.policy == "drop":
        lines += [
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT",
            "-A INPUT -p icmp -j ACCEPT",
        ]
        lines += [f"-A INPUT -p tcp -m tcp --dport {port} -j ACCEPT" for port in plan.allow_tcp]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def resolve_nodes(cfg: ClusterConfig, overrides: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each node's address as quorated will find it (the first IPv4 address its name resolves to); a name
    that is itself an address is taken as it is. Returns the addresses and the names that did not resolve."""
    from quorate.node.identity import resolve

    found: dict[str, str] = {}
    missing: list[str] = []
    for node in cfg.nodes:
        override = overrides.get(node.name) or overrides.get(node.short_name)
        if override:
            found[node.name] = override
            continue
        try:
            found[node.name] = str(ipaddress.IPv4Address(node.name))
            continue
        except ValueError:
            pass
        addresses = resolve(node.name)
        if addresses:
            found[node.name] = addresses[0]
        else:
            missing.append(node.name)
    return found, missing


def _parse_overrides(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, address = value.partition("=")
        try:
            ipaddress.IPv4Address(address.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r}: expected NAME=IPv4-ADDRESS", param_hint="--address") from None
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r}: expected NAME=IPv4-ADDRESS", param_hint="--address")
        out[name.strip()] = address.strip()
    return out


def apply_nft(script: str) -> None:
    """Load the script on this host (this network namespace) in one nft transaction."""
    nft = shutil.which("nft")
    if nft is None:
        raise click.ClickException("nft is not installed (Debian: apt-get install nftables)")
    done = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"nft refused the rules: {done.stderr.strip()}")


@click.command("firewall")
@click.option("-c", "--config", "path", default=DEFAULT_PATH, show_default=True, help="cluster.conf to read.")
@click.option("--iptables", is_flag=True, help="Print iptables-save rules instead of an nftables script.")
@click.option("--apply", "do_apply", is_flag=True, help="Load the nftables rules on this host (nft -f -).")
@click.option("--remove", is_flag=True, help="Delete table inet quorate on this host.")
@click.option(
    "--policy",
    type=click.Choice(["accept", "drop"]),
    default="accept",
    show_default=True,
    help="What happens to input traffic the rules do not mention.",
)
@click.option(
    "--allow-tcp",
    type=click.IntRange(1, 65535),
    multiple=True,
    metavar="PORT",
    help="With --policy drop, also accept new TCP connections to PORT (e.g. 22). Repeatable.",
)
@click.option(
    "--address",
    "addresses",
    multiple=True,
    metavar="NAME=IP",
    help="A node's address, when its name does not resolve here. Repeatable.",
)
def firewall(
    path: str,
    iptables: bool,
    do_apply: bool,
    remove: bool,
    policy: str,
    allow_tcp: tuple[int, ...],
    addresses: tuple[str, ...],
) -> None:
    """Print (or load) the firewall rules for quorate's traffic, from cluster.conf."""
    if remove:
        apply_nft(f"table inet {TABLE}\ndelete table inet {TABLE}\n")
        click.echo(f"table inet {TABLE} removed")
        return
    if do_apply and iptables:
        raise click.UsageError("--apply loads nftables rules; print --iptables rules and load them yourself")
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"{problem.severity}: {problem}", err=True)
        raise click.ClickException(f"{path}: cannot build firewall rules from an invalid configuration") from None
    found, missing = resolve_nodes(cfg, _parse_overrides(addresses))
    if missing:
        raise click.ClickException(
            f"cannot resolve {', '.join(missing)} to an IPv4 address: fix DNS or /etc/hosts, or give --address NAME=IP"
        )
    plan = make_plan(cfg, found, policy=policy, allow_tcp=allow_tcp)
    if iptables:
        click.echo(iptables_rules(plan), nl=False)
        return
    script = nft_ruleset(plan)
    if not do_apply:
        click.echo(script, nl=False)
        return
    apply_nft(script)
    click.echo(f"loaded table inet {TABLE}: UDP {plan.port} from {len(plan.addresses)} nodes, policy {policy}")
