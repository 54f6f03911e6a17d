"""The article's two cluster.conf files load unchanged, with the values the article's outputs imply."""

from __future__ import annotations

import hashlib

from config_samples import ARTICLE_1, ARTICLE_2

from quorate.config import (
    ClusterConfig,
    FenceDeviceRef,
    FenceMethod,
    cluster_id_from_name,
    derived_multicast,
    load_config,
    parse_config,
)


def _common(cfg: ClusterConfig) -> None:
    assert cfg.name == "magi"
    assert cfg.cluster_id == 1571
    assert derived_multicast(cfg.cluster_id) == "239.192.6.41"
    assert cfg.multicast_address == "224.0.0.1"
    assert cfg.multicast_explicit is True
    assert cfg.expected_votes == 3
    assert cfg.expected_votes_explicit == 3
    assert cfg.two_node is False
    assert cfg.wait_for_all is False
    assert cfg.port == 5405
    assert cfg.keyfile is None
    assert (cfg.token_ms, cfg.join_ms, cfg.consensus_ms) == (10000, 60, 12000)
    assert [(n.nodeid, n.name, n.votes) for n in cfg.nodes] == [
        (1, "balthasar.localdomain", 1),
        (2, "casper.localdomain", 1),
        (3, "melchior.localdomain", 1),
    ]
    assert cfg.total_node_votes == 3
    for node in cfg.nodes:
        assert node.fence == (FenceMethod("single", (FenceDeviceRef("manual", ()),)),)
        assert node.unfence == ()
    assert [(d.name, d.agent, d.attrs) for d in cfg.fencedevices] == [("manual", "fence_manual", ())]
    fd = cfg.fence_daemon
    assert (fd.post_join_delay, fd.post_fail_delay, fd.clean_start) == (3, 0, False)
    q = cfg.quorumd
    assert q is not None
    assert (q.label, q.device, q.votes, q.interval, q.tko) == ("magi_qdisk", None, 2, 3, 20)
    assert (q.tko_up, q.master_wait, q.upgrade_wait, q.min_score) == (6, 10, 2, 0)
    assert (q.reboot, q.allow_kill, q.master_wins, q.heuristics) == (True, True, False, ())
    assert q.timeout_s == 60


def _timing_warning(cfg: ClusterConfig) -> None:
    timing = [w for w in cfg.warnings if w.path == "/cluster/quorumd" and "too slow" in w.message]
    assert len(timing) == 1
    assert timing[0].severity == "warning"
    assert timing[0].line == 6
    assert "96 s" in timing[0].message and "10000 ms" in timing[0].message
    assert timing[0].hint is not None and "99000" in timing[0].hint


def test_first_file_loads_unchanged() -> None:
    cfg = load_config(ARTICLE_1)
    _common(cfg)
    assert cfg.config_version == 1
    assert cfg.rm.failoverdomains == () and cfg.rm.services == () and cfg.rm.resources == ()
    assert cfg.rm.status_poll_interval == 10
    assert cfg.source == str(ARTICLE_1)
    assert cfg.digest == hashlib.sha256(ARTICLE_1.read_bytes()).hexdigest()
    _timing_warning(cfg)
    assert all(w.severity != "error" for w in cfg.warnings)


def test_second_file_has_the_domain_and_the_service() -> None:
    cfg = load_config(ARTICLE_2)
    _common(cfg)
    assert cfg.config_version == 3
    _timing_warning(cfg)
    (domain,) = cfg.rm.failoverdomains
    assert (domain.name, domain.ordered, domain.restricted, domain.nofailback) == ("ring01", True, True, False)
    assert [(n.name, n.priority) for n in domain.nodes] == [
        ("balthasar.localdomain", 10),
        ("casper.localdomain", 20),
        ("melchior.localdomain", 30),
    ]
    assert cfg.rm.domain("RING01") is domain
    (service,) = cfg.rm.services
    assert (service.name, service.autostart, service.domain, service.recovery) == ("test", True, "ring01", "relocate")
    assert (service.exclusive, service.max_restarts, service.restart_expire_time, service.depend) == (False, 0, 0, None)
    (lvm,) = service.children
    (fs,) = lvm.children
    (script,) = fs.children
    assert [r.type for r in service.walk()] == ["lvm", "fs", "script"]
    assert (lvm.primary, lvm.get("vg_name"), lvm.get("lv_name")) == ("tes_lv", "magi_vg", "test_lv")
    assert (fs.primary, fs.get("device"), fs.get("mountpoint")) == ("test_fs", "/dev/magi_vg/test_lv", "/mnt/magi/test")
    assert (fs.get("fstype"), fs.get("force_unmount"), fs.get("options")) == ("ext3", "1", "")
    assert (script.primary, script.get("file"), script.children) == ("test_svc", "/etc/init.d/test", ())
    assert script.get("missing", "dflt") == "dflt"
    assert all(r.ref is None for r in service.walk())
    assert (service.line, lvm.line, fs.line, script.line) == (43, 44, 45, 46)


def test_article_whitespace_is_reported_once_and_kept_in_the_digest(article_1: bytes) -> None:
    assert "\u00a0".encode() in article_1
    assert b"|" not in article_1
    assert article_1.startswith('<?xml\u00a0version="1.0"?>'.encode())
    cfg = parse_config(article_1)
    nbsp = [w for w in cfg.warnings if "U+00A0" in w.message]
    assert len(nbsp) == 1 and nbsp[0].line == 1
    assert cfg.digest == hashlib.sha256(article_1).hexdigest()
    assert cfg.source == "<string>"


def test_article_warnings_are_only_warnings(article_2: bytes) -> None:
    cfg = parse_config(article_2)
    kinds = {(w.path, w.attribute) for w in cfg.warnings}
    assert kinds == {
        ("/", None),  # the non-breaking spaces
        ("/cluster/cman", "expected_votes"),  # 3 of 5 possible votes: two halves could be quorate at start
        ("/cluster/cman/multicast", "addr"),  # 224.0.0.1 is link-local
        ("/cluster/quorumd", "interval"),  # 3 x (20 + 10 + 2) s against a 10 s token
    }


def test_node_lookup_by_exact_and_short_name() -> None:
    cfg = load_config(ARTICLE_2)
    assert cfg.node_by_name("casper.localdomain") is cfg.nodes[1]
    assert cfg.node_by_name("casper") is cfg.nodes[1]
    assert cfg.node_by_name("balthasar.evenit.info") is cfg.nodes[0]  # the article's other lab domain
    assert cfg.node_by_name("gaspard") is None
    assert cfg.node_by_id(3) is cfg.nodes[2]
    assert cfg.node_by_id(4) is None
    assert cfg.fencedevice("manual") is cfg.fencedevices[0]


def test_derivations_of_the_article() -> None:
    assert cluster_id_from_name("magi") == ((109 * 2 + 97) * 2 + 103) * 2 + 105 == 1571
    assert derived_multicast(1571) == "239.192.6.41"


def test_without_multicast_element_the_derived_address_is_used(article_1: bytes) -> None:
    text = article_1.decode().replace('<multicast\u00a0addr="224.0.0.1"/>', "")
    cfg = parse_config(text.encode())
    assert (cfg.multicast_address, cfg.multicast_explicit) == ("239.192.6.41", False)


def test_text_input_is_read_as_utf8(article_2: bytes) -> None:
    cfg = parse_config(article_2.decode())
    assert cfg.digest == hashlib.sha256(article_2).hexdigest()
    assert cfg.rm.services[0].name == "test"
