"""The article's service under faults on three testbed nodes: a crashed script, a stop that fails, a partitioned
owner, a floating IP address and an OCF agent.

The configuration is the article's final one with the changes test_e2e_services.py explains (fs on a loop
device, fence_netns behind the testbed's power switch, no quorum disk, a 3 s token). The article's loop also
writes the writing node's host name, so that the shared file system's own content tells who wrote when: every
test ends by checking that the writers took turns (`one_writer_at_a_time`), never writing in overlapping windows.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from e2e_helpers import QUORATE, view_is, wait_for
from test_e2e_resources import MOUNTPOINT, OUTPUT, lun  # noqa: F401  (lun is a fixture)

from quorate.testbed import Testbed
from quorate.testbed.power import start_power_switch

ARTICLE = Path(__file__).parents[1] / "fixtures" / "article" / "cluster-2.conf"
B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]
SECRET = "quorate-e2e-faults"
PIDFILE = "/var/run/test.pid"
FAIL_STOP = "/run/test-fail-stop"  # on a node, makes the init script's stop fail (each node has its own /run)
VIP = "192.168.0.150"

# The article's loop, 2 s period, plus the writer's host name (each testbed node has its own UTS namespace).
PROGRAM = """#!/bin/bash
while /bin/true
do
     echo "Date/Time :  `date +'%Y-%m-%d %H:%M:%S'` on `hostname`" >> /mnt/magi/test/test_cluster.out
   sleep 2
done
"""

# The article's init script; its stop fails (exit 1, the daemon left running) while FAIL_STOP exists.
INIT_SCRIPT = """#!/bin/sh
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
PROG="{program}"
PIDFILE={pidfile}
case $1 in
    start)
        $PROG &
        echo $!  > $PIDFILE
        ;;
    status)
        ps -edf | grep $PROG | grep -v grep
        exit $?
        ;;
    stop)
        if [ -e {fail_stop} ]; then echo "refusing to stop"; exit 1; fi
        cat $PIDFILE | xargs kill -9
        rm -f $PIDFILE
        ;;
