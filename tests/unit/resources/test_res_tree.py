"""Resource trees: rgmanager's start/stop order, references, inheritance, special attributes, problems."""

from __future__ import annotations

from pathlib import Path

from res_helpers import config_of

from quorate.config import Action, ClusterConfig, Resource, Service, load_config
from quorate.resources import build_trees
from quorate.resources.catalogue import TYPES, type_spec

ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "article" / "cluster-2.conf"


def labels(nodes: list) -> list[str]:
    return [n.label for n in nodes]


def test_article_service_starts_lvm_fs_script_and_stops_in_reverse() -> None:
    tree = build_trees(load_config(ARTICLE))["test"]
    assert labels(tree.start_order()) == ["service:test", "lvm:tes_lv", "fs:test_fs", "script:test_svc"]
    assert labels(tree.stop_order()) == ["script:test_svc", "fs:test_fs", "lvm:tes_lv", "service:test"]
    assert [n.depth for n in tree.start_order()] == [0, 1, 2, 3]
    assert tree.problems == ()


def test_article_attributes_and_inherited_service_name() -> None:
    tree = build_trees(load_config(ARTICLE))["test"]
    script = tree.find("script", "test_svc")
    assert script is not None
    assert script.primary == "test_svc"
    assert dict(script.attrs) == {"name": "test_svc", "file": "/etc/init.d/test", "service_name": "test"}
    assert script.inherited == frozenset({"service_name"})
    fs = tree.find("fs", "test_fs")
    assert fs is not None and fs.get("mountpoint") == "/mnt/magi/test" and fs.flag("force_unmount")
    assert tree.parent(script) is fs
    assert labels(tree.ancestors(script)) == ["fs:test_fs", "lvm:tes_lv", "service:test"]


def test_siblings_start_by_service_level_whatever_the_document_order() -> None:
    config = config_of(
        """
        <service name="web">
          <script name="app" file="/etc/init.d/app"/>
          <ip address="10.0.0.50/24" monitor_link="0"/>
          <fs name="data" device="/dev/sdb1" mountpoint="/srv"/>
          <lvm name="vol" vg_name="vg0"/>
        </service>"""
    )
    tree = build_trees(config)["web"]
    assert labels(tree.start_order()) == ["service:web", "lvm:vol", "fs:data", "ip:10.0.0.50/24", "script:app"]
    # Stop levels: script 1, ip 2, fs 8, lvm 9.
    assert labels(tree.stop_order()) == ["script:app", "ip:10.0.0.50/24", "fs:data", "lvm:vol", "service:web"]


def test_several_resources_of_one_type_keep_document_order_and_reverse_it_on_stop() -> None:
    config = config_of(
        """
        <service name="s">
          <script name="b" file="/etc/init.d/b"/>
          <fs name="f1" device="/dev/sdb1" mountpoint="/a"/>
          <script name="a" file="/etc/init.d/a"/>
          <fs name="f2" device="/dev/sdb2" mountpoint="/b"/>
        </service>"""
    )
    tree = build_trees(config)["s"]
    assert labels(tree.start_order()) == ["service:s", "fs:f1", "fs:f2", "script:b", "script:a"]
    assert labels(tree.stop_order()) == ["script:a", "script:b", "fs:f2", "fs:f1", "service:s"]


def test_children_of_fs_by_fs_levels_then_untyped_in_document_order() -> None:
    # fs declares fs/clusterfs (start 1, stop 3) and nfsexport (start 3, stop 1); script and ip are untyped.
    config = config_of(
        """
        <service name="nfs">
          <fs name="top" device="/dev/sdb1" mountpoint="/export">
            <script name="s1" file="/etc/init.d/s1"/>
            <nfsexport name="exp">
              <nfsclient name="world" target="*"/>
            </nfsexport>
            <ip address="10.0.0.7"/>
            <fs name="inner" device="/dev/sdb2" mountpoint="/export/inner"/>
          </fs>
        </service>"""
    )
    tree = build_trees(config)["nfs"]
    assert labels(tree.start_order()) == [
        "service:nfs",
        "fs:top",
        "fs:inner",
        "nfsexport:exp",
        "nfsclient:world",
        "script:s1",
        "ip:10.0.0.7",
    ]
    assert labels(tree.stop_order()) == [
        "ip:10.0.0.7",
        "script:s1",
        "nfsclient:world",
        "nfsexport:exp",
        "fs:inner",
        "fs:top",
        "service:nfs",
    ]
    export = tree.find("nfsexport", "exp")
    client = tree.find("nfsclient", "world")
    assert export is not None and client is not None
    assert export.get("path") == "/export" and export.get("device") == "/dev/sdb1"  # fs's mountpoint, device
    assert client.get("path") == "/export" and client.get("service_name") == "nfs"  # nfsexport's inherited path
    assert client.inherited >= {"path", "svcname", "service_name"}


