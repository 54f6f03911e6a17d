"""`quorate demo`: the article's cluster `magi` on this machine, walked through step by step.

Three testbed nodes (balthasar, casper, melchior `.localdomain`) in network namespaces run quorated with the
article's final cluster.conf and its service `test` (an ext3 file system on a shared LUN and the article's
init script writing the date every few seconds). The demo shows each command's real output as the article
does, relocates the service with clusvcadm, kills the owner's daemon and shows the fence and the takeover,
then leaves the cluster running so the administrator can explore it.

What this machine cannot do is said, not faked: there is no device-mapper here, so the article's `lvm` level
is left out and the file system sits on the loop device directly; the article's `fence_manual` needs a human,
so the demo's nodes are fenced by `fence_netns` through the testbed's power switch instead.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from quorate.testbed import Testbed

PREFIX = "magi"
RUN = Path("/var/lib/quorate-demo")  # on the host file system: every node sees it (each has its own /run)
DATA = Path(__file__).parent / "data" / "demo"
BIN = Path(sys.executable).parent
CMAN_TOOL = [str(BIN / "cman_tool")]
CLUSTAT = [str(BIN / "clustat")]
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]
QUORATE = [sys.executable, "-m", "quorate.cli.main"]
SECRET = "magi-demo"

PROGRAM = """#!/bin/bash
while /bin/true
do
     echo "Date/Time :  `date +'%Y-%m-%d %H:%M:%S'`" >> /mnt/magi/test/test_cluster.out
   sleep 3
done
"""

INIT_SCRIPT = """#!/bin/sh
# description:  Starts and stops a test service for cluster (the article's /etc/init.d/test)
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
ID="Test Service for Cluster"
PROG="{program}"
PIDFILE=/var/run/test.pid
case $1 in
    start)
        echo -n "Starting $ID: "
        $PROG &
        echo $!  > $PIDFILE
        echo
        ;;
    status)
        ps -edf | grep $PROG | grep -v grep
        exit $?
        ;;
    stop)
        cat $PIDFILE 2>/dev/null | xargs -r kill -9
        rm -f $PIDFILE
        ;;
    *)
        echo "usage: $0 {{start|status|stop}}"
        exit 1
        ;;
