"""The witness daemon's shell: registered clusters, authenticated requests and answers, and what it refuses."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from quorate.core.messages import ViewId
from quorate.core.witness_protocol import Algorithm, WitnessAnswer, WitnessAsk, decode, encode
from quorate.node.wire import WireCodec
from quorate.node.witness_link import WITNESS_NODEID, WitnessLink, witness_key
from quorate.witness.clusters import ClusterFileError, add_cluster, load_clusters, read_cluster
from quorate.witness.service import WitnessService, next_epoch, previous_max_lease

CLUSTER_ID = 4242


def keyfile(tmp_path: Path, name: str = "cluster.key") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(64))
    path.chmod(0o600)
    return path


def ask(node: int, seq: int, *, cluster: str = "pair", holding: bool = False) -> bytes:
    req = WitnessAsk(
        cluster, CLUSTER_ID, node, 1, seq, ViewId(3, 1), (1, 2), 2, holding, 5.0, Algorithm.FFSPLIT, "lowest"
    )
    return encode(req)


def service(tmp_path: Path, key: Path) -> WitnessService:
    add_cluster(tmp_path / "witness.d", "pair", key, cluster_id=CLUSTER_ID)
    return WitnessService(load_clusters(tmp_path / "witness.d"), epoch=7, max_lease=5.0, now=0.0)


def node_codec(key: Path, node: int) -> WireCodec:
    return WireCodec(witness_key(key.read_bytes()), CLUSTER_ID, node, 1, {WITNESS_NODEID})


def test_a_registered_cluster_is_answered_and_the_answer_opens_on_the_node(tmp_path: Path) -> None:
    key = keyfile(tmp_path)
    svc = service(tmp_path, key)
    codec = node_codec(key, 1)
    sealed = svc.handle(codec.seal(ask(1, 1)), ("192.0.2.1", 40000), 1.0)
    assert sealed is not None
    sender, _epoch, payload = codec.open(sealed)
    answer = decode(payload)
    assert sender == WITNESS_NODEID and isinstance(answer, WitnessAnswer)
    assert (answer.node, answer.seq, answer.granted) == (1, 1, False)
    assert "learning" in answer.reason
    later = svc.handle(codec.seal(ask(1, 2)), ("192.0.2.1", 40000), 7.0)
    assert later is not None and decode(codec.open(later)[2]).granted  # type: ignore[union-attr]


def test_what_the_witness_refuses_is_counted_by_reason(tmp_path: Path) -> None:
    key = keyfile(tmp_path)
    svc = service(tmp_path, key)
    codec = node_codec(key, 1)
    addr = ("192.0.2.9", 1)
    first = codec.seal(ask(1, 1))
    assert svc.handle(first, addr, 1.0) is not None
    assert svc.handle(first, addr, 1.1) is None  # replayed
    stranger = node_codec(keyfile(tmp_path, "other.key"), 1)
    assert svc.handle(stranger.seal(ask(1, 5)), addr, 1.2) is None  # another key
    assert svc.handle(codec.seal(ask(2, 6)), addr, 1.3) is None  # node 1 speaking for node 2
    assert svc.handle(codec.seal(ask(1, 7, cluster="other")), addr, 1.4) is None  # another cluster's name
    other_id = WireCodec(witness_key(key.read_bytes()), 9, 1, 1, {WITNESS_NODEID})
    assert svc.handle(other_id.seal(ask(1, 8)), addr, 1.5) is None  # an id nobody registered
    assert svc.handle(b"xx", addr, 1.6) is None
    assert dict(svc.refused) == {
        "replay": 1,
        "auth_failed": 1,
        "wrong_identity": 2,
        "unknown_cluster": 1,
        "too_short": 1,
    }


def test_the_cluster_transport_key_cannot_speak_to_the_witness(tmp_path: Path) -> None:
    key = keyfile(tmp_path)
    svc = service(tmp_path, key)
    cluster_codec = WireCodec(key.read_bytes(), CLUSTER_ID, 1, 1, {2})  # the nodes' own transport
    assert svc.handle(cluster_codec.seal(ask(1, 1)), ("192.0.2.1", 1), 1.0) is None
    assert svc.refused["auth_failed"] == 1


def test_cluster_files_round_trip_and_bad_ones_are_located(tmp_path: Path) -> None:
    key = keyfile(tmp_path)
    path = add_cluster(tmp_path / "d", "pair", key)
    cluster = read_cluster(path)
    assert cluster.name == "pair" and cluster.keyfile == tmp_path / "d" / "pair.key"
    assert cluster.key() == key.read_bytes()
    bad = tmp_path / "d" / "bad.conf"
    bad.write_text("name = x\nkeyfile = /k\ncluster_id = 70000\n")
    with pytest.raises(ClusterFileError, match=r"bad\.conf:3: cluster_id must be a whole number"):
        load_clusters(tmp_path / "d")
    bad.write_text("name = x\nkey file = /k\n")
    with pytest.raises(ClusterFileError, match=r"bad\.conf:2: expected one of"):
        read_cluster(bad)
    with pytest.raises(ClusterFileError, match="cluster name"):
        add_cluster(tmp_path / "d", "../etc", key)


def test_every_start_has_a_higher_epoch(tmp_path: Path) -> None:
    first = next_epoch(tmp_path)
    assert next_epoch(tmp_path) == first + 1


def test_a_node_and_the_witness_talk_over_udp(tmp_path: Path) -> None:
    key = keyfile(tmp_path)

    async def exchange() -> WitnessAnswer:
        loop = asyncio.get_running_loop()
        svc = service(tmp_path, key)
        transport, _ = await loop.create_datagram_endpoint(lambda: svc, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        got: asyncio.Future[bytes] = loop.create_future()
        link = await WitnessLink.open("127.0.0.1", key.read_bytes(), CLUSTER_ID, 1, 3, got.set_result)
        link.send("127.0.0.1", port, ask(1, 1))
        payload = await asyncio.wait_for(got, 5.0)
        link.close()
        transport.close()
        answer = decode(payload)
        assert isinstance(answer, WitnessAnswer)
        assert link.status()["received"] == 1
        return answer

    answer = asyncio.run(exchange())
    assert answer.cluster == "pair" and answer.node == 1


def test_a_witness_restarted_with_shorter_leases_still_waits_out_the_longer_ones(tmp_path: Path) -> None:
    assert previous_max_lease(tmp_path, 30.0) == 30.0
    assert previous_max_lease(tmp_path, 5.0) == 30.0  # the last run may have granted 30 s
    assert previous_max_lease(tmp_path, 5.0) == 5.0
    key = keyfile(tmp_path)
    add_cluster(tmp_path / "witness.d", "pair", key, cluster_id=CLUSTER_ID)
    svc = WitnessService(load_clusters(tmp_path / "witness.d"), epoch=7, max_lease=5.0, now=0.0, learn=30.0)
    codec = node_codec(key, 1)
    early = svc.handle(codec.seal(ask(1, 1)), ("192.0.2.1", 1), 10.0)
    assert early is not None and "learning" in decode(codec.open(early)[2]).reason  # type: ignore[union-attr]
