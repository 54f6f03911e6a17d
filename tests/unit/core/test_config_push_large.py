"""A cluster.conf of 32 nodes and 1000 services (the largest measured shape) pushed with `ccs_tool update`: it is
under the file limit, travels in chunks that each fit a datagram, and every member activates the same bytes."""

from __future__ import annotations

import random

from quorate.config.parser import parse_config
from quorate.core.config_dist import Activate, ConfigDistribution, PushDone, Stage
from quorate.core.config_transfer import MAX_FILE_BYTES, Reassembly, chunks, digest_of
from quorate.core.effects import Send
from quorate.core.messages import MAX_MESSAGE_BYTES, encode
from quorate.node.protocol import MAX_REQUEST
from quorate.testbed.scale import ScaleShape, scale_conf

NAMES = {i: f"node{i:02d}" for i in range(1, 33)}


def _large() -> bytes:
    text = scale_conf(ScaleShape(nodes=32, services=1000)).replace('config_version="1"', 'config_version="2"', 1)
    cfg = parse_config(text)
    assert len(cfg.nodes) == 32 and len(cfg.rm.services) == 1000
    return text.encode()


def test_a_32_node_1000_service_file_goes_in_chunks_that_each_fit_a_datagram() -> None:
    data = _large()
    assert len(data) <= MAX_FILE_BYTES and len(data) + 1000 <= MAX_REQUEST  # ccs_tool's request carries it whole
    pieces = chunks("push", 1, 2, digest_of(data), data)
    assert len(pieces) > 10
    assert all(len(encode(piece)) <= MAX_MESSAGE_BYTES for piece in pieces)
    shuffled = list(pieces)
    random.Random(3).shuffle(shuffled)
    reassembly = Reassembly()
    done = [reassembly.add(0.0, 2, piece) for piece in shuffled]
    assert done[:-1] == [None] * (len(pieces) - 1) and done[-1] == data


def test_every_member_activates_the_pushed_32_node_1000_service_file() -> None:
    v1 = b'<cluster config_version="1"/>'
    cores = {}
    for n in NAMES:
        core = ConfigDistribution(n, 1, v1, names=NAMES, timeout=10.0)
        core.on_view(0.0, frozenset(NAMES), 1, True)
        core.take_effects()
        cores[n] = core
    answers: list[PushDone] = []
    data = _large()
    cores[7].push(0.0, 1, data, 2)  # typed on a member: it goes to the coordinator, then to everyone
    for _ in range(3):
        for origin in NAMES:
            cores[origin].tick(1.0)
            queue = [(origin, e) for e in cores[origin].take_effects()]
            while queue:
                sender, effect = queue.pop(0)
                if isinstance(effect, Send):
                    assert len(encode(effect.message)) <= MAX_MESSAGE_BYTES
                    for to in effect.to:
                        cores[to].receive(1.0, sender, effect.message)  # type: ignore[arg-type]
                        queue += [(to, e) for e in cores[to].take_effects()]
                elif isinstance(effect, Stage):
                    cores[sender].staged_result(1.0, effect.tx, effect.digest, True, "")
                    queue += [(sender, e) for e in cores[sender].take_effects()]
                elif isinstance(effect, Activate):
                    cores[sender].activated(effect.version, effect.data)
                elif isinstance(effect, PushDone):
                    answers.append(effect)
    assert [a.text for a in answers] == ["Config file updated from version 1 to 2"]
    assert all(core.version == 2 and core.data == data for core in cores.values())
