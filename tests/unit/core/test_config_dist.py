"""Configuration distribution, one transaction at a time, with the cores wired by hand (no network)."""

from __future__ import annotations

from quorate.core.config_dist import Activate, ConfigDistribution, PushDone, Stage
from quorate.core.config_messages import CfgChunk, CfgCommit
from quorate.core.effects import Send

NAMES = {1: "balthasar", 2: "casper", 3: "melchior"}
V1 = b'<cluster config_version="1"/>'


def node(nodeid: int, data: bytes = V1, version: int = 1) -> ConfigDistribution:
    core = ConfigDistribution(nodeid, version, data, names=NAMES, timeout=10.0)
    core.on_view(0.0, frozenset({1, 2, 3}), 1, True)
    core.take_effects()
    return core


def deliver(cores: dict[int, ConfigDistribution], sender: int, now: float, *, drop: set[int] = frozenset()) -> None:
    """Carry every effect of every core until quiet: sends delivered, stages accepted, activations applied."""
    queue = [(sender, e) for e in cores[sender].take_effects()]
    while queue:
        origin, effect = queue.pop(0)
        if isinstance(effect, Send):
            for to in effect.to:
                if to in drop:
                    continue
                cores[to].receive(now, origin, effect.message)  # type: ignore[arg-type]
                queue += [(to, e) for e in cores[to].take_effects()]
        elif isinstance(effect, Stage):
            cores[origin].staged_result(
                now, effect.tx, effect.digest, f"refuse{origin}".encode() not in effect.data, "bad here"
            )
            queue += [(origin, e) for e in cores[origin].take_effects()]
        elif isinstance(effect, Activate):
            cores[origin].activated(effect.version, effect.data)
        elif isinstance(effect, PushDone):
            answers.append(effect)


answers: list[PushDone] = []


def test_push_from_a_member_is_staged_everywhere_then_activated_everywhere() -> None:
    answers.clear()
    cores = {n: node(n) for n in NAMES}
    new = b'<cluster config_version="2"/>' + b"x" * 20000  # several chunks
    cores[2].push(0.0, 7, new, 2)
    for _ in range(3):
        for n in NAMES:
            cores[n].tick(1.0)
            deliver(cores, n, 1.0)
    assert [a.text for a in answers] == ["Config file updated from version 1 to 2"]
    assert all(c.version == 2 and c.data == new for c in cores.values())


def test_one_refusal_changes_nothing_anywhere_and_names_the_node() -> None:
    answers.clear()
    cores = {n: node(n) for n in NAMES}
    cores[1].push(0.0, 1, b'<cluster config_version="2"/>refuse2', 2)
    deliver(cores, 1, 0.0)
    assert [(a.ok, a.text) for a in answers] == [(False, "casper refused version 2: bad here")]
    assert all(c.version == 1 and c.staged is None for c in cores.values())


def test_refusals_before_anything_is_sent() -> None:
    answers.clear()
    core = node(2)
    core.push(0.0, 1, V1, 1)
    core.on_view(1.0, frozenset({2}), 2, False)
    core.push(1.0, 2, b'<cluster config_version="5"/>', 5)
    texts = [e.text for e in core.take_effects() if isinstance(e, PushDone)]
    assert texts[0].startswith("Proposed updated config file does not have greater version number.")
    assert "Current config_version :: 1" in texts[0]
    assert texts[1] == "Unable to honor update request. Cluster is not quorate."


def test_a_restarted_coordinator_reusing_a_transaction_number_never_activates_the_old_staged_file() -> None:
    """Regression (found on the testbed): members held a staged file of a push whose coordinator died; the
    coordinator came back, numbered its next push the same, and the members took the new chunks for the old
    file (never answering) or would have activated the old file on the new commit."""
    member = node(2)
    old = b'<cluster config_version="2"/>old'
    for chunk in [CfgChunk("stage", 257, 2, __import__("hashlib").sha256(old).hexdigest(), 0, 1, old)]:
        member.receive(0.0, 1, chunk)
    stage = [e for e in member.take_effects() if isinstance(e, Stage)]
    member.staged_result(0.0, stage[0].tx, stage[0].digest, True, "")
    member.take_effects()
    new = b'<cluster config_version="3"/>new'
    digest = __import__("hashlib").sha256(new).hexdigest()
    member.receive(5.0, 1, CfgChunk("stage", 257, 3, digest, 0, 1, new))
    assert [e.data for e in member.take_effects() if isinstance(e, Stage)] == [new]
    member.staged_result(5.0, 257, digest, True, "")
    member.take_effects()
    member.receive(5.1, 1, CfgCommit(257, 3, digest))
    assert [e.data for e in member.take_effects() if isinstance(e, Activate)] == [new]
