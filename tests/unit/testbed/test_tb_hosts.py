"""Each namespace host looks and talks like a machine of its own, and nothing leaks out."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from quorate.testbed import Testbed, TestbedError, UnknownNodeError
from quorate.testbed.support import MAGI, udp_probe

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_nodes_are_ordered_with_addresses(magi_bed: Testbed) -> None:
    assert magi_bed.nodes == list(MAGI)
    assert [magi_bed.address(n) for n in magi_bed.nodes] == ["192.168.0.201", "192.168.0.202", "192.168.0.203"]
    assert magi_bed.address("casper") == "192.168.0.202"
    with pytest.raises(UnknownNodeError):
        magi_bed.address("gaspar")


@pytest.mark.parametrize("name", MAGI)
def test_node_sees_its_own_hostname_and_files(magi_bed: Testbed, name: str) -> None:
    assert magi_bed.exec(name, ["hostname"], check=True).stdout.strip() == name
    conf = magi_bed.exec(name, ["cat", "/etc/cluster/cluster.conf"], check=True).stdout
    assert f'name="{name}"' in conf
    hosts = magi_bed.exec(name, ["cat", "/etc/hosts"], check=True).stdout
    for other in MAGI:
        line = f"{magi_bed.address(other)}\t{other} {other.split('.')[0]}"
        assert line in hosts.splitlines()
    key = magi_bed.node_dir(name) / "etc/cluster/quorate.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    assert magi_bed.exec(name, ["stat", "-c", "%a %s", "/etc/cluster/quorate.key"]).stdout.split() == ["600", "32"]


def test_every_node_has_the_same_key(magi_bed: Testbed) -> None:
    keys = {(magi_bed.node_dir(n) / "etc/cluster/quorate.key").read_bytes() for n in magi_bed.nodes}
    assert len(keys) == 1
    assert keys == {magi_bed.key_path.read_bytes()}


def test_node_files_are_private_and_writable(magi_bed: Testbed) -> None:
    magi_bed.exec("balthasar", ["sh", "-c", "echo b > /var/lib/quorate/who; echo r > /run/who"], check=True)
    assert (magi_bed.node_dir("balthasar") / "var/lib/quorate/who").read_text() == "b\n"
    assert magi_bed.exec("casper", ["cat", "/var/lib/quorate/who"]).returncode != 0
    assert magi_bed.exec("casper", ["cat", "/run/who"]).returncode != 0
    mounts = magi_bed.exec("balthasar", ["cat", "/proc/mounts"], check=True).stdout
    assert re.search(r"^tmpfs /run tmpfs", mounts, re.M)
    assert "/run/netns" not in mounts


def test_what_a_node_writes_under_mnt_stays_on_that_node(magi_bed: Testbed) -> None:
    """An fs resource's mount point, and a file written there while nothing is mounted, belong to the node:
    a stale file in the machine's /mnt must not show on every node of the next run."""
    magi_bed.exec("balthasar", ["sh", "-c", "mkdir -p /mnt/magi/probe && echo b > /mnt/magi/probe/out"], check=True)
    assert magi_bed.exec("casper", ["test", "-e", "/mnt/magi/probe/out"]).returncode != 0
    assert not os.path.exists("/mnt/magi/probe/out")
    mounts = magi_bed.exec("casper", ["cat", "/proc/mounts"], check=True).stdout
    assert re.search(r"^tmpfs /mnt tmpfs", mounts, re.M)


def test_node_has_its_own_process_tree(magi_bed: Testbed) -> None:
    ps = magi_bed.exec("melchior", ["ps", "-eo", "pid=,args="], check=True).stdout
    first = ps.strip().splitlines()[0].split(None, 1)
    assert first[0] == "1" and "holder.py" in first[1] and "melchior.localdomain" in first[1]
    assert len(ps.strip().splitlines()) <= 3  # init, ps, and nothing of the host


def test_nodes_ping_each_other(magi_bed: Testbed) -> None:
    for src in MAGI:
        for dst in MAGI:
            if src != dst:
                done = magi_bed.exec(src, ["ping", "-c1", "-W1", magi_bed.address(dst)], timeout=10)
                assert done.returncode == 0, done.stdout + done.stderr
    done = magi_bed.exec("casper", ["ping", "-c1", "-W1", "melchior"], timeout=10)  # through /etc/hosts
    assert done.returncode == 0, done.stdout + done.stderr


def test_udp_unicast_and_multicast(magi_bed: Testbed) -> None:
    assert udp_probe(magi_bed, "balthasar", "casper")
    assert udp_probe(magi_bed, "melchior", "balthasar")
    assert udp_probe(magi_bed, "casper", "melchior", group="239.192.6.41")
    assert udp_probe(magi_bed, "balthasar", "melchior", group="224.0.0.1")


def test_nothing_reaches_outside(magi_bed: Testbed) -> None:
    """Checked with route look-ups and interface lists only: no packet is sent outside the testbed."""
    root_addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    for node in magi_bed.nodes:
        assert magi_bed.address(node) + "/" not in root_addrs
        assert f": v{magi_bed.nodes.index(node) + 1}-" not in root_links
    switch = f"{magi_bed.prefix}-sw"
    switch_addrs = subprocess.run(["ip", "-n", switch, "-4", "-o", "addr"], capture_output=True, text=True).stdout
    assert "192.168." not in switch_addrs
    assert subprocess.run(["ip", "-n", switch, "route"], capture_output=True, text=True).stdout.strip() == ""
    routes = magi_bed.exec("casper", ["ip", "route"], check=True).stdout
    assert "default" not in routes
    assert "224.0.0.0/4 dev eth0" in routes
    outside = magi_bed.exec("casper", ["ip", "route", "get", "10.1.2.3"])
    assert outside.returncode != 0 and "unreachable" in outside.stderr.lower()
    ipv6 = magi_bed.exec("casper", ["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"], check=True).stdout
    assert ipv6.strip() == "1"


def test_exec_passes_input_env_and_enforces_timeout(magi_bed: Testbed) -> None:
    done = magi_bed.exec("casper", ["sh", "-c", 'read x; echo "$x $QT_TEST"'], input="hi\n", env={"QT_TEST": "env"})
    assert done.stdout == "hi env\n"
    with pytest.raises(subprocess.TimeoutExpired):
        magi_bed.exec("casper", ["sleep", "31.5"], timeout=0.5)
    ps = magi_bed.exec("casper", ["ps", "-eo", "args="], check=True).stdout
    assert "sleep 31.5" not in ps
    with pytest.raises(subprocess.CalledProcessError):
        magi_bed.exec("casper", ["false"], check=True)


def test_popen_and_end_popen(magi_bed: Testbed) -> None:
    proc = magi_bed.popen("balthasar", ["sleep", "33.25"], stdin=subprocess.DEVNULL)
    inner = magi_bed.inner_pid(proc)
    assert inner and b"sleep" in Path(f"/proc/{inner}/cmdline").read_bytes()
    assert magi_bed.end_popen(proc) is not None
    assert "sleep 33.25" not in magi_bed.exec("balthasar", ["ps", "-eo", "args="]).stdout


def test_attach_from_state(magi_bed: Testbed) -> None:
    other = Testbed.attach(magi_bed.prefix)
    assert other.nodes == magi_bed.nodes
    assert other.exec("melchior", ["hostname"]).stdout.strip() == "melchior.localdomain"
    with pytest.raises(TestbedError, match="no testbed"):
        Testbed.attach("qtnotthere")
