"""`quorate demo`: the article's cluster `magi` on this machine, walked through step by step.

Three testbed nodes (balthasar, casper, melchior `.localdomain`) in network namespaces share two loop-device
LUNs, as the article's nodes share iSCSI LUNs: one prepared with `mkqdisk -c ... -l magi_qdisk` for the
quorum disk, one with ext3 for the service. quorated runs on each node with the article's final cluster.conf
(its `<quorumd>` and its service `test`: the file system and the article's init script writing the date).
The demo shows each command's real output as the article does: `mkqdisk`, `cman_tool status` (Total votes
5, Quorum 3), `clustat` with the quorum disk, a relocation with clusvcadm, the owner's crash with the fence
and the takeover, then two nodes lost at once and the last one keeping quorum and the service with the
quorum disk's two votes. It leaves the cluster running so the administrator can explore it.

What this machine cannot do, or what would make the demo slow, is said, not hidden (`CHANGES`): no
device-mapper here, so the article's `lvm` level is left out; `fence_manual` needs a human, so the nodes are
fenced by `fence_netns` through the testbed's power switch; the quorum disk's 3 s x 20 and cman's 10 s token
are shortened so that what the article describes happens in seconds rather than minutes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from quorate.testbed import Testbed, luns
from quorate.testbed.article import OUTPUT, QDISK_LABEL, Timings, testbed_conf, write_service_files

PREFIX = "magi"
RUN = Path("/var/lib/quorate-demo")  # on the host file system: every node sees it (each has its own /run)
BIN = Path(sys.executable).parent
CMAN_TOOL = [str(BIN / "cman_tool")]
CLUSTAT = [str(BIN / "clustat")]
MKQDISK = [str(BIN / "mkqdisk")]
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]
QUORATE = [sys.executable, "-m", "quorate.cli.main"]
SECRET = "magi-demo"
IMAGES = {"qdisk": ("qdisk.img", 16), "data": ("lun.img", 64)}  # LUN -> (image file, MiB)
FILES = ("cluster.conf", "test_cluster.sh", "init.d-test", "loop", "loops")
TIMINGS = Timings(token_ms=5000, qdisk_interval=1, qdisk_tko=4)
PERIOD = 3  # seconds between two lines of the article's test_cluster.sh (the article: 10)
CHANGES = (
    "no device-mapper here: the article's lvm level is left out, ext3 sits on the data LUN directly",
    "fence_manual needs a human: the nodes are fenced by fence_netns through the testbed's power switch",
    "quorum disk interval 1 s, tko 4 (the article: 3 s x 20, so ~96 s before a master is elected on the disk)",
    "totem token 5 s (default 10 s), so failures are noticed in half the time",
    f"test_cluster.sh writes every {PERIOD} s (the article: 10 s), so its output moves while you watch",
)


def make_lun(name: str) -> str:
    """A sparse image file attached to a free loop device; returns the device."""
    filename, mib = IMAGES[name]
    device = luns.attach_image(RUN / filename, mib)
    with open(RUN / "loops", "a") as record:  # for `down`, written before anything else can fail
        record.write(device + "\n")
    return device


@dataclass(frozen=True)
class Prepared:
    conf: Path
    luns: dict[str, str]  # LUN name -> loop device
    label: str  # the quorum disk's label: the article's, unless this machine already has a disk with it
    notes: tuple[str, ...] = ()  # changes that depend on this machine, said like CHANGES


def prepare(timings: Timings = TIMINGS) -> Prepared:
    """The two LUNs (ext3 made on the data one; the quorum disk is left for mkqdisk), the article's scripts
    and the demo's cluster.conf."""
    from quorate.qdisk.scan import scan

    RUN.mkdir(parents=True, exist_ok=True)
    taken = [found.path for found in scan(QDISK_LABEL).found]
    luns = {name: make_lun(name) for name in IMAGES}
    subprocess.run(["mkfs.ext3", "-q", "-F", "-L", "magi_test", luns["data"]], check=True, timeout=120)
    init = write_service_files(RUN, period=PERIOD)
    text = testbed_conf(luns["data"], init, fence_secret=SECRET, timings=timings)
    notes: tuple[str, ...] = ()
    label = QDISK_LABEL
    if taken:
        # mkqdisk and quorated refuse a label that two devices carry (two nodes could pick different disks).
        label = f"{QDISK_LABEL}_demo"
        text = text.replace(f'label="{QDISK_LABEL}"', f'label="{label}"')
        notes = (
            f"another disk on this machine already carries the label {QDISK_LABEL} ({', '.join(taken)}), and a"
            f" label must name one device: the demo's quorum disk is labelled {label}",
        )
    conf = RUN / "cluster.conf"
    conf.write_text(text)
    return Prepared(conf, luns, label, notes)


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

    def run(self, node: str, argv: list[str], shown: str, *, check: bool = False) -> str:
        """Run a command on a node and show it with its output; ``check``: the story cannot go on if it fails."""
        assert self.tb is not None
        self.say(f"\nroot@{node.split('.')[0]}# {shown}")
        result = self.tb.exec(node, argv, timeout=120)
        text = (result.stdout + result.stderr).rstrip("\n")
        self.say(text)
        if check and result.returncode != 0:
            raise SystemExit(f"demo: {shown} failed (exit status {result.returncode}); `quorate demo down` cleans up")
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

    def status(self, node: str) -> dict[str, Any]:
        assert self.tb is not None
        done = self.tb.exec(node, [*QUORATE, "status", "--json"], timeout=30)
        return json.loads(done.stdout) if done.returncode == 0 else {}

    def votes(self, node: str, total: int, members: int) -> bool:
        s = self.status(node)
        return bool(s.get("quorate")) and s.get("total_votes") == total and len(s.get("members", [])) == members

    def evicted(self, nodeid: int, since: float) -> bool:
        """Whether the quorum disk's master (on any running node) logged the eviction of ``nodeid``."""
        assert self.tb is not None
        for node in self.tb.nodes:
            for line in self.tb.daemon_log(node).splitlines():
                if line.endswith(f"qdisk: Node {nodeid} evicted") and _stamp(line) >= since:
                    return True
        return False

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
        self.title("Building cluster magi: three nodes in network namespaces, two shared LUNs, the article's files")
        prepared = prepare()
        luns = prepared.luns
        self.tb = tb = Testbed.up(prepared.conf, prefix=PREFIX, start_daemons=False)
        start_power_switch(tb, secret=SECRET)
        b, c, m = tb.nodes
        for node in tb.nodes:
            self.say(f"   {node:<24} {tb.address(node)}")
        self.say(f"   LUNs: {luns['qdisk']} (quorum disk), {luns['data']} (ext3 for /mnt/magi/test)")
        self.say("   What the demo changes from the article, and why:")
        for change in (*CHANGES, *prepared.notes):
            self.say(f"   - {change}")

        self.title("The quorum disk, as in the article (-y answers mkqdisk's question)")
        qdisk = luns["qdisk"]
        label = prepared.label
        self.run(b, [*MKQDISK, "-c", qdisk, "-l", label, "-y"], f"mkqdisk -c {qdisk} -l {label} -y", check=True)
        self.run(c, [*MKQDISK, "-L"], "mkqdisk -L")
        self.pause()

        self.title("quorated starts on the three nodes (the article's qdiskd, cman and rgmanager in one daemon)")
        for node in tb.nodes:
            tb.start_daemon(node)
        self.wait("the cluster to form with the quorum disk's votes", lambda: self.votes(b, 5, 3), 90)
        self.wait("service:test to start on balthasar", lambda: self.owner(b) == b, 60)
        self.title("cman_tool status and clustat, as in the article")
        self.run(b, [*CMAN_TOOL, "status"], "cman_tool status")
        self.run(b, CLUSTAT, "clustat")
        self.run(b, ["tail", "-3", OUTPUT], f"tail -3 {OUTPUT}")
        self.pause()

        self.title("Relocation, as in the article")
        self.run(b, [*CLUSVCADM, "-r", "test", "-m", c], f"clusvcadm -r test -m {c}")
        self.run(b, CLUSTAT, "clustat")
        self.run(c, ["tail", "-3", OUTPUT], f"tail -3 {OUTPUT}")
        self.pause()

        self.title("casper's daemon is killed: its service keeps writing until the power switch turns casper off")
        killed = time.time()
        tb.kill(c, signal.SIGKILL)
        self.wait("the fence of casper and the takeover by balthasar", lambda: self.owner(b) == b, 90)
        log = [line for line in tb.daemon_log(b).splitlines() if "casper" in line or "service:test" in line]
        self.say("\n".join(log[-8:]))
        self.run(b, CLUSTAT, "clustat")
        self.run(b, ["tail", "-4", OUTPUT], f"tail -4 {OUTPUT}")
        self.pause()

        # The disk's master also asks for casper's death once casper stops writing (tko cycles); let that
        # second, redundant fence happen while casper is still off, or it would cut the fresh boot.
        self.wait("the quorum disk to evict casper too", lambda: self.evicted(2, since=killed), 30)
        self.title("casper is powered on again; quorated starts and it rejoins")
        tb.power_on(c, start_daemon=True)
        self.wait("casper back in the cluster, the disk's votes counted again", lambda: self.votes(b, 5, 3), 90)
        self.run(b, CLUSTAT, "clustat")
        self.pause()

        self.lose_two(b, c, m)

    def lose_two(self, b: str, c: str, m: str) -> None:
        """The article's reason for the quorum disk: two nodes down, the last one keeps the service."""
        assert self.tb is not None
        tb = self.tb
        master = {1: b, 2: c, 3: m}.get(int(self.status(b).get("qdisk", {}).get("master") or 0), b)
        self.title(f"Two nodes lost at once: {master.split('.')[0]}, the quorum disk's master, stays alone")
        self.say(
            "   1 node vote + 2 quorum disk votes = 3 = Quorum: the last node stays quorate, fences the two others\n"
            "   and keeps (or takes over) service:test. (Were the disk's master among the dead, the disk's votes\n"
            "   would pause until the survivor is elected master: spec D-22.)"
        )
        for node in (b, c, m):
            if node != master:
                tb.kill(node, signal.SIGKILL)
        self.wait(
            f"{master.split('.')[0]} alone, quorate with 3 votes, service:test started on it",
            lambda: self.votes(master, 3, 1) and self.owner(master) == master,
            120,
        )
        self.run(master, [*CMAN_TOOL, "status"], "cman_tool status")
        self.run(master, CLUSTAT, "clustat")
        self.run(master, ["tail", "-3", OUTPUT], f"tail -3 {OUTPUT}")
        short = master.split(".")[0]
        others = [node.split(".")[0] for node in (b, c, m) if node != master]
        self.say(
            f"\nThe cluster keeps running on {short} ({' and '.join(others)} stay off until you power them on)."
            " Explore it with:\n"
            f"  {BIN}/quorate testbed exec --prefix {PREFIX} {short} -- {BIN}/clustat\n"
            f"  {BIN}/quorate testbed power-on --prefix {PREFIX} {others[0]} --start-daemon\n"
            f"  {BIN}/quorate testbed kill --prefix {PREFIX} {short}\n"
            f"  {BIN}/quorate testbed partition --prefix {PREFIX} balthasar casper,melchior\n"
            f"  {BIN}/quorate demo down            (removes everything, loop devices included)"
        )


