"""The node core with a quorum witness: its requests leave as effects, a grant makes a lone node quorate, and a
configuration without the witness takes the votes back."""

from __future__ import annotations

from dataclasses import replace

from quorate.core.effects import Log
from quorate.core.fencing import FencingConfig
from quorate.core.membership import MembershipConfig, NodeSpec
from quorate.core.node_core import NodeCore
from quorate.core.node_io import ConfigActivated
from quorate.core.node_settings import NodeSettings
from quorate.core.witness_driver import SendToWitness
from quorate.core.witness_protocol import WitnessAnswer, WitnessAsk, WitnessSettings, decode, encode

NAMES = {1: "balthasar", 2: "casper"}
WITNESS = WitnessSettings("192.0.2.10", 5406, lease=5.0)


def settings(witness: WitnessSettings | None = WITNESS) -> NodeSettings:
    membership = MembershipConfig(
        nodes=tuple(NodeSpec(i, n, 1) for i, n in NAMES.items()), expected_votes=3, token=1.0, config_version=1
    )
    fencing = FencingConfig(node_names=NAMES, post_join_delay=1.0, clean_start=True, override_time=0.5)
    return NodeSettings(1, membership, fencing, witness=witness, cluster_name="pair", cluster_id=77)


def asks(core: NodeCore) -> list[WitnessAsk]:
    out = []
    for effect in core.take_effects():
        if isinstance(effect, SendToWitness):
            assert (effect.host, effect.port) == ("192.0.2.10", 5406)
            datagram = decode(effect.payload)
            assert isinstance(datagram, WitnessAsk)
            out.append(datagram)
    return out


def run_alone(core: NodeCore, until: float) -> list[WitnessAsk]:
    """Tick the lone node until ``until``; the witness requests it sent."""
    sent: list[WitnessAsk] = []
    now = 0.0
    while now < until:
        deadline = core.next_deadline()
        now = min(until, deadline if deadline is not None else until)
        core.handle_timer(now)
        sent += asks(core)
    return sent


def grant(req: WitnessAsk) -> bytes:
    return encode(WitnessAnswer("pair", 77, req.node, req.seq, req.view, True, 5.0, "test grant"))


def test_a_lone_node_is_quorate_only_with_the_witness_vote() -> None:
    core = NodeCore(settings(), boot=3, now=0.0)
    sent = run_alone(core, 10.0)
    assert sent, "the node asks the witness once it is in a view"
    last = sent[-1]
    assert (last.cluster, last.cluster_id, last.node, last.boot, last.members) == ("pair", 77, 1, 3, (1,))
    assert not core.quorate  # 1 vote of 3 expected: quorum 2
    core.witness_answer(grant(last), 10.01)
    assert core.quorate and core.membership.qdisk_votes == 1
    status = core.witness.status(10.01) if core.witness is not None else {}
    assert status["state"] == "holding" and status["votes"] == 1


def test_the_vote_lapses_without_renewals_and_an_old_grant_does_not_count() -> None:
    core = NodeCore(settings(), boot=3, now=0.0)
    sent = run_alone(core, 10.0)
    core.witness_answer(grant(sent[-1]), 10.01)
    later = run_alone_from(core, 10.01, 20.0)
    assert later and later[0].holding  # the renewal says it counts the vote
    assert not core.quorate  # nobody answered: the lease ran out (a quarter before the witness's)
    core.witness_answer(grant(sent[-1]), 20.01)  # an answer to an old request
    assert not core.quorate


def run_alone_from(core: NodeCore, start: float, until: float) -> list[WitnessAsk]:
    sent: list[WitnessAsk] = []
    now = start
    while now < until:
        deadline = core.next_deadline()
        now = min(until, deadline if deadline is not None and deadline > now else until)
        core.handle_timer(now)
        sent += asks(core)
    return sent


def test_a_configuration_without_the_witness_takes_its_votes_back() -> None:
    core = NodeCore(settings(), boot=3, now=0.0)
    sent = run_alone(core, 10.0)
    core.witness_answer(grant(sent[-1]), 10.01)
    assert core.quorate
    new = settings(None)
    new = replace(new, membership=replace(new.membership, config_version=2))
    core.report(ConfigActivated(new, b""), 10.02)
    assert core.witness is None and core.membership.qdisk_votes == 0 and not core.quorate
    core.witness_answer(grant(sent[-1]), 10.03)  # nothing listens any more
    assert not core.quorate


def test_the_log_says_witness_votes_not_quorum_disk_votes() -> None:
    core = NodeCore(settings(), boot=3, now=0.0)
    sent = run_alone(core, 10.0)
    core.witness_answer(grant(sent[-1]), 10.01)
    lines = [e.text for e in core.take_effects() if isinstance(e, Log)]
    assert any("witness votes now 1" in line and "1 from the witness" in line for line in lines), lines
    assert not any("quorum disk" in line for line in lines), lines
    assert "1 from the witness" in core.membership.quorum.reason
