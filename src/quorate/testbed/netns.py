"""The testbed LAN: one switch namespace with a bridge, one namespace per host.

Theory of operation: a "switch" network namespace ``<prefix>-sw`` holds a
bridge ``br0`` with no address and no route, so nothing on it can reach the
machine's real network or be reached from it.  Each host gets a namespace
``<prefix>-<short>`` and a veth pair created *inside* the switch namespace,
its peer created directly in the host namespace as ``eth0``: no interface of
the testbed ever appears in the root namespace, so the names only need to be
unique per switch.  Hosts get 192.168.0.(200+nodeid)/24, IPv6 off (no stray
router solicitations or MLD), ``lo`` up and a route for 224.0.0.0/4 on eth0 for
the cluster's multicast.  Multicast snooping is off on the bridge: there is no
IGMP querier, and a snooping bridge without one may stop flooding groups.

Client hosts (``clients.py``) are cabled the same way, without the multicast
route: they only talk to the nodes by unicast.

Powering a host off takes its switch port down, as a dead NIC would, and
leaves its network as a machine's is at boot: only its configured address
(floating addresses that services added at run time go, as they do from a
machine that loses power) and no neighbour entries.  Otherwise the node
would answer ARP for a service's address again the moment it is plugged
back in, before its daemon could remove it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from collections.abc import Sequence

from quorate.testbed.conf import SUBNET_BITS, TestbedError

NETNS_DIR = "/run/netns"
IPV6_DIR = "/run/quorate-testbed-ipv6"  # per host turned to IPv6: its own address, kept across a power loss
BRIDGE = "br0"
NODE_IF = "eth0"
MULTICAST_NET = "224.0.0.0/4"


def run(argv: Sequence[str], *, input: str | None = None, timeout: float = 15.0, check: bool = True) -> str:
    """Run a plumbing command; failures become TestbedError with the tool's own message."""
    try:
        done = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise TestbedError(f"{argv[0]} is not installed: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"{' '.join(argv)} did not finish within {timeout} s") from exc
    if check and done.returncode != 0:
        raise TestbedError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def list_netns() -> list[str]:
    """Names of all named network namespaces."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def netns_of_prefix(prefix: str) -> list[str]:
    """Namespaces named ``<prefix>-*``; prefixes contain no '-', so this never claims another testbed's."""
    return [name for name in list_netns() if name.split("-", 1)[0] == prefix and "-" in name]


def _sysctl(ns: str, *settings: str) -> None:
    run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings])


def _quiet_ipv6(ns: str) -> None:
    _sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")


def enable_ipv6(ns: str, address: str, prefix: int = 64) -> None:
    """Turn IPv6 on in a host (hosts start with it off) and give its LAN interface ``address``/``prefix``
    (``nodad``: testbed addresses are unique by construction, and duplicate detection would delay them)."""
    _sysctl(ns, "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
            f"net.ipv6.conf.{NODE_IF}.disable_ipv6=0")  # fmt: skip
    run(["ip", "-n", ns, "-6", "addr", "add", f"{address}/{prefix}", "dev", NODE_IF, "nodad"])
    os.makedirs(IPV6_DIR, exist_ok=True)
    with open(os.path.join(IPV6_DIR, ns), "w") as record:
        record.write(address + "\n")


def _own_ipv6(ns: str) -> str | None:
    try:
        with open(os.path.join(IPV6_DIR, ns)) as record:
            return record.read().strip()
    except FileNotFoundError:
        return None


def create_switch(ns: str) -> None:
    """The switch: a namespace with an address-less bridge, nothing routed anywhere."""
    run(["ip", "netns", "add", ns])
    _quiet_ipv6(ns)
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "mcast_snooping", "0"])
    run(["ip", "-n", ns, "link", "set", BRIDGE, "up"])


