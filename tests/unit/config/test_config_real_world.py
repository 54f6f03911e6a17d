"""cluster.conf files shaped like the ones administrators published for RHEL 4, 5 and 6 clusters.

The fixtures in tests/fixtures/real-world were written for these tests, each after a kind of file that was really
published (its first comment says which). Valid ones must load with the effective values asserted here and with
exactly the warnings listed (each names what quorate does and why); broken ones must be refused with every
problem located (file, line, element path, attribute) and explained. Both also go through the command lines an
administrator would use: ``quorate config validate`` and ``show --json``, ``ccs_tool lsnode`` and ``lsfence``.

Services built from rgmanager types beyond quorate's first set (apache, mysql, samba, <service ref>, <vm>,
<rm disabled>) are written as real files have them; for those files (``rm_types=True``) the notices about
<rm> are not compared here, because their treatment belongs to the resource manager's own tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from quorate.cli import ccs_tool
from quorate.cli.config_cmd import config as config_command
from quorate.config import ClusterConfig, ConfigError, Problem, load_config
from quorate.config.changes import quorum_all_up

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "real-world"
BIN = Path(sys.executable).parent

N1 = "/cluster/clusternodes/clusternode[1]"
N2 = "/cluster/clusternodes/clusternode[2]"
N3 = "/cluster/clusternodes/clusternode[3]"
NODEID_RULE = "the lowest id no other node uses, in file order"

# (severity, line, path, attribute, key phrase)
Notice = tuple[str, int, str, str | None, str]
Methods = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Valid:
    file: str
    name: str
    nodes: tuple[tuple[int, str, int], ...]  # (nodeid, name, votes), by id
    expected_votes: int
    quorum: int  # with every node up and the quorum disk's votes held
    fence: dict[str, Methods]
    services: tuple[tuple[str, tuple[str, str | None] | None], ...] | None  # (name, first resource (type, primary))
    notices: tuple[Notice, ...] = ()
    token_ms: int = 10000
    qdisk: tuple[str | None, str | None, int, int, int] | None = None  # label, device, votes, interval, tko
    rm_types: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def _same(method: str, devices: tuple[str, ...], *names: str) -> dict[str, Methods]:
    return {n: ((method, devices),) for n in names}


VALID = [
    Valid(
        "rhel4-three-node-apc-no-nodeids.conf",
        "alpha",
        ((1, "alpha1.example.com", 1), (2, "alpha2.example.com", 1), (3, "alpha3.example.com", 1)),
        3,
        2,
        _same("1", ("apc",), "alpha1.example.com", "alpha2.example.com", "alpha3.example.com"),
        (("fileserver", ("ip", "10.1.1.100")),),
        (
            ("warning", 9, N1, "nodeid", "'alpha1.example.com' has no nodeid; quorate gives it id 1"),
            ("warning", 16, N2, "nodeid", "'alpha2.example.com' has no nodeid; quorate gives it id 2"),
            ("warning", 23, N3, "nodeid", "'alpha3.example.com' has no nodeid; quorate gives it id 3"),
        ),
        extra={"post_join_delay": 3},
    ),
    Valid(
        "rhel4-two-node-ilo-half-numbered.conf",
        "beta",
        ((1, "beta2", 1), (2, "beta1", 1)),
        1,
        1,
        {"beta1": (("1", ("beta1-ilo",)),), "beta2": (("1", ("beta2-ilo",)),)},
        (("nfssvc", ("fs", "exportfs")),),
        (("warning", 9, N1, "nodeid", "'beta1' has no nodeid; quorate gives it id 2"),),
        extra={"two_node": True},
    ),
    Valid(
        "rhel5-two-node-web-ipmi-qdisk.conf",
        "webclu",
        ((1, "web1.example.com", 1), (2, "web2.example.com", 1)),
        3,
        2,
        {"web1.example.com": (("ipmi", ("ipmi-web1",)),), "web2.example.com": (("ipmi", ("ipmi-web2",)),)},
        (("www", ("ip", "192.168.1.80")),),
        token_ms=21000,
        qdisk=("webqdisk", None, 1, 1, 10),
        extra={"two_node": False, "post_join_delay": 20},
    ),
    Valid(
        "rhel5-conga-alias-apache-mysql.conf",
        "webfarm",
        ((1, "lamp1.example.com", 1), (2, "lamp2.example.com", 1)),
        1,
        1,
        {"lamp1.example.com": (("1", ("lamp1-ilo",)),), "lamp2.example.com": (("1", ("lamp2-ilo",)),)},
        (("web", ("ip", "10.0.0.80")), ("db", ("ip", "10.0.0.81"))),
        (
            ("ignored", 5, "/cluster", "alias", "display name"),
            ("ignored", 62, "/cluster/fence_xvmd", None, "fence_xvmd"),
        ),
        rm_types=True,
        extra={"two_node": True},
    ),
    Valid(
        "rhel5-four-node-apc-dual-power.conf",
        "gamma",
        ((1, "gamma1", 1), (2, "gamma2", 1), (3, "gamma3", 1), (4, "gamma4", 1)),
        4,
        3,
        {f"gamma{i}": (("power", ("apc-a", "apc-b", "apc-a", "apc-b")), ("ipmi", ("ipmi",))) for i in (1, 2, 3, 4)},
        (("batch", ("script", "batchd")),),
        extra={"cluster_id": 4242, "port": 6809, "multicast_address": "239.192.16.66"},
    ),
    Valid(
        "rhel5-kvm-guests-totem-tuning.conf",
        "virt",
        ((1, "guest1.virt.lan", 1), (2, "guest2.virt.lan", 1), (3, "guest3.virt.lan", 1)),
        3,
        2,
        _same("virt", ("xvm",), "guest1.virt.lan", "guest2.virt.lan", "guest3.virt.lan"),
        (("appsvc", ("ip", "192.168.122.50/24")),),
        (
            ("ignored", 6, "/cluster/totem", "token_retransmits_before_loss_const", "change token"),
            ("ignored", 6, "/cluster/totem", "consensus", "does not wait for a totem consensus"),
        ),
        token_ms=30000,
        extra={"join_ms": 100, "consensus_ms": 36000, "post_join_delay": 30},
    ),
    Valid(
        "rhel5-xen-hosts-vm-services.conf",
        "xenhosts",
        ((1, "dom0-a.example.net", 1), (2, "dom0-b.example.net", 1)),
        1,
        1,
        {"dom0-a.example.net": (("1", ("ipmi-a",)),), "dom0-b.example.net": (("1", ("ipmi-b",)),)},
        None,
        (("ignored", 38, "/cluster/fence_xvmd", None, "fence_virtd"),),
        rm_types=True,
        extra={"two_node": True, "post_join_delay": 30},
    ),
    Valid(
        "rhel6-cman-pacemaker-fence-pcmk.conf",
        "pcmkclu",
        ((1, "pcmk-1", 1), (2, "pcmk-2", 1)),
        1,
        1,
        _same("pcmk-redirect", ("pcmk",), "pcmk-1", "pcmk-2"),
        (),
        (
            ("ignored", 6, "/cluster/logging", None, "journal"),
            ("warning", 10, N1 + "/fence/method[1]", None, "node 'pcmk-1' cannot be fenced by quorate"),
            ("warning", 17, N2 + "/fence/method[1]", None, "node 'pcmk-2' cannot be fenced by quorate"),
        ),
        extra={"two_node": True},
    ),
    Valid(
        "rhel6-gfs2-scsi-unfence-dlm-logging.conf",
        "gfsclu",
        ((1, "gfs1.lab.example.com", 1), (2, "gfs2.lab.example.com", 1), (3, "gfs3.lab.example.com", 1)),
        3,
        2,
        _same("scsi", ("scsi-fence",), "gfs1.lab.example.com", "gfs2.lab.example.com", "gfs3.lab.example.com"),
        (("export", ("clusterfs", "shared")),),
        (
            ("ignored", 7, "/cluster/logging", None, "journalctl -u quorated"),
            ("ignored", 11, "/cluster/dlm", None, "no kernel DLM"),
            ("ignored", 12, "/cluster/gfs_controld", None, "does not run gfs_controld"),
        ),
        extra={"post_join_delay": 20},
    ),
    Valid(
        "rhel6-two-node-qdisk-device-two-node-flag.conf",
        "pair",
        ((1, "pair-a", 1), (2, "pair-b", 1)),
        1,
        1,
        {"pair-a": (("ipmi", ("ipmi-a",)),), "pair-b": (("ipmi", ("ipmi-b",)),)},
        (("db", ("lvm", "dbvg")),),
        (("warning", 6, "/cluster/cman", "two_node", "quorate honours two_node, as cman did"),),
        token_ms=33000,
        qdisk=(None, "/dev/mapper/qdisk", 1, 2, 8),
        extra={"two_node": True, "post_join_delay": 60},
    ),
    Valid(
        "rhel5-vmware-guests-expected-below-sum.conf",
        "esxclu",
        ((1, "vm-node1", 1), (2, "vm-node2", 1), (3, "vm-node3", 1)),
        2,
        2,
        _same("vmware", ("esx",), "vm-node1", "vm-node2", "vm-node3"),
        (("tomcat", ("ip", "10.60.0.40")),),
        (("warning", 6, "/cluster/cman", "expected_votes", "cman raised expected votes"),),
        extra={"post_fail_delay": 5},
    ),
    Valid(
        "rhel5-uneven-votes-expected-low.conf",
        "delta",
        ((1, "delta1", 2), (2, "delta2", 1), (3, "delta3", 1)),
        3,
        3,
        {f"delta{i}": (("1", (f"ipmi{i}",)), ("2", ("human",))) for i in (1, 2, 3)},
        (("archive", ("lvm", "archive-vg")),),
        (("warning", 6, "/cluster/cman", "expected_votes", "two halves that start separated could both"),),
    ),
    Valid(
        "rhel6-ccs-skeleton-empty-fence.conf",
        "lab",
        ((1, "lab1.example.org", 1), (2, "lab2.example.org", 1), (3, "lab3.example.org", 1)),
        3,
        2,
        {"lab1.example.org": (), "lab2.example.org": (), "lab3.example.org": ()},
        (),
        (
            ("warning", 8, N1, None, "'lab1.example.org' has no fence method, so it cannot be fenced"),
            ("warning", 11, N2, None, "'lab2.example.org' has no fence method, so it cannot be fenced"),
            ("warning", 14, N3, None, "'lab3.example.org' has no fence method, so it cannot be fenced"),
        ),
        extra={"post_join_delay": 6},
    ),
    Valid(
        "rhel5-nfs-ha-lvm-ilo.conf",
        "nfsclu",
        ((1, "nfs1.storage.lan", 1), (2, "nfs2.storage.lan", 1), (3, "nfs3.storage.lan", 1)),
        3,
        2,
        {f"nfs{i}.storage.lan": (("ilo", (f"nfs{i}-ilo",)), ("manual", ("last-resort",))) for i in (1, 2, 3)},
        (("nfs", ("lvm", "nfsvg")),),
        token_ms=15000,
        extra={"post_join_delay": 10},
    ),
    Valid(
        "rhel5-samba-independent-subtree.conf",
        "smbclu",
        ((1, "smb-a", 1), (2, "smb-b", 1)),
        1,
        1,
        {"smb-a": (("ipmi", ("smb-a-bmc",)),), "smb-b": (("ipmi", ("smb-b-bmc",)),)},
        (("fileserver", ("ip", "10.70.1.10")),),
        rm_types=True,
        extra={"two_node": True},
    ),
    Valid(
        "rhel6-service-templates-rm-disabled.conf",
        "tmplclu",
        ((1, "t1", 1), (2, "t2", 1), (3, "t3", 1)),
        3,
        2,
        {f"t{i}": (("drac", (f"drac-t{i}",)),) for i in (1, 2, 3)},
        # rgmanager read only the attributes of a definition in <resources>: the script inside it belongs to no
        # tree (quorate warns), so the service placed with <service ref> has no resources of its own
        (("worker", None),),
        rm_types=True,
        extra={"post_join_delay": 25},
    ),
    Valid(
        "rhel6-rrp-altname-udpu.conf",
        "rrpclu",
        ((1, "rrp1.prod.lan", 1), (2, "rrp2.prod.lan", 1), (3, "rrp3.prod.lan", 1)),
        3,
        2,
        _same("ipmi", ("ipmi",), "rrp1.prod.lan", "rrp2.prod.lan", "rrp3.prod.lan"),
        (),
        (
            ("ignored", 7, "/cluster/cman", "transport", "sends to each node's own address"),
            ("ignored", 8, "/cluster/totem", "rrp_mode", "redundant rings are not used"),
            ("ignored", 8, "/cluster/totem", "secauth", "authenticates and encrypts every datagram"),
            ("ignored", 11, N1 + "/altname[1]", "name", "second ring"),
            ("ignored", 19, N2 + "/altname[1]", "name", "second ring"),
            ("ignored", 27, N3 + "/altname[1]", "name", "second ring"),
        ),
    ),
    Valid(
        "rhel5-utf8-comments-tabs-crlf.conf",
        "zeta",
        ((1, "zeta-a.intra", 1), (2, "zeta-b.intra", 1)),
        1,
        1,
        {n: (("courant", ("apc",)), ("manuel", ("manuel",))) for n in ("zeta-a.intra", "zeta-b.intra")},
        (("intranet", ("ip", "192.168.50.80")),),
        extra={"two_node": True, "post_join_delay": 3},
    ),
    Valid(
        "rhel5-qdisk-heuristics-three-node.conf",
        "epsilon",
        ((1, "eps1", 1), (2, "eps2", 1), (3, "eps3", 1)),
        5,
        3,
        _same("drac", ("drac",), "eps1", "eps2", "eps3"),
        (("erp", ("ip", "10.3.3.50")),),
        token_ms=45000,
        qdisk=("eps_qdisk", None, 2, 2, 10),
        extra={"post_join_delay": 30},
    ),
]

# Broken files: (line, path, attribute, phrases the message and hint must contain together)
Expected = tuple[int, str, str | None, tuple[str, ...]]
BROKEN: dict[str, tuple[Expected, ...]] = {
    "broken-not-well-formed.conf": (
        (6, "/", None, ("not well-formed XML at column 24", "AttValue")),
        (6, "/", None, ("not well-formed XML at column 24", "attributes construct error")),
        (6, "/", None, ("not well-formed XML at column 24", "end of Start Tag cman")),
        (21, "/", None, ("column 18", "mismatch: clusternode line 8 and clusternodes", "every element is closed")),
        (26, "/", None, ("column 11", "mismatch: clusternodes line 7 and cluster")),
    ),
    "broken-dangling-references.conf": (
        (18, N2 + "/fence/method[1]/device[1]", "name", ("no <fencedevice name='apc'>", "did you mean 'apc-rack1'")),
        (
            37,
            "/cluster/rm/failoverdomains/failoverdomain[1]/failoverdomainnode[2]",
            "name",
            ("'theta4.example.com' is not a clusternode", "'theta1.example.com', 'theta2.example.com'"),
        ),
        (40, "/cluster/rm/service[1]", "domain", ("no failover domain 'theta-prim'", "did you mean 'theta-primary'")),
    ),
    "broken-two-fence-daemons.conf": (
        (24, "/cluster/fence_daemon", None, ("only one <fence_daemon>", "the first is at line 7", "merge it")),
        (24, "/cluster/fence_daemon", "post_fail_delay", ("a whole number of 0 or more", "'-1'")),
    ),
    "broken-text-between-elements.conf": (
        (15, "/cluster/clusternodes", None, ("unexpected text 'kappa2.example.com'", "only elements and comments")),
        (20, N2 + "/fence", None, ("unexpected text 'port=\"2\"/>' inside <fence>", "only elements and comments")),
        (30, "/cluster/clusternodes", None, ("unexpected text '-- end of the node list --'", "was a '<' or a quote")),
    ),
    "broken-duplicate-nodeid.conf": (
        (
            31,
            "/cluster/clusternodes/clusternode[4]",
            "nodeid",
            ("nodeid 3 is already used by /cluster/clusternodes/clusternode[3] (line 24)", "the next free one is 4"),
        ),
    ),
    "broken-node-listed-twice.conf": (
        (21, N3, "name", ("'mu2.example.net' is already used by " + N2 + " (line 14)", "its own name")),
        (21, N3, "nodeid", ("nodeid 2 is already used by " + N2, "the next free one is 3")),
        (
            38,
            "/cluster/rm/failoverdomains/failoverdomain[1]/failoverdomainnode[3]",
            "name",
            ("'mu2.example.net' is already listed in this domain at line 37", "once per domain"),
        ),
    ),
}


def _load(item: Valid) -> ClusterConfig:
    return load_config(FIXTURES / item.file)


def _outside_rm(problems: tuple[Problem, ...] | list[Problem], item: Valid) -> list[Problem]:
    return [p for p in problems if not (item.rm_types and p.path.startswith("/cluster/rm"))]


def test_the_fixture_set_is_complete_and_every_file_is_checked() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.conf")}
    valid = {v.file for v in VALID}
    assert on_disk == valid | set(BROKEN), "every fixture is either a valid or a broken case"
    assert len(valid) >= 18 and len(BROKEN) >= 6
    for path in sorted(FIXTURES.glob("*.conf")):
        head = path.read_text(encoding="utf-8")[:700]
        assert "Shape" in head and "RHEL" in head, f"{path.name}: its first comment says which kind of file it is"


@pytest.mark.parametrize("item", VALID, ids=[v.file.removesuffix(".conf") for v in VALID])
def test_valid_file_loads_with_its_effective_values(item: Valid) -> None:
    cfg = _load(item)
    assert cfg.name == item.name
    assert [(n.nodeid, n.name, n.votes) for n in cfg.nodes] == list(item.nodes)
    assert (cfg.expected_votes, quorum_all_up(cfg), cfg.token_ms) == (item.expected_votes, item.quorum, item.token_ms)
    fence = {n.name: tuple((m.name, tuple(d.name for d in m.devices)) for m in n.fence) for n in cfg.nodes}
    assert fence == item.fence
    if item.qdisk is None:
        assert cfg.quorumd is None
    else:
        q = cfg.quorumd
        assert q is not None and (q.label, q.device, q.votes, q.interval, q.tko) == item.qdisk
    if item.services is not None:
        services = [
            (s.name, (s.children[0].type, s.children[0].primary) if s.children else None) for s in cfg.rm.services
        ]
        assert services == list(item.services)
    fields = {
        "two_node": cfg.two_node,
        "post_join_delay": cfg.fence_daemon.post_join_delay,
        "post_fail_delay": cfg.fence_daemon.post_fail_delay,
        "cluster_id": cfg.cluster_id,
        "port": cfg.port,
        "multicast_address": cfg.multicast_address,
        "join_ms": cfg.join_ms,
        "consensus_ms": cfg.consensus_ms,
    }
    assert {k: fields[k] for k in item.extra} == item.extra
    found = _outside_rm(cfg.warnings, item)
    assert sorted((p.severity, p.line, p.path, p.attribute or "") for p in found) == sorted(
        (n[0], n[1], n[2], n[3] or "") for n in item.notices
    )
    for severity, line, path, attribute, phrase in item.notices:
        key = (severity, line, path, attribute)
        (problem,) = [p for p in found if (p.severity, p.line, p.path, p.attribute) == key]
        assert phrase in str(problem), str(problem)
        assert problem.hint, f"{problem}: a notice says what to do"


@pytest.mark.parametrize("name", sorted(BROKEN), ids=[n.removesuffix(".conf") for n in sorted(BROKEN)])
def test_broken_file_is_refused_with_every_problem_located(name: str) -> None:
    path = FIXTURES / name
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert all(p.severity == "error" and p.file == str(path) for p in problems), [str(p) for p in problems]
    expected = BROKEN[name]
    assert sorted((p.line, p.path, p.attribute or "") for p in problems) == sorted(
        (e[0], e[1], e[2] or "") for e in expected
    )
    for line, where, attribute, phrases in expected:
        matching = [p for p in problems if (p.line, p.path, p.attribute) == (line, where, attribute)]
        assert any(all(ph in str(p) for ph in phrases) for p in matching), [str(p) for p in matching]


def test_rhel4_ids_are_the_ones_ccs_tool_addnodeids_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("rhel4-three-node-apc-no-nodeids.conf", "rhel4-two-node-ilo-half-numbered.conf"):
        copy = tmp_path / name
        shutil.copyfile(FIXTURES / name, copy)
        before = {n.name: n.nodeid for n in load_config(copy).nodes}
        assert not all(n.nodeid_given for n in load_config(copy).nodes)
        assert ccs_tool.main(["addnodeids", "-c", str(copy), "-C"]) == 0, capsys.readouterr().err
        after = load_config(copy)
        assert {n.name: n.nodeid for n in after.nodes} == before
        assert all(n.nodeid_given for n in after.nodes)
        assert not [w for w in after.warnings if w.attribute == "nodeid"]
    capsys.readouterr()


def test_ccs_tool_edits_never_move_the_ids_of_nodes_without_nodeid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "cluster.conf"
    shutil.copyfile(FIXTURES / "rhel4-three-node-apc-no-nodeids.conf", copy)
    original = copy.read_bytes()
    # alpha2 and alpha3 hold ids 2 and 3 only because alpha1 comes first: removing alpha1 would renumber them.
    assert ccs_tool.main(["delnode", "-c", str(copy), "-C", "alpha1.example.com"]) == 1
    err = capsys.readouterr().err
    assert "alpha2.example.com: 2 -> 1" in err and "run ccs_tool addnodeids first" in err
    assert copy.read_bytes() == original
    # A new node takes the next id, not one that a node without nodeid already gets.
    assert ccs_tool.main(["addnode", "-c", str(copy), "-C", "alpha4.example.com", "-f", "apc", "port=4"]) == 0
    assert [(n.nodeid, n.name) for n in load_config(copy).nodes] == [
        (1, "alpha1.example.com"),
        (2, "alpha2.example.com"),
        (3, "alpha3.example.com"),
        (4, "alpha4.example.com"),
    ]
    assert ccs_tool.main(["addnode", "-c", str(copy), "-C", "alpha5.example.com", "-n", "2"]) == 1
    assert "nodeid 2 already in use by alpha2.example.com, which has no nodeid" in capsys.readouterr().err
    # Removing a node that comes after them moves nothing, so it is allowed.
    assert ccs_tool.main(["delnode", "-c", str(copy), "-C", "alpha4.example.com"]) == 0
    assert ccs_tool.main(["addnodeids", "-c", str(copy), "-C"]) == 0
    assert [(n.nodeid, n.name, n.nodeid_given) for n in load_config(copy).nodes] == [
        (1, "alpha1.example.com", True),
        (2, "alpha2.example.com", True),
        (3, "alpha3.example.com", True),
    ]
    capsys.readouterr()


def test_dual_power_and_per_node_device_parameters() -> None:
    cfg = load_config(FIXTURES / "rhel5-four-node-apc-dual-power.conf")
    node = cfg.node_by_name("gamma2")
    assert node is not None
    power, ipmi = node.fence
    assert [(d.name, d.attrs) for d in power.devices] == [
        ("apc-a", (("port", "2"), ("action", "off"))),
        ("apc-b", (("port", "2"), ("action", "off"))),
        ("apc-a", (("port", "2"), ("action", "on"))),
        ("apc-b", (("port", "2"), ("action", "on"))),
    ]
    parameters = (("ipaddr", "10.9.0.12"), ("login", "admin"), ("passwd", "ipmi-2"), ("lanplus", "1"))
    assert ipmi.devices[0].attrs == parameters
    device = cfg.fencedevice("ipmi")
    assert device is not None and (device.agent, device.attrs) == ("fence_ipmilan", ())
    assert cfg.multicast_explicit


def test_quorum_disk_heuristics_and_options() -> None:
    q = load_config(FIXTURES / "rhel5-qdisk-heuristics-three-node.conf").quorumd
    assert q is not None
    assert [(h.program, h.score, h.interval, h.tko) for h in q.heuristics] == [
        ("ping -c1 -w1 10.3.3.254", 1, 2, 3),
        ("/usr/local/sbin/check_san_paths", 2, 10, 2),
        ("ethtool eth0 | grep -q 'Link detected: yes'", 1, 2, 1),
    ]
    assert (q.min_score, q.allow_kill, q.reboot, q.master_wins) == (2, False, True, False)
    web = load_config(FIXTURES / "rhel5-two-node-web-ipmi-qdisk.conf")
    assert web.quorumd is not None and web.quorumd.heuristics[0].program == "ping -c1 -w1 192.168.1.1"
    assert (web.fence_daemon.clean_start, web.fence_daemon.post_fail_delay) == (False, 0)


def test_quorum_disk_named_by_device_only_with_two_node() -> None:
    cfg = load_config(FIXTURES / "rhel6-two-node-qdisk-device-two-node-flag.conf")
    assert cfg.quorumd is not None
    assert (cfg.quorumd.label, cfg.quorumd.device, cfg.quorumd.master_wins) == (None, "/dev/mapper/qdisk", True)
    assert cfg.two_node and quorum_all_up(cfg) == 1


def test_scsi_fencing_keeps_its_unfence_devices() -> None:
    cfg = load_config(FIXTURES / "rhel6-gfs2-scsi-unfence-dlm-logging.conf")
    assert {n.name: [(d.name, d.attrs) for d in n.unfence] for n in cfg.nodes} == {
        n.name: [("scsi-fence", (("action", "on"),))] for n in cfg.nodes
    }
    device = cfg.fencedevice("scsi-fence")
    assert device is not None and ("devices", "/dev/mapper/mpathb") in device.attrs


def test_utf8_comments_tabs_and_crlf_change_nothing() -> None:
    path = FIXTURES / "rhel5-utf8-comments-tabs-crlf.conf"
    raw = path.read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\r\n') and b"\t" in raw
    assert "nœud de secours".encode() in raw and "Überwachung".encode() in raw
    cfg = load_config(path)
    apc = cfg.fencedevice("apc")
    assert apc is not None and apc.attrs == (("ipaddr", "192.168.50.5"), ("login", "apc"), ("passwd", "geheim"))
    assert [(n.name, n.line) for n in cfg.nodes] == [("zeta-a.intra", 15), ("zeta-b.intra", 28)]
    assert cfg.warnings == ()


@pytest.mark.parametrize("item", VALID, ids=[v.file.removesuffix(".conf") for v in VALID])
def test_commands_accept_the_valid_file(item: Valid) -> None:
    path = str(FIXTURES / item.file)
    validate = subprocess.run([str(BIN / "quorate"), "config", "validate", path], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stderr
    assert validate.stdout.startswith(f"{path}: valid: cluster {item.name}, ")
    for severity, line, where, attribute, _phrase in _notices_outside_rm(item):
        located = f"{severity}: {path}:{line}: {where}" + (f"[@{attribute}]" if attribute else "") + ": "
        assert located in validate.stderr, validate.stderr
    shown = CliRunner().invoke(config_command, ["show", "--json", path])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["name"] == item.name and data["expected_votes"] == item.expected_votes
    assert [(n["nodeid"], n["name"], n["votes"]) for n in data["nodes"]] == list(item.nodes)
    lsnode = subprocess.run([str(BIN / "ccs_tool"), "lsnode", "-c", path], capture_output=True, text=True)
    assert lsnode.returncode == 0, lsnode.stderr
    lines = lsnode.stdout.splitlines()
    assert lines[1] == f"Cluster name: {item.name}, config_version: {load_config(path).config_version}"
    rows = {line.split()[0]: line.split()[1:] for line in lines[lines.index(_LSNODE_HEADER) + 1 :]}
    for nodeid, name, votes in item.nodes:
        first = item.fence[name][0][1][0] if item.fence[name] else None
        assert rows[name] == [str(votes), str(nodeid), *([first] if first else [])]
    lsfence = subprocess.run([str(BIN / "ccs_tool"), "lsfence", "-c", path], capture_output=True, text=True)
    assert lsfence.returncode == 0, lsfence.stderr
    listed = [line.split() for line in lsfence.stdout.splitlines()[1:]]
    assert listed == [[d.name, d.agent] for d in load_config(path).fencedevices]


_LSNODE_HEADER = "Nodename                        Votes Nodeid Fencetype"


def _notices_outside_rm(item: Valid) -> tuple[Notice, ...]:
    return tuple(n for n in item.notices if not (item.rm_types and n[2].startswith("/cluster/rm")))


@pytest.mark.parametrize("name", sorted(BROKEN), ids=[n.removesuffix(".conf") for n in sorted(BROKEN)])
def test_validate_command_refuses_the_broken_file(name: str) -> None:
    path = str(FIXTURES / name)
    result = subprocess.run([str(BIN / "quorate"), "config", "validate", path], capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(BROKEN[name])
    for line, where, attribute, _phrases in BROKEN[name]:
        located = f"error: {path}:{line}: {where}" + (f"[@{attribute}]" if attribute else "") + ": "
        assert any(e.startswith(located) for e in errors), result.stderr
    assert result.stderr.splitlines()[-1] == f"{path}: invalid: {len(BROKEN[name])} error" + (
        "s" if len(BROKEN[name]) != 1 else ""
    )