def hand_config(services: tuple[Service, ...], resources: tuple[Resource, ...] = ()) -> ClusterConfig:
    base = config_of("")
    rm = type(base.rm)(services=services, resources=resources)
    return ClusterConfig(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "rm": rm})


def test_untyped_children_of_a_service_start_last_and_stop_first() -> None:
    res = Resource
    service = Service(
        name="mixed",
        attrs=(("name", "mixed"),),
        children=(
            res("systemd", (("name", "web"), ("unit", "nginx.service"))),
            res("script", (("name", "s"), ("file", "/etc/init.d/s"))),
            res("apache", (("name", "httpd"),)),
            res("ip", (("address", "10.1.1.1"),)),
            res("ocf", (("name", "d"), ("agent", "ocf:heartbeat:Dummy"))),
        ),
    )
    tree = build_trees(hand_config((service,)))["mixed"]
    assert labels(tree.start_order()) == [
        "service:mixed",
        "ip:10.1.1.1",
        "script:s",
        "systemd:web",
        "apache:httpd",
        "ocf:d",
    ]
    assert labels(tree.stop_order()) == [
        "ocf:d",
        "apache:httpd",
        "systemd:web",
        "script:s",
        "ip:10.1.1.1",
        "service:mixed",
    ]
    apache = tree.find("apache", "httpd")
    assert apache is not None and apache.get("service_name") == "mixed"  # apache.sh inherits service%name too


def test_references_resolve_to_the_global_definition_with_per_reference_specials() -> None:
    config = config_of(
        """
        <resources>
          <ip address="10.0.0.50/24" monitor_link="1"/>
          <fs name="data" device="/dev/sdb1" mountpoint="/srv" fstype="ext3"/>
          <script name="app" file="/etc/init.d/app"/>
        </resources>
        <service name="svc1">
          <fs ref="data" __independent_subtree="1">
            <script ref="app"/>
          </fs>
          <ip ref="10.0.0.50/24"/>
        </service>"""
    )
    tree = build_trees(config)["svc1"]
    # A child starts right after its parent, before the parent's later-level siblings.
    assert labels(tree.start_order()) == ["service:svc1", "fs:data", "script:app", "ip:10.0.0.50/24"]
    assert labels(tree.stop_order()) == ["ip:10.0.0.50/24", "script:app", "fs:data", "service:svc1"]
    fs = tree.find("fs", "data")
    script = tree.find("script", "app")
    assert fs is not None and script is not None
    assert fs.ref == "data" and fs.get("device") == "/dev/sdb1" and fs.get("fstype") == "ext3"
    assert dict(fs.special) == {"__independent_subtree": "1"} and "__independent_subtree" not in fs.attrs
    assert fs.independent == "restart"
    assert script.ref == "app" and script.get("service_name") == "svc1"
    assert tree.independent_root(script) is fs
    assert tree.independent_root(tree.find("ip", "10.0.0.50/24")) is None  # type: ignore[arg-type]


def test_a_shared_script_appears_in_both_trees_as_one_resource() -> None:
    config = config_of(
        """
        <resources><script name="shared" file="/etc/init.d/shared"/></resources>
        <service name="a"><script ref="shared"/></service>
        <service name="b"><script ref="shared"/></service>"""
    )
    trees = build_trees(config)
    first = trees["a"].find("script", "shared")
    second = trees["b"].find("script", "shared")
    assert first is not None and second is not None
    assert first.key == second.key == ("script", "shared")
    assert first.uid != second.uid
    # Each use inherits its own service's name.
    assert (first.get("service_name"), second.get("service_name")) == ("a", "b")
    assert trees["a"].problems == trees["b"].problems == ()


def test_own_value_wins_over_inheritance() -> None:
    config = config_of('<service name="s"><script name="x" file="/bin/true" service_name="explicit"/></service>')
    script = build_trees(config)["s"].find("script", "x")
    assert script is not None and script.get("service_name") == "explicit" and not script.inherited