def create_host(ns: str, switch_ns: str, veth: str, address: str, *, multicast: bool = True) -> None:
    """A host namespace cabled to the switch, with its address and (for a node) the multicast route."""
    run(["ip", "netns", "add", ns])
    _quiet_ipv6(ns)
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", switch_ns, "link", "add", "name", veth, "type", "veth", "peer", "name", NODE_IF, "netns", ns])
    run(["ip", "-n", switch_ns, "link", "set", veth, "master", BRIDGE])
    run(["ip", "-n", switch_ns, "link", "set", veth, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{address}/{SUBNET_BITS}", "dev", NODE_IF])
    run(["ip", "-n", ns, "link", "set", NODE_IF, "up"])
    if multicast:
        run(["ip", "-n", ns, "route", "add", MULTICAST_NET, "dev", NODE_IF])


def set_port(switch_ns: str, veth: str, up: bool) -> None:
    """Plug or unplug a host's cable at the switch.

    The power switch runs inside the switch namespace and pulls a node's cable on every fence: there it is one
    ioctl, not an `ip` process (3 to 18 ms of a fence on a busy machine)."""
    if _inside(switch_ns):
        _set_up_flag(veth, up)
        return
    run(["ip", "-n", switch_ns, "link", "set", veth, "up" if up else "down"])


def _inside(ns: str) -> bool:
    """Whether this process lives in network namespace ``ns``."""
    try:
        mine, named = os.stat("/proc/self/ns/net"), os.stat(os.path.join(NETNS_DIR, ns))
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (named.st_dev, named.st_ino)


_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = "16sH22x"  # struct ifreq: the name, then ifr_flags (the rest of the 40-byte union unused)


def _set_up_flag(ifname: str, up: bool) -> None:
    """`ip link set IF up|down` in this namespace, as the kernel's SIOCSIFFLAGS."""
    import fcntl
    import socket
    import struct

    name = ifname.encode()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            _, flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, _SIOCGIFFLAGS, struct.pack(_IFREQ, name, 0)))
            flags = flags | _IFF_UP if up else flags & ~_IFF_UP
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, name, flags))
    except OSError as exc:
        raise TestbedError(f"cannot set {ifname} {'up' if up else 'down'}: {exc.strerror or exc}") from exc


def wait_link_up(ns: str, ifname: str = NODE_IF, timeout: float = 5.0) -> bool:
    """Wait (bounded) until the kernel reports the link operationally up.

    A new or re-plugged veth passes no traffic until the kernel's link watcher has
    processed the carrier change, which can take up to a second; the operational
    state turns UP at that same moment, so waiting for it makes "up" mean usable.
    """
    deadline = time.monotonic() + timeout
    while True:
        if " state UP " in run(["ip", "-n", ns, "-o", "link", "show", "dev", ifname], check=False):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def forget_neighbour(ns: str, address: str) -> None:
    """Drop a host's ARP entry for ``address``, as the gratuitous ARP of a booting host would fix it.

    Without this, a peer that tried to reach the host while it was off keeps a FAILED
    entry and only asks again a second later.
    """
    run(["ip", "-n", ns, "neigh", "flush", "to", address, "dev", NODE_IF], check=False)


def addresses(ns: str, ifname: str = NODE_IF, version: int = 4) -> list[str]:
    """The IPv4 (or IPv6) addresses on a host's interface, as ``address/len``."""
    out = run(["ip", "-n", ns, "-j", f"-{version}", "addr", "show", "dev", ifname], check=False)
    found = []
    for link in json.loads(out or "[]"):
        found += [f"{info['local']}/{info['prefixlen']}" for info in link.get("addr_info", []) if "local" in info]
    return found


def neighbours(ns: str) -> list[tuple[str, str | None, str]]:
    """A host's neighbour table: (address, MAC or None, state) per entry, as ``ip neigh`` lists it."""
    found = []
    for line in run(["ip", "-n", ns, "neigh", "show"], check=False).splitlines():
        words = line.split()
        if words:
            mac = words[words.index("lladdr") + 1] if "lladdr" in words else None
            found.append((words[0], mac, words[-1]))
    return found


def reset_to_boot(ns: str, address: str, ifname: str = NODE_IF) -> None:
    """Leave only the host's configured addresses on its interface and forget its neighbours (power lost)."""
    own = [ipaddress.ip_address(address)]
    six = _own_ipv6(ns)
    if six is not None:
        own.append(ipaddress.ip_address(six))
    for entry in addresses(ns, ifname) + (addresses(ns, ifname, version=6) if six else []):
        ip = ipaddress.ip_interface(entry).ip
        if ip not in own and not ip.is_link_local:
            run(["ip", "-n", ns, "addr", "del", entry, "dev", ifname], check=False)
    run(["ip", "-n", ns, "neigh", "flush", "dev", ifname], check=False)


def port_is_up(switch_ns: str, veth: str) -> bool:
    out = run(["ip", "-n", switch_ns, "-o", "link", "show", "dev", veth], check=False)
    return ",UP" in out or "<UP" in out


def delete_netns(ns: str) -> None:
    """Remove a namespace name; the kernel frees it (and its veths) once nothing uses it."""
    if ns in list_netns():
        run(["ip", "netns", "delete", ns], check=False)
    try:
        os.unlink(os.path.join(IPV6_DIR, ns))
    except FileNotFoundError:
        pass
