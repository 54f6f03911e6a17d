"""`quorate why` as the daemon answers it: three node cores built from the article's cluster.conf, on an
in-memory network, asked through `answer_why` (the same call the control request makes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quorate.config.model import ClusterConfig
from quorate.config.parser import parse_config
from quorate.config.to_core import node_settings
from quorate.core.effects import Send
from quorate.core.messages import encode
from quorate.core.node_core import NodeCore
from quorate.core.node_io import ExecOutcome, ServiceDone, ServicesRunning, StartService
from quorate.core.service_vocabulary import Action
from quorate.node import protocol
from quorate.node.why import answer_why, fence_methods

ARTICLE = Path(__file__).parents[2] / "fixtures" / "article" / "cluster-2.conf"


class Net:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self.now = 0.0
        self.down: set[int] = set()
        self.cores = {n.nodeid: NodeCore(node_settings(cfg, n.nodeid), boot=1, now=0.0) for n in cfg.nodes}

    def pump(self) -> None:
        for _ in range(200):
            moved = False
            for nodeid, core in self.cores.items():
                if nodeid in self.down:
                    continue
                for effect in core.take_effects():
                    moved = True
                    if isinstance(effect, Send):
                        for to in effect.to:
                            if to not in self.down:
                                self.cores[to].receive(encode(effect.message), nodeid, self.now)
                    elif isinstance(effect, StartService):  # an executor whose starts succeed at once
                        core.report(ServicesRunning({effect.service: "started"}), self.now)
                        core.report(ServiceDone(effect.service, effect.cmd, Action.START, ExecOutcome.STARTED),
                                    self.now)  # fmt: skip
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = round(self.now + 0.05, 6)
            for nodeid, core in self.cores.items():
                deadline = core.next_deadline()
                if nodeid not in self.down and deadline is not None and deadline <= self.now:
                    core.handle_timer(self.now)
            self.pump()

    def why(self, name: str | None) -> protocol.Answer | protocol.WhyAnswer:
        return answer_why(self.cores[1], self.cfg, name, self.now)


@pytest.fixture
def net() -> Net:
    text = ARTICLE.read_text()
    cfg = parse_config(re.sub(r"<quorumd[^>]*/>", "", text))  # the quorum disk needs a device: left out here
    net = Net(cfg)
    net.pump()
    net.advance(8.0)
    return net


def sentence(answer: protocol.Answer | protocol.WhyAnswer) -> str:
    assert isinstance(answer, protocol.WhyAnswer), answer
    return answer.sentence


def test_the_service_quorum_and_a_node_are_explained_from_live_state(net: Net) -> None:
    assert sentence(net.why("test")) == (
        "test runs on balthasar.localdomain: first of the ordered domain ring01 (priority 10) among the members up"
    )
    assert sentence(net.why(None)) == (
        "quorate: 3 votes of 3 expected, quorum 2 (balthasar 1, casper 1, melchior 1, quorum disk 0)"
    )
    assert re.fullmatch(r"casper\.localdomain is a member since view \d+", sentence(net.why("casper")))
    answer = net.why("service:test")
    assert isinstance(answer, protocol.WhyAnswer) and answer.kind == "service"
    assert answer.facts["owner"] == "balthasar.localdomain"


def test_the_raw_form_is_the_sentence_as_text(net: Net) -> None:
    answer = answer_why(net.cores[1], net.cfg, "test", net.now, raw=True)
    assert answer == protocol.Answer(True, text=sentence(net.why("test")) + "\n")


def test_a_failed_node_is_shown_being_fenced_with_its_method(net: Net) -> None:
    net.down.add(2)
    net.advance(15.0)
    assert re.fullmatch(
        r"casper\.localdomain left at \d\d:\d\d:\d\d and is being fenced by balthasar\.localdomain with method "
        r"single \(attempt 1\)",
        sentence(net.why("casper.localdomain")),
    )
    quorum = "quorate: 2 votes of 3 expected, quorum 2 (balthasar 1, melchior 1, quorum disk 0)"
    assert sentence(net.why(None)) == quorum


def test_an_unknown_name_is_refused_with_every_valid_one(net: Net) -> None:
    answer = net.why("tset")
    assert isinstance(answer, protocol.Answer) and not answer.ok and answer.code == "invalid"
    assert answer.error == (
        "unknown service or node 'tset' (services: test; nodes: balthasar.localdomain, casper.localdomain, "
        "melchior.localdomain)"
    )


def test_fence_methods_name_each_method_with_its_agents(net: Net) -> None:
    assert fence_methods(net.cfg)[2] == [("single", "fence_manual")]


def test_the_request_is_in_the_schema() -> None:
    assert protocol.make_request("why", name="test") == protocol.Why(name="test")
    assert protocol.make_request("why") == protocol.Why()
