"""Which clusternode is this machine? And where do the others live?

cman's rule: a node finds its own entry by its host name or by one of its addresses. quorated tries, in
order: `--node` (name, short name or node id), the host name (full, then short), then each node name's
addresses: an address this machine can bind to is one of its own. The last test needs no interface
listing and sees exactly what the kernel would use.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from quorate.config.model import ClusterConfig, ClusterNode


class IdentityError(Exception):
    """This machine cannot be matched to exactly one clusternode."""


def resolve(name: str) -> list[str]:
    """IPv4 addresses of a node name (cluster traffic is IPv4 in quorate, like the article's cluster)."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return []
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def is_local_address(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def find_local_node(config: ClusterConfig, override: str | None = None, hostname: str | None = None) -> ClusterNode:
    if override:
        node = config.node_by_name(override)
        if node is None and override.isdigit():
            node = config.node_by_id(int(override))
        if node is None:
            raise IdentityError(
                f"--node {override}: no clusternode of that name or id in {config.source} "
                f"(nodes: {', '.join(n.name for n in config.nodes)})"
            )
        return node
    hostname = hostname or socket.gethostname()
    node = config.node_by_name(hostname)
    if node is not None:
        return node
    matches = [n for n in config.nodes if any(is_local_address(a) for a in resolve(n.name) if not a.startswith("127."))]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise IdentityError(
            f"this host's addresses match several clusternodes ({', '.join(n.name for n in matches)}): "
            "start quorated with --node NAME"
        )
    raise IdentityError(
        f"this host (host name {hostname}) is not a node of cluster '{config.name}' in {config.source}: "
        "add a <clusternode> whose name resolves to one of its addresses, or start quorated with --node NAME"
    )


def peer_addresses(nodes: Iterable[ClusterNode]) -> tuple[dict[int, str], list[str]]:
    """Address of each node and one warning per node that does not resolve (it cannot be reached yet)."""
    addresses: dict[int, str] = {}
    problems: list[str] = []
    for node in nodes:
        found = resolve(node.name)
        if found:
            addresses[node.nodeid] = found[0]
        else:
            problems.append(f"cannot resolve clusternode {node.name} (node {node.nodeid}): check DNS or /etc/hosts")
    return addresses, problems
