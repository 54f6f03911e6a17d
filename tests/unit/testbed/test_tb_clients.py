"""Client hosts on the testbed LAN: they reach every node whatever the faults, and go with the testbed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_tb_cli import cli

from quorate.testbed import Testbed, TestbedError
from quorate.testbed.conf import ClientSpec, NodeSpec, client_spec
from quorate.testbed.netns import addresses, list_netns
from quorate.testbed.support import MAGI, unique_prefix

B, C, M = "balthasar", "casper", "melchior"
NODES = [NodeSpec(name, nodeid) for nodeid, name in enumerate(MAGI, start=1)]
VIP = "192.168.0.150"


# ------------------------------------------------------------------------------- names and addresses (pure)


def test_a_client_gets_its_namespace_and_a_cable_named_by_its_address() -> None:
    spec = client_spec("client", "192.168.0.100", NODES, [])
    assert spec == ClientSpec("client", "192.168.0.100")
    assert spec.netns("qt7") == "qt7-client"
    assert spec.veth() == "c100-client"
    assert len(ClientSpec("abcdefghijkl", "192.168.0.253").veth()) <= 15


@pytest.mark.parametrize(
    "name, address, message",
    [
        ("Client", "192.168.0.100", "bad client name"),
        ("casper", "192.168.0.100", "a node's name"),
        ("sw", "192.168.0.100", "reserved"),
        ("web", "192.168.0.100", "already a client named 'web'"),
        ("db", "192.168.0.202", "already casper.localdomain's"),
        ("db", "192.168.0.99", "already client web's"),
        ("db", "192.168.0.254", "must be on the testbed LAN"),
        ("db", "10.0.0.1", "must be on the testbed LAN"),
        ("db", "192.168.0.0", "must be on the testbed LAN"),
        ("db", "not-an-address", "not an IPv4 address"),
    ],
)
def test_a_client_that_could_be_confused_with_a_node_or_another_client_is_refused(
    name: str, address: str, message: str
) -> None:
    with pytest.raises(TestbedError, match=message):
        client_spec(name, address, NODES, [ClientSpec("web", "192.168.0.99")])


# ---------------------------------------------------------------------------------------------- on a bed

def pings(bed: Testbed, client: str, address: str) -> bool:
    return bed.client_exec(client, ["ping", "-c", "1", "-W", "2", address], timeout=20).returncode == 0


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_client_reaches_every_node_through_partitions_but_nothing_outside(
    testbed: Callable[..., Testbed], magi_conf: Path
) -> None:
    bed = testbed(magi_conf, start_daemons=False)
    namespace = bed.add_client("client", "192.168.0.100")
    assert namespace == f"{bed.prefix}-client" and namespace in list_netns()
    assert bed.clients == ["client"] and Testbed.attach(bed.prefix).client_address("client") == "192.168.0.100"
    assert addresses(namespace) == ["192.168.0.100/24"]
    routes = bed.client_exec("client", ["ip", "route"], check=True).stdout
    assert "default" not in routes
    assert bed.client_exec("client", ["ping", "-c", "1", "-W", "1", "1.1.1.1"], timeout=20).returncode != 0

    bed.partition([B], [C, M])
    assert bed.exec(C, ["ping", "-c", "1", "-W", "1", bed.address(B)], timeout=20).returncode != 0
    assert all(pings(bed, "client", bed.address(node)) for node in bed.nodes)
    bed.loss(C, 100)
    assert not pings(bed, "client", bed.address(C)), "total loss on a node drops what anyone sends it"
    bed.heal()
    assert pings(bed, "client", bed.address(C))

    with pytest.raises(TestbedError, match="already a client"):
        bed.add_client("client", "192.168.0.101")
    with pytest.raises(TestbedError, match="unknown client 'ghost'"):
        bed.client_exec("ghost", ["true"])


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_powered_off_node_comes_back_without_the_floating_addresses_it_held(
    testbed: Callable[..., Testbed], magi_conf: Path
) -> None:
    bed = testbed(magi_conf, start_daemons=False)
    bed.add_client("client")
    bed.exec(B, ["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"], check=True)
    assert pings(bed, "client", VIP)
    mac_b = bed.exec(B, ["cat", "/sys/class/net/eth0/address"], check=True).stdout.strip()
    assert [mac for address, mac, _ in bed.client_neighbours("client") if address == VIP] == [mac_b]

    bed.power_off(B)
    assert addresses(bed.netns(B)) == [f"{bed.address(B)}/24"]
    bed.power_on(B)
    assert addresses(bed.netns(B)) == [f"{bed.address(B)}/24"]
    assert pings(bed, "client", bed.address(B))
    assert not pings(bed, "client", VIP), "balthasar must not answer for an address it held before losing power"


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_remove_and_down_take_the_client_and_its_processes(testbed: Callable[..., Testbed], magi_conf: Path) -> None:
    bed = testbed(magi_conf, start_daemons=False)
    namespace = bed.add_client("load", "192.168.0.120")
    sleeper = bed.client_popen("load", ["sleep", "300"], stdin=subprocess.DEVNULL)
    assert sleeper.poll() is None
    bed.remove_client("load")
    assert sleeper.wait(timeout=10) != 0
    assert namespace not in list_netns() and bed.clients == []

    again = bed.add_client("load", "192.168.0.120")
    survivor = bed.client_popen("load", [sys.executable, "-c", "import time; time.sleep(300)"])
    bed.down()
    assert survivor.wait(timeout=10) != 0
    assert again not in list_netns()


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_cli_adds_a_client_runs_on_it_and_lists_it(require_root: None, magi_conf: Path) -> None:
    prefix = unique_prefix()
    try:
        assert cli("up", str(magi_conf), "--no-daemons", prefix=prefix).returncode == 0
        added = cli("client", "client", prefix=prefix)
        assert added.returncode == 0, added.stderr
        assert added.stdout == f"client\t192.168.0.100\tnetns {prefix}-client\n"
        other = cli("client", "web", "--address", "192.168.0.101", prefix=prefix)
        assert other.returncode == 0, other.stderr
        clash = cli("client", "db", "--address", "192.168.0.101", prefix=prefix)
        assert clash.returncode == 1 and "already client web's" in clash.stderr
        assert "client web\t192.168.0.101" in cli("status", prefix=prefix).stdout
        hostname = cli("exec", "client", "--", "ip", "-o", "-4", "addr", "show", "dev", "eth0", prefix=prefix)
        assert "192.168.0.100/24" in hostname.stdout
        assert cli("exec", "client", "--", "ping", "-c1", "-W2", "192.168.0.202", prefix=prefix).returncode == 0
        assert cli("client", "web", "--remove", prefix=prefix).returncode == 0
        assert "client web" not in cli("status", prefix=prefix).stdout
        assert cli("down", prefix=prefix).returncode == 0
        assert not [name for name in list_netns() if name.startswith(f"{prefix}-")]
    finally:
        Testbed.down_prefix(prefix)
