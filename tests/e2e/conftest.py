"""Shared fixtures for end-to-end tests on the network-namespace testbed.

Every test in tests/e2e is marked ``e2e`` automatically.  These tests need root
and the ip/nft/unshare/nsenter tools; without them they *fail* with a message
saying what is missing, never skip, so a broken environment cannot pass
silently.

Typical use::

    def test_three_nodes_form_a_cluster(testbed, cluster_conf):
        tb = testbed(cluster_conf())            # 3 nodes, daemons started
        assert tb.exec("casper", ["cman_tool", "status"]).returncode == 0

``testbed(conf_path, prefix=None, **kwargs)`` passes ``kwargs`` to
``Testbed.up`` (``start_daemons``, ``daemon_args``, ``key_path``,
``daemon_command``); each testbed gets a unique short prefix and is torn down
after the test, whether it passed or not.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from quorate.testbed import Testbed
from quorate.testbed.support import MAGI, BedFactory, prerequisite_problems, write_cluster_conf

E2E_DIR = Path(__file__).resolve().parent
# The quorum disk's service harness (the node core's qdisk driver on the daemon's disk I/O) lives with the unit
# tests of the disk service; the disk-level end-to-end tests drive three of them on one loop device.
sys.path.insert(0, str(E2E_DIR.parent / "unit" / "qdisk"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e as ``e2e`` (this hook sees the whole session's items)."""
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def require_root() -> None:
    """Fail (not skip) when the testbed cannot run here, saying why."""
    problems = prerequisite_problems()
    if problems:
        pytest.fail("e2e tests need the namespace testbed: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def testbed(require_root: None) -> Iterator[Callable[..., Testbed]]:
    """Factory: ``testbed(conf_path, prefix=None, **up_kwargs) -> Testbed``, downed after the test."""
    factory = BedFactory()
    try:
        yield factory
    finally:
        problems = factory.close()
        if problems:
            pytest.fail("testbed teardown left something behind: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def cluster_conf(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``cluster_conf(names=MAGI, cluster_name="magi") -> Path`` of a minimal cluster.conf."""

    def make(names: Sequence[str] = MAGI, *, cluster_name: str = "magi", filename: str = "cluster.conf") -> Path:
        return write_cluster_conf(tmp_path / filename, names, cluster_name=cluster_name)

    return make