def _stamp(line: str) -> float:
    """The time of a daemon log line ("2026-01-02 03:04:05.678 quorated[7]: ..."), 0 when it has none."""
    try:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    except ValueError:
        return 0.0


def _attached_loops(image: Path) -> list[str]:
    """Loop devices backed by ``image`` (also those a crashed demo did not record)."""
    done = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, check=False, timeout=60)
    return [line.split(":", 1)[0] for line in done.stdout.splitlines() if ":" in line]


def _backing(device: str) -> str:
    """The file behind a loop device ("" when it is not attached)."""
    try:
        return (Path("/sys/block") / Path(device).name / "loop" / "backing_file").read_text().strip()
    except OSError:
        return ""


def down() -> None:
    """Remove the testbed, then the loop devices and files (the nodes' mounts are gone with the nodes)."""
    Testbed.down_prefix(PREFIX)
    devices: list[str] = []
    for record in ("loops", "loop"):  # "loop": the single device of earlier versions
        path = RUN / record
        if path.exists():
            devices += path.read_text().split()
    for filename, _mib in IMAGES.values():
        devices += _attached_loops(RUN / filename)
    for device in dict.fromkeys(devices):
        if not _backing(device).startswith(str(RUN) + "/"):
            continue  # detached already, and perhaps reused since by someone else: not ours
        luns.detach(device)
    for name in (*FILES, *(filename for filename, _mib in IMAGES.values())):
        (RUN / name).unlink(missing_ok=True)
    if RUN.exists() and not any(RUN.iterdir()):
        RUN.rmdir()