def test_action_overrides_replace_intervals_per_depth_and_for_all_depths() -> None:
    config = config_of(
        """
        <service name="s">
          <fs name="f" device="/dev/sdb1" mountpoint="/f">
            <action name="status" depth="20" interval="5m"/>
          </fs>
          <script name="x" file="/bin/true"><action name="status" depth="*" interval="7" timeout="3"/></script>
        </service>"""
    )
    tree = build_trees(config)["s"]
    fs = tree.find("fs", "f")
    script = tree.find("script", "x")
    assert fs is not None and script is not None
    assert {(a.depth, a.interval) for a in fs.status_actions()} == {(0, 60), (10, 30), (20, 300)}
    assert [(a.depth, a.interval, a.timeout) for a in script.status_actions()] == [(0, 7, 3)]


def test_defaults_of_the_catalogue_are_visible_through_get_but_not_attrs() -> None:
    config = config_of('<service name="s"><ip address="10.0.0.9"/></service>')
    ip = build_trees(config)["s"].find("ip", "10.0.0.9")
    assert ip is not None
    assert ip.get("monitor_link") == "1" and ip.get("sleeptime") == "10"
    assert "monitor_link" not in ip.attrs


def test_problems_missing_primary_required_unknown_type_and_overuse() -> None:
    res = Resource
    shared_fs = res("fs", (("name", "d"), ("device", "/dev/x"), ("mountpoint", "/d")))
    one = Service("one", attrs=(("name", "one"),), children=(shared_fs, res("frobnicator", (("name", "z"),))))
    two = Service(
        "two",
        attrs=(("name", "two"),),
        children=(shared_fs, res("script", (("file", "/bin/true"),)), res("lvm", (("name", "v"),))),
    )
    trees = build_trees(hand_config((one, two)))
    assert [(p.severity, p.where) for p in trees["one"].problems] == [("warning", "frobnicator:z")]
    assert trees["one"].errors == ()
    messages = [p.message for p in trees["two"].errors]
    assert any("primary attribute 'name' is missing" in m for m in messages)
    assert any("required attribute 'vg_name' is missing" in m for m in messages)
    assert any("already used by service one" in m for m in messages)


def test_forbidden_child_is_an_error() -> None:
    res = Resource
    ip = res("ip", (("address", "10.0.0.1"),), children=(res("nfsclient", (("name", "c"), ("target", "*"))),))
    tree = build_trees(hand_config((Service("s", attrs=(("name", "s"),), children=(ip,)),)))["s"]
    assert [p.message for p in tree.errors] == ["a ip resource cannot contain a nfsclient resource"]


def test_every_rhcs_type_is_known_with_its_primary() -> None:
    for name in ("service", "lvm", "fs", "clusterfs", "netfs", "nfsexport", "nfsclient", "ip", "script", "smb"):
        assert name in TYPES
    for name in ("apache", "mysql", "postgres-8", "samba", "tomcat-5", "openldap", "vm", "ocf", "systemd"):
        assert name in TYPES
    assert type_spec("ip").primary == "address"
    assert type_spec("SAPDatabase").primary == "SID"
    assert type_spec("whatever").known is False
    service = type_spec("service")
    levels = {c.type: (c.start, c.stop) for c in service.children}
    assert levels == {
        "lvm": (1, 9),
        "fs": (2, 8),
        "clusterfs": (3, 7),
        "netfs": (4, 6),
        "nfsexport": (5, 5),
        "nfsclient": (6, 4),
        "ip": (7, 2),
        "smb": (8, 3),
        "script": (9, 1),
    }
    intervals = {(a.depth, a.interval) for a in type_spec("fs").actions if a.name == "status"}
    assert intervals == {(0, 60), (10, 30), (20, 60)}
    assert {(a.depth, a.interval) for a in type_spec("ip").actions if a.name == "status"} == {(0, 20), (10, 60)}
    assert [a.interval for a in type_spec("script").actions if a.name == "status"] == [30]
    assert [a.interval for a in type_spec("lvm").actions if a.name == "status"] == [3600]


def test_subtree_orders_for_independent_restart() -> None:
    tree = build_trees(load_config(ARTICLE))["test"]
    fs = tree.find("fs", "test_fs")
    assert fs is not None
    assert labels(tree.start_order(fs)) == ["fs:test_fs", "script:test_svc"]
    assert labels(tree.stop_order(fs)) == ["script:test_svc", "fs:test_fs"]


