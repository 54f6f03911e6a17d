"""The article's fence_manual: when the coordinator that owns the service dies, nothing moves until an
administrator confirms with fence_ack_manual; then the service starts on the next node of ring01."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from e2e_helpers import QUORATE, wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)
from test_e2e_services import B, C, cluster_conf, service, started_on

FENCE_ACK = [
    sys.executable,
    "-c",
    "import sys; from quorate.cli.fence_tools import fence_ack_manual; sys.exit(fence_ack_manual())",
]
FENCE_TOOL = [
    sys.executable,
    "-c",
    "import sys; from quorate.cli.fence_tools import fence_tool; sys.exit(fence_tool())",
]


def test_nothing_moves_until_fence_ack_manual(testbed, lun: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    conf = cluster_conf(tmp_path, lun)
    text = conf.read_text()
    text = text.replace('agent="fence_netns" action="off" passwd="quorate-e2e"', 'agent="fence_manual"')
    conf.write_text(text)
    tb = testbed(conf)
    wait_for("service:test started on balthasar", started_on(tb, B, B), timeout=60)

    # balthasar is the coordinator and the owner: both roles fail at once.
    tb.kill(B, signal.SIGKILL)
    tb.power_off(B)  # what the administrator does by hand before acknowledging

    def waiting() -> bool:
        out = tb.exec(C, [*FENCE_TOOL, "ls"]).stdout
        return "waiting for manual acknowledgement of balthasar.localdomain" in out

    waiting.testbed = tb  # type: ignore[attr-defined]
    wait_for("casper waiting for a manual acknowledgement", waiting, timeout=40)
    time.sleep(3)
    svc = service(tb, C)
    assert svc is not None and svc["state"] == "started" and svc["owner"] == B, "moved before the acknowledgement"
    assert "waiting for balthasar.localdomain to be fenced" in tb.daemon_log(C)
    why = tb.exec(C, [*QUORATE, "why", "test"])
    assert why.returncode == 0, why.stderr
    assert why.stdout == (
        "test waits for balthasar.localdomain to be fenced: it needs `fence_ack_manual balthasar.localdomain`\n"
    )
    why = tb.exec(C, [*QUORATE, "why", "balthasar"])
    assert why.stdout.startswith("balthasar.localdomain left at ") and why.stdout.endswith(
        " and needs `fence_ack_manual balthasar.localdomain`\n"
    ), why.stdout

    refused = tb.exec(C, [*FENCE_ACK, "-O", "-n", C])
    assert refused.returncode == 1 and "is not waiting to be fenced" in refused.stderr

    ack = tb.exec(C, [*FENCE_ACK, "-O", "-n", B])
    assert ack.returncode == 0, ack.stdout + ack.stderr
    wait_for("service:test started on casper after the acknowledgement", started_on(tb, C, C), timeout=30)
    assert "fence of balthasar.localdomain confirmed: acknowledged by the administrator" in tb.daemon_log(C)
