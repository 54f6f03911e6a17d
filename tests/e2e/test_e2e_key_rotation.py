"""Rotating the cluster key on a running cluster, as README "Rotating the key" tells an administrator to.

The article's cluster (service ``test``: the init script writing on an ext3 LUN) runs on three nodes. ``quorate
key rotate`` on casper switches every node to a new key: every node's traffic counters (``quorate status
--json``) show no datagram refused for authentication, the view and the service stay where they were, nobody is
fenced, and the key file changed on every node, to the same key. Then melchior is stopped, the key rotated again
without it, and melchior started with the key it had: it cannot join, the others say what to do once, and
``quorate key fetch`` on melchior brings it the new key from a member; it rejoins.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from e2e_helpers import QUORATE, status, wait_for
from test_e2e_resources import lun  # noqa: F401  (a fixture)

from quorate.testbed import Testbed, article
from quorate.testbed.article import Timings, write_service_files
from quorate.testbed.power import start_power_switch

B, C, M = "balthasar.localdomain", "casper.localdomain", "melchior.localdomain"
SECRET = "quorate-e2e-keys"
KEY = "/etc/cluster/quorate.key"


def probe(tb: Testbed, check: Any) -> Any:
    check.testbed = tb  # lets wait_for show the daemons' logs on a timeout
    return check


def running(tb: Testbed, node: str, members: int) -> bool:
    doc = status(tb, node)
    if doc is None or not doc["quorate"] or len(doc["members"]) != members:
        return False
    return any(s["name"] == "test" and s["state"] == "started" and s["owner"] == B for s in doc["services"])


def refused(tb: Testbed, node: str) -> int:
    doc = status(tb, node)
    assert doc is not None, f"{node} does not answer"
    dropped: dict[str, int] = doc["transport"]["dropped"]
    return dropped.get("auth_failed", 0) + dropped.get("retired_key", 0)


def key_digest(tb: Testbed, node: str) -> str:
    done = tb.exec(node, ["sha256sum", KEY], timeout=10)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


def key_status(tb: Testbed, node: str) -> dict[str, Any]:
    done = tb.exec(node, [*QUORATE, "key", "status", "--json"], timeout=20)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def rotated(tb: Testbed, driver: str, nodes: list[str]) -> bool:
    doc = key_status(tb, driver)
    return doc["phase"] == "done" and doc.get("nodes") == {n: "installed" for n in nodes}


def test_the_key_rotates_without_a_refused_datagram_and_a_node_that_missed_it_fetches_it(
    testbed: Any,
    lun: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    init = write_service_files(tmp_path, period=2)
    conf = tmp_path / "cluster.conf"
    conf.write_text(article.testbed_conf(lun, init, fence_secret=SECRET, qdisk=False, timings=Timings(token_ms=3000)))
    tb: Testbed = testbed(conf, start_daemons=False)
    start_power_switch(tb, secret=SECRET)
    for node in tb.nodes:
        tb.start_daemon(node)
    wait_for("three members, service:test on balthasar", probe(tb, lambda: running(tb, B, 3)), timeout=60)
    assert "cluster key from /etc/cluster/quorate.key (the default)" in tb.daemon_log(B)
    before = {node: (refused(tb, node), key_digest(tb, node)) for node in tb.nodes}
    assert len({digest for _, digest in before.values()}) == 1

    # 1. Every node switches to a new key; not one datagram is refused on the way.
    done = tb.exec(C, [*QUORATE, "key", "rotate"], timeout=20)
    assert done.returncode == 0, done.stderr
    assert "key rotation started" in done.stdout
    wait_for("every node installed the new key", probe(tb, lambda: rotated(tb, C, [B, C, M])), timeout=20)
    time.sleep(6)  # past the old key's linger: anything still sealed with it would now be refused and counted
    after = {node: (refused(tb, node), key_digest(tb, node)) for node in tb.nodes}
    for node in tb.nodes:
        assert after[node][0] == before[node][0], f"{node} refused datagrams during the rotation: {after[node][0]}"
        assert after[node][1] != before[node][1], f"{node}: the key file did not change"
    assert len({digest for _, digest in after.values()}) == 1, "every node must hold the same new key"
    assert running(tb, B, 3) and running(tb, M, 3), "the view and the service stay as they were"
    assert all(tb.is_powered(node) for node in tb.nodes), "a rotation fences nobody"
    mode = tb.exec(M, ["stat", "-c", "%a", KEY], timeout=10).stdout.strip()
    assert mode == "600", mode

    # 2. A node down during a rotation cannot come back with the old key, and catches up with `key fetch`.
    tb.stop_daemon(M, timeout=30)
    wait_for("balthasar and casper without melchior", probe(tb, lambda: running(tb, B, 2)), timeout=30)
    done = tb.exec(B, [*QUORATE, "key", "rotate"], timeout=20)
    assert done.returncode == 0, done.stderr
    wait_for("the second rotation done", probe(tb, lambda: rotated(tb, B, [B, C])), timeout=20)
    tb.start_daemon(M)
    said = "still uses the cluster key that a rotation retired"
    wait_for("balthasar saying melchior missed the rotation", probe(tb, lambda: said in tb.daemon_log(B)), timeout=20)
    alone = status(tb, M)
    assert alone is not None and len(alone["members"]) <= 1 and not alone["quorate"], alone
    fetch = tb.exec(M, [*QUORATE, "key", "fetch"], timeout=20)
    assert fetch.returncode == 0, fetch.stderr + fetch.stdout
    assert "fetched the cluster key" in fetch.stdout
    wait_for("melchior back in the view", probe(tb, lambda: running(tb, M, 3)), timeout=30)
    assert key_digest(tb, M) == key_digest(tb, B) == key_digest(tb, C)
    assert tb.daemon_log(B).count(said) == 1, "said once per node, not per datagram"
    assert all(tb.is_powered(node) for node in tb.nodes)
