"""Cluster configurations for scale runs: N testbed nodes, M light services, generated rather than written.

Theory of operation: the article's cluster has three nodes and one service on a shared disk; nothing tells
what happens at 16 or 32 nodes and hundreds of services.  ``scale_conf`` writes the cluster.conf of such a
cluster so the testbed, the end-to-end test and the benchmark all run the same shape:

* nodes ``node01.scale`` .. ``nodeNN.scale`` with nodeids 1..N, so the testbed gives them
  192.168.0.201 .. 192.168.0.(200+N) (32 nodes fit the LAN's addressing with room to spare);
* every node fenced by ``fence_netns`` through the testbed's power switch (``action="off"``: a fenced node
  stays off until someone powers it on, like the article's testbed);
* one ordered, unrestricted failover domain per node, ``prefer-nodeNN``: that node first, then the other
  nodes of its group of ``GROUP_SIZE`` in turn.  Services are dealt round-robin over these domains, so every
  node owns about M/N services, a failed node's services go to its group first, and they may go anywhere
  when the whole group is gone;
* each service is one ``script`` resource running ``SERVICE_SCRIPT`` (``service_script()``), which keeps a
  flag file per service in the node's own /run: its status check is a ``test -e``, so a thousand services
  cost process starts and no real work.  A script resource needs a file of its own (two services sharing
  one would stop each other's daemon), so each service names a symbolic link to the one script in
  ``SERVICE_LINKS`` (``service_file``);
* unicast by default (no ``<multicast>`` element); ``multicast`` adds an explicit address.

Everything here is pure text: the caller writes the file and the script (``scale_bed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from quorate.config.validate import SUPPORTED_NODES
from quorate.testbed.conf import MAX_NODEID, TestbedError

MIN_NODES = 2
#: The largest testbed: what quorate supports (and the LAN's 200 + nodeid addressing allows more).
MAX_NODES = min(SUPPORTED_NODES, MAX_NODEID)
#: A cluster.conf is at most 1 MiB; 2000 generated services take about half of that.
MAX_SERVICES = 2000
#: Nodes per failover-domain group: a failed node's services stay within its group while the group lives.
GROUP_SIZE = 4
CLUSTER_NAME = "scale"
DOMAIN_SUFFIX = "scale"
#: Where the script lives as a node sees it (each node's /etc/cluster is its own directory).
SERVICE_SCRIPT = "/etc/cluster/scale-service.sh"
#: One symbolic link per service to SERVICE_SCRIPT, relative so it resolves inside the node.
SERVICE_LINKS = "/etc/cluster/scale-services"
#: The flag files' directory inside a node (each node has its own /run).
FLAG_DIR = "/run/quorate-scale"
DEFAULT_MULTICAST = "239.192.77.1"
#: Seconds between two status checks of one service (rgmanager's script default is 30 s).
DEFAULT_STATUS_INTERVAL = 30


@dataclass(frozen=True)
class ScaleShape:
    """What to generate; ``check`` says what is wrong with it in terms of the command-line options."""

    nodes: int
    services: int = 0
    token_ms: int | None = None
    multicast: str | None = None
    fence_secret: str = "quorate-scale"
    status_interval: int = DEFAULT_STATUS_INTERVAL

    def check(self) -> ScaleShape:
        if not MIN_NODES <= self.nodes <= MAX_NODES:
            raise TestbedError(
                f"--nodes {self.nodes}: a scale testbed has {MIN_NODES} to {MAX_NODES} nodes "
                f"({MAX_NODES} is the most quorate supports; one node is no cluster)"
            )
        if not 0 <= self.services <= MAX_SERVICES:
            raise TestbedError(f"--services {self.services}: use 0 to {MAX_SERVICES}")
        if self.token_ms is not None and self.token_ms <= 0:
            raise TestbedError(f"--token {self.token_ms}: the token timeout is a positive number of milliseconds")
        if self.status_interval <= 0:
            raise TestbedError(f"status interval {self.status_interval}: must be a positive number of seconds")
        if any(ch.isspace() for ch in self.fence_secret) or not self.fence_secret:
            raise TestbedError("the fence secret must be non-empty and without white space")
        return self


def node_name(nodeid: int) -> str:
    return f"node{nodeid:02d}.{DOMAIN_SUFFIX}"


def node_names(count: int) -> list[str]:
    return [node_name(nodeid) for nodeid in range(1, count + 1)]


def service_name(index: int) -> str:
    """``svc0001`` ..: zero-padded so that clustat's sorted listing is in creation order."""
    return f"svc{index:04d}"


