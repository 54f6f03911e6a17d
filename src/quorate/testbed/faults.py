"""Network faults as nftables rules inside the receiving host's namespace.

Theory of operation: every fault is expressed as "this host does not receive
packets from that source address", applied on the input hook of a table
``inet quorate_testbed`` in the *receiving* node's namespace.  Filtering on
input by source address catches unicast and multicast alike (a datagram to
239.192.6.41 still carries the sender's address), and it leaves ARP alone, as a
broken path in a switched LAN often would.

* partition(groups): for every ordered pair of nodes in different groups, the
  receiver drops the sender — both directions are cut because each side
  drops the other.
* one_way(src, dst): only dst drops src, so dst -> src still works.
* loss(node, percent): the node drops that share of everything arriving on
  eth0, chosen per packet with ``numgen random mod 100`` (100 % is a plain drop).

Faults are between cluster nodes only: client hosts (``clients.py``) get no
rules and no node drops a client's address, so a client reaches every powered
node whatever the faults.  Faults add up; heal deletes the table everywhere.  The script builders are
pure; ``apply`` feeds a script to ``nft -f -`` in the namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from quorate.testbed.conf import NodeSpec, TestbedError
from quorate.testbed.netns import NODE_IF, run

TABLE = "quorate_testbed"
FAMILY = "inet"
CHAIN = "input"


def base_script() -> str:
    """Create the table and input chain if missing (``add`` is idempotent in nft)."""
    return (
        f"add table {FAMILY} {TABLE}\n"
        f"add chain {FAMILY} {TABLE} {CHAIN} {{ type filter hook input priority -10 ; policy accept ; }}\n"
    )


def drop_from_script(sources: Iterable[str]) -> str:
    """Rule dropping every IPv4 packet from the given addresses."""
    addresses = sorted(set(sources))
    if not addresses:
        return ""
    return f"add rule {FAMILY} {TABLE} {CHAIN} ip saddr {{ {', '.join(addresses)} }} counter drop\n"


def loss_script(percent: int) -> str:
    """Rule dropping ``percent`` % of what arrives on eth0, at random per packet."""
    if not 0 <= percent <= 100:
        raise TestbedError(f"loss percent must be 0..100, not {percent}")
    if percent == 0:
        return ""
    if percent == 100:  # nft refuses "< 100" after "mod 100": the value must be in 0..99
        return f'add rule {FAMILY} {TABLE} {CHAIN} iifname "{NODE_IF}" counter drop\n'
    return f'add rule {FAMILY} {TABLE} {CHAIN} iifname "{NODE_IF}" numgen random mod 100 < {percent} counter drop\n'


def heal_script() -> str:
    """Delete the table; adding it first makes the delete succeed when there is none."""
    return f"add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"


def partition_drops(specs: Sequence[NodeSpec], groups: Sequence[Sequence[NodeSpec]]) -> dict[str, list[str]]:
    """For each node name, the addresses it must drop; unnamed nodes form groups of one."""
    group_of: dict[str, int] = {}
    for index, group in enumerate(groups):
        for spec in group:
            if spec.name in group_of and group_of[spec.name] != index:
                raise TestbedError(f"{spec.name} is named in two partition groups")
            group_of[spec.name] = index
    next_group = len(groups)
    for spec in specs:
        if spec.name not in group_of:
            group_of[spec.name] = next_group
            next_group += 1
    return {
        receiver.name: [sender.address for sender in specs if group_of[sender.name] != group_of[receiver.name]]
        for receiver in specs
    }


def apply(netns: str, script: str) -> None:
    """Load an nft script into a namespace, atomically (nft -f is one transaction)."""
    if script:
        run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=script)


def list_rules(netns: str) -> str:
    """The testbed table as nft prints it (empty when there are no faults)."""
    return run(["ip", "netns", "exec", netns, "nft", "list", "table", FAMILY, TABLE], check=False)