esac
exit 0
"""


def faults_conf(
    tmp_path: Path,
    device: str,
    *,
    recovery: str = 'recovery="relocate"',
    extra_resources: str = "",
    fs_children: str = "",
    force_unmount: str = "1",
    post_fail_delay: int = 0,
) -> Path:
    """The article's cluster.conf for these tests; `recovery` replaces the service's recovery attribute and
    `extra_resources` goes into the service next to the fs, `fs_children` into the fs next to the script."""
    program = tmp_path / "test_cluster.sh"
    program.write_text(PROGRAM)
    program.chmod(0o755)
    init = tmp_path / "init.d" / "test"
    init.parent.mkdir()
    init.write_text(INIT_SCRIPT.format(program=program, pidfile=PIDFILE, fail_stop=FAIL_STOP))
    init.chmod(0o755)
    text = ARTICLE.read_text()
    start, end = text.index("<lvm"), text.index("</lvm>") + len("</lvm>")
    tree = (
        f"{extra_resources}\n"
        f'      <fs name="test_fs" device="{device}" force_fsck="0" force_unmount="{force_unmount}" fstype="ext3" '
        f'mountpoint="{MOUNTPOINT}" options="" self_fence="0">\n'
        f'        <script name="test_svc" file="{init}">\n'
        '          <action name="status" depth="0" interval="3"/>\n'
        "        </script>\n"
        f"        {fs_children}\n"
        "      </fs>"
    )
    text = text[:start] + tree + text[end:]
    q0 = text.index("<quorumd")
    text = text[:q0] + '<totem token="3000"/>' + text[text.index("/>", q0) + 2 :]
    text = text.replace('name="manual"', 'name="switch"')
    text = text.replace('agent="fence_manual"', f'agent="fence_netns" action="off" passwd="{SECRET}"')
    text = text.replace('recovery="relocate"', recovery)
    text = text.replace('post_fail_delay="0"', f'post_fail_delay="{post_fail_delay}"')
    text = text.replace("<rm>", '<rm status_poll_interval="1">')
    assert "fence_manual" not in text and "status_poll_interval" in text
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    return conf


# ------------------------------------------------------------------------------------------------ observing


def service(tb: Testbed, node: str) -> dict[str, Any] | None:
    """service:test as `quorate status --json` on `node` shows it."""
    done = tb.exec(node, [*QUORATE, "status", "--json"], timeout=20)
    if done.returncode != 0:
        return None
    for svc in json.loads(done.stdout)["services"]:
        if svc["name"] == "test":
            return dict(svc)
    return None


def started_on(tb: Testbed, observer: str, owner: str, **more: Any) -> Any:
    def probe() -> dict[str, Any] | None:
        svc = service(tb, observer)
        ok = svc is not None and svc["state"] == "started" and svc["owner"] == owner
        ok = ok and all(svc is not None and svc.get(k) == v for k, v in more.items())
        return svc if ok else None

    probe.testbed = tb  # type: ignore[attr-defined]  # wait_for shows the daemons' logs on a timeout
    return probe


def written(tb: Testbed, node: str) -> list[tuple[float, str]]:
    """(time, writer) of every line of the shared file, read on `node` (where the file system is mounted)."""
    done = tb.exec(node, ["cat", OUTPUT], timeout=10)
    out = []
    for line in done.stdout.splitlines():
        found = re.fullmatch(r"Date/Time :  (\S+ \S+) on (\S+)", line.strip())
        if found:
            out.append((datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S").timestamp(), found[2]))
    return out


def writing_on(tb: Testbed, node: str, count: int = 2) -> Any:
    """A probe: the loop on `node` has added `count` lines since the probe was made."""
    before = sum(1 for _t, who in written(tb, node) if who == node)

    def probe() -> bool:
        return sum(1 for _t, who in written(tb, node) if who == node) >= before + count

    probe.testbed = tb  # type: ignore[attr-defined]
    return probe


def one_writer_at_a_time(lines: list[tuple[float, str]], writers: list[str], restarts: int = 0) -> None:
    """The shared file's own story: the writers took turns in `writers` order, never overlapping.

    One loop writes every 2 s (stamps at least 2 s apart). Two loops running at once, on two nodes or twice on
    one, would interleave their lines (more turns than expected) or put lines less than 2 s apart again and
    again; each hand-over or restart may leave one such short gap."""
    assert lines, "nothing was written on the shared file system"
    turns = [who for who, _group in itertools.groupby(who for _t, who in lines)]
    # At start-up the first view may form without balthasar (its daemon started last on a loaded machine): the
    # service then starts on the next node of ring01 and fails back to balthasar when it joins. That is one more
    # turn at the front of the story, and one more hand-over; two nodes writing at once would take many more.
    startup = 1 if len(turns) == len(writers) + 1 and turns[1:] == writers else 0
    assert turns[startup:] == writers, f"writers took turns {turns}, expected {writers}: {lines}"
    times = [t for t, _who in lines]
    assert times == sorted(times), f"lines out of time order: {lines}"
    short = sum(1 for a, b in itertools.pairwise(times) if b - a < 2)
    allowed = len(writers) - 1 + restarts + startup
    assert short <= allowed, f"two writers overlapped: {short} gaps under 2 s (allowed {allowed}): {lines}"


def log_order(log: str, first: str, then: str) -> None:
    assert first in log, f"{first!r} not in the log: {log[-3000:]}"
    assert then in log[log.index(first) :], f"{then!r} not after {first!r}: {log[-3000:]}"


def clusvcadm(tb: Testbed, node: str, *args: str) -> tuple[int, str]:
    done = tb.exec(node, [*CLUSVCADM, *args], timeout=180)
    return done.returncode, done.stdout + done.stderr


def up_with_test_on_balthasar(testbed: Any, conf: Path) -> Testbed:
    tb: Testbed = testbed(conf)
    start_power_switch(tb, secret=SECRET)
    wait_for("service:test started on balthasar", started_on(tb, B, B), timeout=120)
    wait_for("the article's loop writing on balthasar", writing_on(tb, B), timeout=60)
    return tb


# ------------------------------------------------------------------------------------------------------ tests


def test_crashed_script_restarts_in_place_then_relocates_after_max_restarts(
    testbed: Any,
    lun: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    policy = 'recovery="restart" max_restarts="1" restart_expire_time="600"'
    conf = faults_conf(tmp_path, lun, recovery=policy)
    tb = up_with_test_on_balthasar(testbed, conf)

    # The loop dies: the next status check notices, and recovery="restart" starts the service again right here.
    assert tb.exec(B, ["sh", "-c", f"kill -9 $(cat {PIDFILE})"], timeout=10).returncode == 0
    svc = wait_for("service:test restarted on balthasar", started_on(tb, M, B, restarts=1), timeout=120)
    assert svc["owner"] == B
    wait_for("the loop writing again on balthasar", writing_on(tb, B), timeout=60)
    log = tb.daemon_log(B)
    log_order(log, "status check of service:test failed", "service:test started on balthasar.localdomain")

    # A second crash within restart_expire_time is one more than max_restarts="1": the service moves away,
    # to the node `quorate simulate` predicts from the same configuration.
    predicted = tb.exec(B, [*QUORATE, "simulate", "-c", str(conf), "--json", "fail test", "fail test"], timeout=60)
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    target = json.loads(predicted.stdout)["steps"][-1]["services"][0]["runs_on"]
    assert target in (C, M)
    assert tb.exec(B, ["sh", "-c", f"kill -9 $(cat {PIDFILE})"], timeout=10).returncode == 0
    wait_for(f"service:test relocated to {target}", started_on(tb, C, target), timeout=120)
    wait_for(f"the loop writing on {target}", writing_on(tb, target), timeout=60)
    one_writer_at_a_time(written(tb, target), [B, target], restarts=1)


def test_stop_failure_fences_the_owner_before_the_service_starts_elsewhere(
    testbed: Any,
    lun: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # force_unmount="0": the fs cannot be unmounted while a process holds it, and nothing kills that process.
    tb = up_with_test_on_balthasar(testbed, faults_conf(tmp_path, lun, force_unmount="0"))
    rc, out = clusvcadm(tb, B, "-r", "test", "-m", C)
    assert rc == 0, out
    wait_for("the loop writing on casper", writing_on(tb, C), timeout=60)

    # On casper the script's stop now fails (the loop goes on writing) and a shell sits in the mount point, so
    # the fs cannot be unmounted either: balthasar (the coordinator) must power casper off before the service
    # may start anywhere else.
    assert tb.exec(C, ["touch", FAIL_STOP], timeout=10).returncode == 0
    hold = f"cd {MOUNTPOINT} && nohup sleep 900 >/dev/null 2>&1 &"
    assert tb.exec(C, ["sh", "-c", hold], timeout=10).returncode == 0
    rc, out = clusvcadm(tb, B, "-r", "test", "-m", M)
    assert rc != 0, out
    wait_for("casper powered off by the fence", lambda: not tb.is_powered(C), timeout=120)
    svc = wait_for("service:test started again", lambda: (s := service(tb, B)) and s["state"] == "started" and s, 120)
    owner = svc["owner"]
    assert owner in (B, M), svc
    wait_for(f"the loop writing on {owner}", writing_on(tb, owner), timeout=60)
    log = tb.daemon_log(B)
    log_order(log, "service:test: stop on casper.localdomain failed", "fence of casper.localdomain confirmed")
    log_order(log, "fence of casper.localdomain confirmed", f"service:test started on {owner}")
    one_writer_at_a_time(written(tb, owner), [B, C, owner])


def test_partitioned_owner_stops_at_once_and_the_majority_fences_it_and_takes_over(
    testbed: Any,
    lun: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # post_fail_delay gives the isolated owner time to show that it stops on its own, before the power goes.
    tb = up_with_test_on_balthasar(testbed, faults_conf(tmp_path, lun, post_fail_delay=8))
    cut = time.monotonic()
    tb.partition([B], [C, M])

    wait_for("casper and melchior quorate without balthasar", view_is(tb, C, [C, M], True), timeout=60)
    wait_for(
        "balthasar stopped the service on its own",
        lambda: (
            "emergency stop of service:test" in tb.daemon_log(B)
            and f" {MOUNTPOINT} " not in tb.exec(B, ["cat", "/proc/self/mountinfo"], timeout=10).stdout
        ),
        timeout=30,
    )
    assert tb.is_powered(B), "the isolated owner had to stop by itself, before the fence"
    wait_for("balthasar fenced by the majority", lambda: not tb.is_powered(B), timeout=120)
    wait_for("service:test taken over by casper", started_on(tb, C, C), timeout=120)
    wait_for("the loop writing on casper", writing_on(tb, C), timeout=60)
    log_order(tb.daemon_log(C), "fence of balthasar.localdomain confirmed", "service:test started on casper")
    print(f"partition -> service on casper: {time.monotonic() - cut:.1f} s (token 3 s, post_fail_delay 8 s)")

    # Healing the network brings nothing back: balthasar is off. Its restart rejoins as a new run, and ring01
    # (ordered, failback allowed) gives it the service back.
    tb.heal()
    time.sleep(5)
    assert not tb.is_powered(B)
    assert service(tb, C) is not None and service(tb, C)["owner"] == C  # type: ignore[index]
    tb.power_on(B, start_daemon=True)
    wait_for("balthasar back in the view", view_is(tb, C, [B, C, M], True), timeout=120)
    wait_for("service:test failed back to balthasar", started_on(tb, C, B), timeout=120)
    wait_for("the loop writing on balthasar again", writing_on(tb, B), timeout=60)
    one_writer_at_a_time(written(tb, B), [B, C, B])


def test_floating_ip_follows_the_service(testbed: Any, lun: str, tmp_path: Path) -> None:  # noqa: F811
    ip = f'<ip address="{VIP}/24" monitor_link="1" sleeptime="0"/>'
    tb = up_with_test_on_balthasar(testbed, faults_conf(tmp_path, lun, extra_resources=ip))

    def vip_holders() -> list[str]:
        return [n for n in (B, C, M) if f"inet {VIP}/24" in tb.exec(n, ["ip", "-o", "addr", "show"], timeout=10).stdout]

    assert vip_holders() == [B], tb.daemon_log(B)[-2000:]
    rc, out = clusvcadm(tb, B, "-r", "test", "-m", C)
    assert rc == 0, out
    assert vip_holders() == [C], tb.daemon_log(C)[-2000:]
    # The address answers from casper: melchior reaches it, and its neighbour entry names casper's MAC.
    ping = tb.exec(M, ["ping", "-c", "1", "-W", "5", VIP], timeout=20)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    casper_mac = re.search(r"link/ether (\S+)", tb.exec(C, ["ip", "-o", "link", "show"], timeout=10).stdout)
    neigh = tb.exec(M, ["ip", "neigh", "show", VIP], timeout=10).stdout
    assert casper_mac is not None and casper_mac[1] in neigh, neigh
    wait_for("the loop writing on casper", writing_on(tb, C), timeout=60)
    one_writer_at_a_time(written(tb, C), [B, C])


def test_ocf_dummy_agent_moves_with_the_service_and_its_monitor_drives_recovery(
    testbed: Any,
    lun: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Debian's resource-agents Dummy, unchanged; its state file on the shared disk shows which node started it.
    state = f"{MOUNTPOINT}/dummy.state"
    dummy = (
        f'<ocf name="dummy" agent="ocf:heartbeat:Dummy" state="{state}">'
        '<action name="status" depth="0" interval="3"/></ocf>'
    )
    tb = up_with_test_on_balthasar(testbed, faults_conf(tmp_path, lun, fs_children=dummy))

    def dummy_on(node: str) -> bool:
        return tb.exec(node, ["test", "-f", state], timeout=10).returncode == 0

    assert dummy_on(B) and not dummy_on(C)
    rc, out = clusvcadm(tb, B, "-r", "test", "-m", C)
    assert rc == 0, out
    assert dummy_on(C) and not dummy_on(B)
    wait_for("the loop writing on casper", writing_on(tb, C), timeout=60)

    # The Dummy's monitor answers 7 (not running) once its state file is gone: a failed status check, and the
    # article's recovery="relocate" moves the service to the best other node of ring01, balthasar.
    assert tb.exec(C, ["rm", "-f", state], timeout=10).returncode == 0
    wait_for("service:test relocated to balthasar", started_on(tb, M, B), timeout=120)
    assert dummy_on(B)
    log = tb.daemon_log(B)
    log_order(log, "service:test: status check failed on casper.localdomain", "service:test started on balthasar")
    wait_for("the loop writing on balthasar", writing_on(tb, B), timeout=60)
    one_writer_at_a_time(written(tb, B), [B, C, B])
