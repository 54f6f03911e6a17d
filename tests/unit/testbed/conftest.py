"""Fixtures for the testbed's own tests: a shared 3-node bed and a per-test factory.

The tests that need root fail (never skip) with the reason when the machine
cannot run network namespaces; the pure ones run anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quorate.testbed import Testbed
from quorate.testbed.support import BedFactory, prerequisite_problems, write_cluster_conf


def _fail_without_prerequisites() -> None:
    problems = prerequisite_problems()
    if problems:
        pytest.fail("the testbed tests need: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def require_root() -> None:
    _fail_without_prerequisites()


@pytest.fixture
def magi_conf(tmp_path: Path) -> Path:
    """balthasar, casper, melchior (.localdomain), nodeids 1..3."""
    return write_cluster_conf(tmp_path / "cluster.conf")


@pytest.fixture
def testbed(require_root: None) -> Iterator[Callable[..., Testbed]]:
    factory = BedFactory()
    try:
        yield factory
    finally:
        problems = factory.close()
        if problems:
            pytest.fail("teardown left something behind: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def magi_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """One 3-node bed without daemons, shared by the tests of a module that leave it as they found it."""
    _fail_without_prerequisites()
    conf = write_cluster_conf(tmp_path_factory.mktemp("magi") / "cluster.conf")
    factory = BedFactory()
    try:
        yield factory(conf, start_daemons=False)
    finally:
        problems = factory.close()
        if problems:
            pytest.fail("teardown left something behind: " + "; ".join(problems), pytrace=False)
