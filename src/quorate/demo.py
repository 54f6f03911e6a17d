"""`quorate demo`: the article's cluster `magi` on this machine, walked through step by step.

Three testbed nodes (balthasar, casper, melchior `.localdomain`) in network namespaces run quorated with the
article's cluster.conf; the demo shows each command's real output as the article does, injects a failure, and
leaves the cluster running so the administrator can explore it. The story grows with the cluster's features:
what is not built yet is said, not faked.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from quorate.testbed import Testbed

PREFIX = "magi"
DATA = Path(__file__).parent / "data" / "demo"
CMAN_TOOL = [sys.executable, "-m", "quorate.cli.cman_tool"]
QUORATE = [sys.executable, "-m", "quorate.cli.main"]


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
        short = node.split(".")[0]
        self.say(f"\nroot@{short}# {shown}")
        result = self.tb.exec(node, argv, timeout=60)
        text = (result.stdout + result.stderr).rstrip("\n")
        self.say(text)
        return text

    def wait(self, what: str, probe: Callable[[], bool], timeout: float) -> None:
        self.say(f"   ... waiting for {what}")
        deadline = time.monotonic() + timeout
        start = time.monotonic()
        while time.monotonic() < deadline:
            if probe():
                self.say(f"   done in {time.monotonic() - start:.1f} s")
                return
            time.sleep(0.25)
        raise SystemExit(f"demo: gave up waiting for {what} after {timeout:.0f} s")

    def member_count(self, node: str) -> int:
        assert self.tb is not None
        out = self.tb.exec(node, [*CMAN_TOOL, "status"]).stdout
        for line in out.splitlines():
            if line.startswith("Nodes: "):
                return int(line.split()[1])
        return 0

    def story(self) -> None:
        conf = DATA / "cluster.conf"
        self.title("Building cluster magi: three nodes in network namespaces, quorated on each")
        self.tb = tb = Testbed.up(conf, prefix=PREFIX)
        b, _c, m = tb.nodes
        for node in tb.nodes:
            self.say(f"   {node:<24} {tb.address(node)}")
        self.wait("the three nodes to form a quorate view", lambda: self.member_count(b) == 3, 30)
        self.title("cman_tool status, as in the article")
        self.run(b, [*CMAN_TOOL, "status"], "cman_tool status")
        self.run(b, [*CMAN_TOOL, "nodes"], "cman_tool nodes")
        self.pause()
        self.title("A node crashes: melchior's daemon is killed; after the 10 s token the others evict it")
        tb.kill(m, signal.SIGKILL)
        self.wait("balthasar to evict melchior", lambda: self.member_count(b) == 2, 30)
        self.run(b, [*CMAN_TOOL, "nodes"], "cman_tool nodes")
        self.run(b, [*QUORATE, "status"], "quorate status")
        self.pause()
        self.title("melchior comes back")
        tb.start_daemon(m)
        self.wait("melchior to rejoin", lambda: self.member_count(b) == 3, 30)
        self.run(b, [*CMAN_TOOL, "status"], "cman_tool status")
        self.say(
            "\nThe cluster keeps running. Explore it with:\n"
            f"  quorate testbed exec --prefix {PREFIX} casper -- cman_tool status\n"
            f"  quorate testbed kill --prefix {PREFIX} melchior      (then: quorate testbed start ... melchior)\n"
            f"  quorate testbed partition --prefix {PREFIX} balthasar casper,melchior ; quorate testbed heal ...\n"
            "  quorate demo down                                   (removes everything)"
        )


def down() -> None:
    Testbed.down_prefix(PREFIX)
