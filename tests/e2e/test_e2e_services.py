"""The article's service under quorated on three testbed nodes: autostart, relocate, owner failure, fence, takeover.

The configuration is the article's final one with three changes this machine needs: the file system sits on a
loop device directly (no device-mapper for the lvm level), the fence device is `fence_netns` behind the
testbed's power switch instead of `fence_manual` (so the fence completes without a human), and the token is
5 s to keep the test short. The init script, its program (writing every 2 s) and these changes come from
src/quorate/testbed/article.py.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from e2e_helpers import CMAN_TOOL, QUORATE, wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)

from quorate.testbed import article
from quorate.testbed.article import OUTPUT, Timings, write_service_files
from quorate.testbed.power import start_power_switch

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
CLUSVCADM = [sys.executable, "-m", "quorate.cli.clusvcadm"]
SECRET = "quorate-e2e"


def cluster_conf(tmp_path: Path, device: str) -> Path:
    init = write_service_files(tmp_path, period=2)
    text = article.testbed_conf(device, init, fence_secret=SECRET, qdisk=False, timings=Timings(token_ms=5000))
    assert "fence_manual" not in text
    conf = tmp_path / "cluster.conf"
    conf.write_text(text)
    return conf


def service(tb, node: str) -> dict | None:  # type: ignore[no-untyped-def,type-arg]
    done = tb.exec(node, [*QUORATE, "status", "--json"], timeout=20)
    if done.returncode != 0:
        return None
    for svc in json.loads(done.stdout)["services"]:
        if svc["name"] == "test":
            return svc  # type: ignore[no-any-return]
    return None


def started_on(tb, node: str, owner: str):  # type: ignore[no-untyped-def]
    def probe() -> bool:
        svc = service(tb, node)
        return svc is not None and svc["state"] == "started" and svc["owner"] == owner

    probe.testbed = tb  # type: ignore[attr-defined]
    return probe


def stamps(tb, node: str) -> list[float]:  # type: ignore[no-untyped-def]
    done = tb.exec(node, ["cat", OUTPUT], timeout=10)
    out = []
    for line in done.stdout.splitlines():
        if line.startswith("Date/Time :"):
            out.append(datetime.strptime(line.split(":  ", 1)[1].strip(), "%Y-%m-%d %H:%M:%S").timestamp())
    return out


def test_service_autostarts_relocates_and_survives_its_owner_with_a_fence(testbed, lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    conf = cluster_conf(tmp_path, lun)
    tb = testbed(conf)
    start_power_switch(tb, secret=SECRET)

    # ring01 is ordered: balthasar (priority 10) gets the service; autostart=1 starts it.
    wait_for("service:test started on balthasar", started_on(tb, B, B), timeout=60)
    wait_for("the article's loop writing on balthasar", lambda: len(stamps(tb, B)) >= 2, timeout=20)
    assert "Flags: Dirty" in tb.exec(B, [*CMAN_TOOL, "status"]).stdout
    clustat = tb.exec(C, [str(Path(sys.executable).with_name("clustat"))]).stdout
    assert " service:test                   balthasar.localdomain          started" in clustat

    relocate = tb.exec(B, [*CLUSVCADM, "-r", "test", "-m", C], timeout=120)
    assert relocate.returncode == 0, relocate.stdout + relocate.stderr
    assert relocate.stdout.splitlines() == [
        "Trying to relocate service:test to casper.localdomain...Success",
        "service:test is now running on casper.localdomain",
    ]
    wait_for("the loop writing on casper", lambda: len(stamps(tb, C)) >= 2, timeout=20)
    assert tb.exec(B, ["test", "-e", OUTPUT]).returncode != 0, "balthasar must have unmounted the shared disk"

    # casper's daemon dies; its service keeps running until the power switch turns casper off.
    killed = time.monotonic()
    tb.kill(C, signal.SIGKILL)
    wait_for("service:test back on balthasar after the fence", started_on(tb, B, B), timeout=60)
    took = time.monotonic() - killed
    log = tb.daemon_log(B)
    fenced = log.index("fence of casper.localdomain confirmed")
    restarted = log.rindex("service:test started on balthasar.localdomain")
    assert restarted > fenced, "the service moved before its old owner was confirmed off"
    assert not tb.is_powered(C)
    times = stamps(tb, B)
    # One writer leaves a line every 2 s. Each hand-over (relocation, failover) may put two lines within a
    # second; two writers running at once would do so again and again.
    short = sum(1 for a, b in itertools.pairwise(times) if b - a < 1.5)
    assert short <= 2, f"two writers overlapped on the disk: {short} short gaps in {times}"
    print(f"owner killed -> service started elsewhere: {took:.1f} s (token 5 s, fence included)")
