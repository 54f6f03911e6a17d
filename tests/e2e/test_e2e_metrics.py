"""`quorate metrics` on the testbed: what Prometheus would read about the view, the peers and a node's death,
printed once and served over HTTP by the separate exporter process."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from e2e_helpers import QUORATE, view_is, wait_for
from prometheus_client.parser import text_string_to_metric_families

from quorate.testbed.support import MAGI, write_cluster_conf

B, C, M = MAGI


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def read(tb, node: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    done = tb.exec(node, [*QUORATE, "metrics"])
    assert done.returncode == 0, done.stderr
    return samples(done.stdout)


def test_metrics_follow_the_view_and_a_node_death(testbed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    conf = write_cluster_conf(tmp_path / "cluster.conf")
    conf.write_text(conf.read_text().replace("  <clusternodes>", '  <totem token="3000"/>\n  <clusternodes>', 1))
    tb = testbed(conf)
    wait_for("three nodes quorate", view_is(tb, B, list(MAGI), True), timeout=60)

    m = read(tb, B)
    assert m[("quorate_up", ())] == 1 and m[("quorate_quorate", ())] == 1
    assert (m[("quorate_view_members", ())], m[("quorate_total_votes", ())], m[("quorate_quorum", ())]) == (3, 3, 2)
    assert m[("quorate_peer_member", (("peer", M),))] == 1
    assert m[("quorate_coordinator", ())] == 1 and m[("quorate_config_version", ())] == 1
    assert m[("quorate_datagrams_accepted_total", ())] > 0

    # The exporter: a separate process serving /metrics; each scrape asks the daemon afresh.
    exporter = tb.popen(C, [*QUORATE, "metrics", "--listen", "127.0.0.1:9664"], stderr=subprocess.PIPE, text=True)
    scrape = [
        sys.executable,
        "-c",
        "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9664/metrics').read().decode())",
    ]
    served = wait_for("the exporter answering", lambda: (d := tb.exec(C, scrape)).returncode == 0 and d.stdout, 20)
    assert samples(served)[("quorate_peer_member", (("peer", B),))] == 1

    tb.kill(M, signal.SIGKILL)
    wait_for("melchior out of the view", view_is(tb, B, [B, C], True), timeout=30)
    after = samples(tb.exec(C, scrape).stdout)
    assert after[("quorate_peer_member", (("peer", M),))] == 0 and after[("quorate_view_members", ())] == 2
    assert after[("quorate_quorate", ())] == 1

    tb.kill(C, signal.SIGKILL)  # casper's daemon gone: its exporter still answers, and says so
    down = wait_for("the exporter reporting quorated down", lambda: samples(tb.exec(C, scrape).stdout), 20)
    assert down == {("quorate_up", ()): 0}
    tb.end_popen(exporter)