def service_file(name: str) -> str:
    """The file a service's script resource names: its own link to ``SERVICE_SCRIPT``."""
    return f"{SERVICE_LINKS}/{name}"


def domain_name(nodeid: int) -> str:
    return f"prefer-{node_name(nodeid).split('.', 1)[0]}"


def domain_members(nodeid: int, nodes: int, group_size: int = GROUP_SIZE) -> list[str]:
    """Node ``nodeid`` first, then the rest of its group in nodeid order after it, wrapping round the group."""
    first = (nodeid - 1) // group_size * group_size + 1
    group = list(range(first, min(first + group_size, nodes + 1)))
    at = group.index(nodeid)
    return [node_name(member) for member in group[at:] + group[:at]]


def home_node(index: int, nodes: int) -> str:
    """The node whose domain service ``index`` (1-based) is dealt to: its owner while that node is up."""
    return node_name((index - 1) % nodes + 1)


def services_of(node: str, services: int, nodes: int) -> list[str]:
    """The services whose preferred node is ``node`` (full name)."""
    return [service_name(i) for i in range(1, services + 1) if home_node(i, nodes) == node]


def startup_grace(shape: ScaleShape) -> int:
    """post_join_delay, in seconds, for a cluster of this shape started all at once on this machine.

    Why it grows: a node joins only once its start-up stops (R-30, one per configured service) are done, and a
    node still absent post_join_delay after the cluster became quorate is fenced (off, in the testbed: for good).
    Every node stops all M services at once, all N nodes on the same two cores: 8 nodes of 1000 services took
    33 s, so 3 s only holds for small shapes. An administrator with many services per node sets it the same way."""
    return max(3, shape.nodes * shape.services // 200)


def scale_conf(shape: ScaleShape) -> str:
    """The cluster.conf text for ``shape`` (checked first)."""
    shape.check()
    n = shape.nodes
    lines = ['<?xml version="1.0"?>', f'<cluster name="{CLUSTER_NAME}" config_version="1">']
    if shape.multicast:
        lines += ["  <cman>", f"    <multicast addr={quoteattr(shape.multicast)}/>", "  </cman>"]
    if shape.token_ms is not None:
        lines.append(f'  <totem token="{shape.token_ms}"/>')
    lines.append("  <clusternodes>")
    for nodeid in range(1, n + 1):
        lines += [
            f'    <clusternode name="{node_name(nodeid)}" nodeid="{nodeid}" votes="1">',
            '      <fence><method name="power"><device name="switch"/></method></fence>',
            "    </clusternode>",
        ]
    lines += [
        "  </clusternodes>",
        "  <fencedevices>",
        f'    <fencedevice name="switch" agent="fence_netns" action="off" passwd={quoteattr(shape.fence_secret)}/>',
        "  </fencedevices>",
        f'  <fence_daemon post_fail_delay="0" post_join_delay="{startup_grace(shape)}"/>',
        "  <rm>",
        "    <failoverdomains>",
    ]
    for nodeid in range(1, n + 1):
        lines.append(f'      <failoverdomain name="{domain_name(nodeid)}" ordered="1" restricted="0" nofailback="1">')
        for priority, member in enumerate(domain_members(nodeid, n), start=1):
            lines.append(f'        <failoverdomainnode name="{member}" priority="{priority}"/>')
        lines.append("      </failoverdomain>")
    lines.append("    </failoverdomains>")
    for index in range(1, shape.services + 1):
        name = service_name(index)
        domain = domain_name((index - 1) % n + 1)
        lines += [
            f'    <service name="{name}" autostart="1" domain="{domain}" recovery="relocate">',
            f'      <script name="{name}" file="{service_file(name)}">',
            f'        <action name="status" depth="0" interval="{shape.status_interval}"/>',
            "      </script>",
            "    </service>",
        ]
    lines += ["  </rm>", "</cluster>", ""]
    return "\n".join(lines)


def service_script(flag_dir: str = FLAG_DIR) -> str:
    """The init script every scale service runs: a flag file per service (its resource name) in ``flag_dir``."""
    return f"""#!/bin/sh
# A light service for scale runs: running means a flag file exists in this node's {flag_dir}.
flag="{flag_dir}/${{OCF_RESKEY_name:?no resource name in the environment}}"
case "$1" in
    start) mkdir -p {flag_dir} && : > "$flag" ;;
    stop) rm -f "$flag" ;;
    status) test -e "$flag" || exit 3 ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
"""