esac
exit 0
"""


def prepare() -> Path:
    """The shared LUN (a loop device with ext3), the article's script, and the demo's cluster.conf."""
    RUN.mkdir(parents=True, exist_ok=True)
    image = RUN / "lun.img"
    with open(image, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    device = subprocess.run(
        ["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    (RUN / "loop").write_text(device)
    subprocess.run(["mkfs.ext3", "-q", "-F", "-L", "magi_test", device], check=True)
    program = RUN / "test_cluster.sh"
    program.write_text(PROGRAM)
    program.chmod(0o755)
    init = RUN / "init.d-test"
    init.write_text(INIT_SCRIPT.format(program=program))
    init.chmod(0o755)
    text = (DATA / "cluster.conf").read_text()
    start, end = text.index("<lvm"), text.index("</lvm>") + len("</lvm>")
    tree = (
        f'<fs name="test_fs" device="{device}" force_fsck="0" force_unmount="1" fstype="ext3" '
        f'mountpoint="/mnt/magi/test" options="" self_fence="0">\n'
        f'        <script name="test_svc" file="{init}"/>\n'
        "      </fs>"
    )
    text = text[:start] + tree + text[end:]
    text = re.sub(r"<quorumd[^>]*/>", "", text)
    text = text.replace('name="manual"', 'name="switch"')
    text = text.replace('agent="fence_manual"', f'agent="fence_netns" action="off" passwd="{SECRET}"')
    conf = RUN / "cluster.conf"
    conf.write_text(text)
    return conf


class Demo:
    def __init__(self, interactive: bool, say: Callable[[str], None] = print) -> None:
        self.interactive = interactive
        self.say = say
        self.tb: Testbed | None = None

    def pause(self) -> None:
        if self.interactive:
            input("\n   [press Enter to continue] ")

    def title(self, text: str) -> None:
        self.say(f"\n=== {text}")

    def run(self, node: str, argv: list[str], shown: str) -> str:
        assert self.tb is not None
        self.say(f"\nroot@{node.split('.')[0]}# {shown}")
        result = self.tb.exec(node, argv, timeout=120)
        text = (result.stdout + result.stderr).rstrip("\n")
        self.say(text)
        return text

    def wait(self, what: str, probe: Callable[[], bool], timeout: float) -> None:
        self.say(f"   ... waiting for {what}")
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            if probe():
                self.say(f"   done in {time.monotonic() - start:.1f} s")
                return
            time.sleep(0.25)
        raise SystemExit(f"demo: gave up waiting for {what} after {timeout:.0f} s")

    def owner(self, node: str) -> str:
        assert self.tb is not None
        out = self.tb.exec(node, [*CLUSTAT, "-s", "test"]).stdout
        for line in out.splitlines():
            if line.startswith(" service:test"):
                parts = line.split()
                return parts[1] if parts[-1] == "started" else ""
        return ""

    def story(self) -> None:
        from quorate.testbed.power import start_power_switch

        down()
        self.title("Building cluster magi: three nodes in network namespaces, a shared ext3 LUN, quorated on each")
        conf = prepare()
        self.tb = tb = Testbed.up(conf, prefix=PREFIX)
        start_power_switch(tb, secret=SECRET)
        b, c, _m = tb.nodes
        for node in tb.nodes:
            self.say(f"   {node:<24} {tb.address(node)}")
        self.say("   (no device-mapper here: the article's lvm level is left out; fence_manual is replaced by")
        self.say("    fence_netns and the testbed's power switch so that failover needs no human)")
        self.wait("the cluster to form and start service:test on balthasar", lambda: self.owner(b) == b, 60)
        self.title("cman_tool status and clustat, as in the article")
        self.run(b, [*CMAN_TOOL, "status"], "cman_tool status")
        self.run(b, CLUSTAT, "clustat")
        self.run(b, ["tail", "-3", "/mnt/magi/test/test_cluster.out"], "tail -3 /mnt/magi/test/test_cluster.out")
        self.pause()
        self.title("Relocation, as in the article")
        self.run(b, [*CLUSVCADM, "-r", "test", "-m", c], f"clusvcadm -r test -m {c}")
        self.run(b, CLUSTAT, "clustat")
        self.run(c, ["tail", "-3", "/mnt/magi/test/test_cluster.out"], "tail -3 /mnt/magi/test/test_cluster.out")
        self.pause()
        self.title("casper's daemon is killed: its service keeps writing until the power switch turns casper off")
        tb.kill(c, signal.SIGKILL)
        self.wait("the fence of casper and the takeover by balthasar", lambda: self.owner(b) == b, 90)
        log = [line for line in tb.daemon_log(b).splitlines() if "casper" in line or "service:test" in line]
        self.say("\n".join(log[-8:]))
        self.run(b, CLUSTAT, "clustat")
        self.run(b, ["tail", "-4", "/mnt/magi/test/test_cluster.out"], "tail -4 /mnt/magi/test/test_cluster.out")
        self.say(
            "\nThe cluster keeps running (casper stays off until you power it on). Explore it with:\n"
            f"  {BIN}/quorate testbed exec --prefix {PREFIX} balthasar -- {BIN}/clustat\n"
            f"  {BIN}/quorate testbed power-on --prefix {PREFIX} casper --start-daemon\n"
            f"  {BIN}/quorate testbed partition --prefix {PREFIX} balthasar casper,melchior\n"
            f"  {BIN}/quorate demo down            (removes everything)"
        )


def down() -> None:
    Testbed.down_prefix(PREFIX)
    loop = RUN / "loop"
    if loop.exists():
        subprocess.run(["losetup", "-d", loop.read_text().strip()], capture_output=True, check=False)
        loop.unlink()
    for name in ("lun.img", "cluster.conf", "test_cluster.sh", "init.d-test"):
        (RUN / name).unlink(missing_ok=True)