def test_action_override_on_the_service_itself() -> None:
    service = Service("s", attrs=(("name", "s"),), actions=(Action("status", "0", 600, None),))
    tree = build_trees(hand_config((service,)))["s"]
    assert [(a.depth, a.interval) for a in tree.root.status_actions()] == [(0, 600)]


def test_children_keep_rgmanagers_load_order_declared_types_first() -> None:
    # nfsexport declares nfsclient without a level: loaded with the typed children, started with the untyped.
    config = config_of(
        """
        <service name="s">
          <fs name="f" device="/dev/x" mountpoint="/x">
            <nfsexport name="e">
              <script name="a" file="/etc/init.d/a"/>
              <nfsclient name="c1" target="@one"/>
              <nfsclient name="c2" target="@two"/>
            </nfsexport>
          </fs>
        </service>"""
    )
    tree = build_trees(config)["s"]
    export = tree.find("nfsexport", "e")
    assert export is not None and [c.label for c in export.children] == ["nfsclient:c1", "nfsclient:c2", "script:a"]
    assert labels(tree.start_order(export)) == ["nfsexport:e", "nfsclient:c1", "nfsclient:c2", "script:a"]
    assert labels(tree.stop_order(export)) == ["script:a", "nfsclient:c2", "nfsclient:c1", "nfsexport:e"]


def test_inheritance_reads_the_parent_or_the_named_ancestor_as_rgmanager_did() -> None:
    config = config_of(
        """
        <service name="s" nfslock="1">
          <lvm name="v" vg_name="vg">
            <fs name="under-lvm" device="/dev/a" mountpoint="/a"/>
          </lvm>
          <script name="sc" file="/etc/init.d/sc">
            <fs name="under-script" device="/dev/b" mountpoint="/b"/>
          </script>
        </service>"""
    )
    tree = build_trees(config)["s"]
    under_lvm, under_script = tree.find("fs", "under-lvm"), tree.find("fs", "under-script")
    assert under_lvm is not None and under_script is not None
    # fs inherits "nfslock" from its parent: lvm's own nfslock is service%nfslock, so it resolves to 1.
    assert under_lvm.get("nfslock") == "1" and "nfslock" in under_lvm.inherited
    # A script has no nfslock parameter: rgmanager looked no further than the parent, so it is unresolved.
    assert "nfslock" not in under_script.attrs and under_script.unresolved == frozenset({"nfslock"})
    # Declared defaults of an ancestor count: nfs_client_cache is 0 unless set.
    client = build_trees(config_of('<service name="t"><nfsclient name="c" target="*"/></service>'))["t"].find(
        "nfsclient", "c"
    )
    assert client is not None and client.get("use_cache") == "0" and "use_cache" in client.inherited


def test_the_conditional_walks_of_a_reconfiguration_visit_children_like_rgmanager() -> None:
    from quorate.config.rgtree import child_sequence

    config = config_of(
        """
        <service name="s">
          <apache name="w"/>
          <script name="sc" file="/etc/init.d/sc"/>
          <ip address="10.0.0.1"/>
          <ocf name="o" agent="Dummy"/>
        </service>"""
    )
    root = build_trees(config)["s"].root
    assert labels(child_sequence(root, "start")) == ["ip:10.0.0.1", "script:sc", "apache:w", "ocf:o"]
    assert labels(child_sequence(root, "stop")) == ["ocf:o", "apache:w", "script:sc", "ip:10.0.0.1"]
    # condstop and condstart: the untyped in reverse, then the typed by start level.
    for walk in ("condstop", "condstart"):
        assert labels(child_sequence(root, walk)) == ["ocf:o", "apache:w", "ip:10.0.0.1", "script:sc"]


def test_independent_root_is_the_outermost_and_never_the_group() -> None:
    config = config_of(
        """
        <service name="s" __independent_subtree="1">
          <fs name="f" device="/dev/x" mountpoint="/x" __independent_subtree="yes">
            <script name="a" file="/etc/init.d/a" __independent_subtree="2"/>
          </fs>
        </service>"""
    )
    tree = build_trees(config)["s"]
    fs, script = tree.find("fs", "f"), tree.find("script", "a")
    assert fs is not None and script is not None
    assert tree.root.independent is None and script.independent == "non-critical"
    assert tree.independent_root(script) is fs
