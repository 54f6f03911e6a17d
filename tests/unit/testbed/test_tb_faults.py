"""Network faults, checked with real UDP between the namespace hosts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from quorate.testbed import Testbed
from quorate.testbed.faults import list_rules
from quorate.testbed.support import udp_probe

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

B, C, M = "balthasar", "casper", "melchior"
#: Negative probes wait this long; positive ones return as soon as the datagram is in.
QUIET = 0.6


def reaches(bed: Testbed, src: str, dst: str, group: str | None = None) -> bool:
    return udp_probe(bed, src, dst, timeout=QUIET, group=group)


@pytest.fixture
def bed(magi_bed: Testbed) -> Iterator[Testbed]:
    """The shared bed, healed after each test whatever happened."""
    try:
        yield magi_bed
    finally:
        magi_bed.heal()


def test_partition_cuts_between_groups_only(bed: Testbed) -> None:
    bed.partition([B, C], [M])
    assert reaches(bed, B, C) and reaches(bed, C, B)
    assert not reaches(bed, B, M) and not reaches(bed, M, B)
    assert not reaches(bed, M, C, group="239.192.6.41")
    assert bed.exec(B, ["ping", "-c1", "-W1", "melchior"], timeout=10).returncode != 0
    assert bed.faults() == [{"partition": [[f"{B}.localdomain", f"{C}.localdomain"], [f"{M}.localdomain"]]}]


def test_unnamed_nodes_are_alone(bed: Testbed) -> None:
    bed.partition([B])
    assert not reaches(bed, C, M)
    assert not reaches(bed, B, C)


def test_one_way(bed: Testbed) -> None:
    bed.one_way(B, C)
    assert not reaches(bed, B, C)
    assert reaches(bed, C, B)
    assert reaches(bed, B, M) and reaches(bed, M, C)


def test_total_loss_drops_everything_incoming(bed: Testbed) -> None:
    bed.loss(M, 100)
    assert not reaches(bed, B, M)
    assert not reaches(bed, C, M, group="239.192.6.41")
    assert reaches(bed, M, B)
    assert 'iifname "eth0" counter packets' in list_rules(bed.netns(M))


def test_faults_add_up_until_heal(bed: Testbed) -> None:
    bed.one_way(B, C)
    bed.one_way(M, C)
    assert not reaches(bed, B, C) and not reaches(bed, M, C)
    assert len(bed.faults()) == 2
    bed.heal()
    assert bed.faults() == []
    assert list_rules(bed.netns(C)) == ""
    assert reaches(bed, B, C) and reaches(bed, M, C)
    assert reaches(bed, M, B, group="239.192.6.41")


def test_partial_loss_drops_some_of_many(bed: Testbed) -> None:
    bed.loss(C, 50)
    done = bed.exec(C, ["ping", "-c", "40", "-i", "0.01", "-W", "1", "-q", "balthasar"], timeout=15)
    received = int(done.stdout.split(" received")[0].rsplit(" ", 1)[1])
    assert 2 <= received <= 38, done.stdout  # each reply has a 50 % chance: far outside 2..38 is ~1e-9
