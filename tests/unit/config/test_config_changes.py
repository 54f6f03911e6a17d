"""Change sets between two configurations (plan_change) and the rules a pushed file must follow (check_successor)."""

from __future__ import annotations

import json

from config_samples import ARTICLE_1, ARTICLE_2, BASE

from quorate.config import ClusterConfig, parse_config
from quorate.config.changes import check_successor, describe, plan_change, quorum_all_up


def cfg(text: str, version: int = 7) -> ClusterConfig:
    return parse_config(text.replace('config_version="7"', f'config_version="{version}"'), "new.conf")


def edit(*replacements: tuple[str, str], base: str = BASE) -> str:
    for old, new in replacements:
        assert old in base, old
        base = base.replace(old, new, 1)
    return base


NODE_4 = """    <clusternode name="caspar.localdomain" nodeid="4">
      <fence><method name="ipmi"><device name="ipmi" port="4"/></method></fence>
    </clusternode>
  </clusternodes>"""

TWO_SERVICES = """    <service name="web" domain="ring01" recovery="relocate">
      <ip ref="10.0.0.50/24">
        <script ref="app"/>
      </ip>
    </service>
    <service name="db">
      <fs name="dbdata" device="/dev/vg/db" mountpoint="/srv/db" options="noatime">
        <script name="dbd" file="/etc/init.d/db"/>
      </fs>
    </service>
    <service name="files">
      <fs name="files" device="/dev/vg/files" mountpoint="/srv/files"/>
    </service>"""


def two_services() -> str:
    start = BASE.index('    <service name="web"')
    end = BASE.index("    </service>") + len("    </service>")
    return BASE[:start] + TWO_SERVICES + BASE[end:]


def test_the_articles_update_adds_a_domain_and_a_service_that_stays_stopped() -> None:
    old = parse_config(ARTICLE_1.read_bytes(), str(ARTICLE_1))
    new = parse_config(ARTICLE_2.read_bytes(), str(ARTICLE_2))
    change = plan_change(old, new)
    assert (change.version_before, change.version_after) == (1, 3)
    assert change.nodes == () and not change.votes.changed
    (domain,) = change.domains
    assert (domain.name, domain.kind, domain.services) == ("ring01", "added", ("test",))
    (service,) = change.services
    assert (service.name, service.action, service.stays_stopped) == ("test", "add", True)
    assert service.start == ("service:test", "lvm:tes_lv", "fs:test_fs", "script:test_svc")
    assert "service test: added, stays stopped until `clusvcadm -e test`" in describe(change)
    assert check_successor(old, new) == []


def test_adding_a_node_recomputes_votes_and_quorum() -> None:
    old = cfg(BASE)
    new = cfg(edit(("  </clusternodes>", NODE_4), ('<cman expected_votes="3"/>', "<cman/>")), 8)
    change = plan_change(old, new)
    (node,) = change.nodes
    assert (node.name, node.kind, node.nodeid, node.votes_after) == ("caspar.localdomain", "added", 4, 1)
    assert (change.votes.expected_before, change.votes.expected_after) == (3, 4)
    assert (change.votes.quorum_before, change.votes.quorum_after) == (2, 3)
    assert change.votes.quorum_after == quorum_all_up(new)
    lines = describe(change)
    assert "node caspar.localdomain: added (nodeid 4, votes 1)" in lines
    assert any(
        line.startswith("votes: expected 3 -> 4 (sum of node votes)") and line.endswith("2 -> 3") for line in lines
    )
    # consensus is derived from the node count (3 nodes: token + 2000), so it does not move here.
    assert change.totem == ()


def test_removed_node_changed_votes_and_changed_address() -> None:
    old = cfg(BASE)
    text = edit(
        ('<clusternode name="casper.localdomain" nodeid="2">', '<clusternode name="casper2.localdomain" nodeid="2">'),
        ('<failoverdomainnode name="casper.localdomain"', '<failoverdomainnode name="casper2.localdomain"'),
        ('nodeid="1" votes="1"', 'nodeid="1" votes="2"'),
        ('<cman expected_votes="3"/>', '<cman expected_votes="4"/>'),
    )
    start = text.index('    <clusternode name="melchior')
    end = text.index("</clusternode>", start) + len("</clusternode>\n")
    new = cfg(text[:start] + text[end:], 8)
    change = plan_change(old, new)
    kinds = {(n.nodeid, n.kind): n for n in change.nodes}
    assert [str(f) for f in kinds[(1, "changed")].fields] == ["votes 1 -> 2"]
    assert [str(f) for f in kinds[(2, "changed")].fields] == ["name casper.localdomain -> casper2.localdomain"]
    assert kinds[(3, "removed")].name == "melchior.localdomain"
    assert (change.votes.node_votes_before, change.votes.node_votes_after) == (3, 3)
    assert (change.votes.expected_before, change.votes.expected_after) == (3, 4)
    # 2 nodes: consensus becomes 0.2 x token clamped to 2000 ms.
    assert [str(f) for f in change.totem] == ["consensus_ms 23000 -> 2000"]
    domain = change.domains[0]
    assert domain.name == "ring01" and domain.services == ("web",)


def test_token_and_fencing_changes() -> None:
    old = cfg(BASE)
    new = cfg(
        edit(
            ('<totem token="21000"/>', '<totem token="30000"/>'),
            ('ipaddr="10.0.0.1"', 'ipaddr="10.0.0.2"'),
            ('<device name="ipmi" port="3"/>', '<device name="ipmi" port="33"/>'),
            ("</fencedevices>", '  <fencedevice name="spare" agent="fence_manual"/>\n  </fencedevices>'),
        ),
        8,
    )
    change = plan_change(old, new)
    assert [str(f) for f in change.totem] == ["token_ms 21000 -> 30000", "consensus_ms 23000 -> 32000"]
    devices = {d.name: d for d in change.fence_devices}
    assert devices["ipmi"].kind == "changed" and [str(f) for f in devices["ipmi"].fields] == [
        "ipaddr 10.0.0.1 -> 10.0.0.2"
    ]
    assert devices["ipmi"].used_by == ("balthasar.localdomain", "casper.localdomain", "melchior.localdomain")
    assert devices["spare"].kind == "added" and devices["spare"].used_by == ()
    (node,) = change.nodes
    assert node.name == "melchior.localdomain"
    assert [str(f) for f in node.fields] == ["fence ipmi: ipmi(port=3) -> ipmi: ipmi(port=33)"]
    assert change.services == ()


def test_a_changed_resource_restarts_only_the_service_that_contains_it() -> None:
    old = cfg(two_services())
    new = cfg(edit(('options="noatime"', 'options="noatime,nodiratime"'), base=two_services()), 8)
    change = plan_change(old, new)
    (db,) = change.services
    assert (db.name, db.action, db.whole) == ("db", "restart", False)
    assert db.causes == ("fs:dbdata changed: options",)
    # The file system restarts with what sits on it; the service itself keeps running.
    assert db.stop == ("script:dbd", "fs:dbdata") and db.start == ("fs:dbdata", "script:dbd")
    assert describe(change)[-1] == (
        "service db: restart (fs:dbdata changed: options): stops script:dbd, fs:dbdata, then starts fs:dbdata, "
        "script:dbd; the rest of the service keeps running"
    )


def test_a_changed_global_resource_restarts_every_service_using_it() -> None:
    text = edit(
        (
            "    </service>\n  </rm>",
            '    </service>\n    <service name="api">\n      <script ref="app"/>\n    </service>\n  </rm>',
        )
    )
    old = cfg(text)
    new = cfg(edit(('file="/etc/init.d/app"', 'file="/etc/init.d/app2"'), base=text), 8)
    change = plan_change(old, new)
    assert sorted(s.name for s in change.services) == ["api", "web"]
    assert all(s.causes == ("script:app changed: file",) for s in change.services)


def test_placement_change_stops_nothing_and_service_node_change_restarts_whole() -> None:
    old = cfg(two_services())
    new = cfg(
        edit(
            ('<service name="web" domain="ring01" recovery="relocate">', '<service name="web" recovery="restart">'),
            ('<service name="files">', '<service name="files" nfslock="1">'),
            base=two_services(),
        ),
        8,
    )
    change = plan_change(old, new)
    web = change.service("web")
    assert web is not None and web.action == "placement" and web.stop == () and web.start == ()
    assert [str(f) for f in web.placement] == ["domain ring01 -> (none)", "recovery relocate -> restart"]
    assert "service web: placement: domain ring01 -> (none), recovery relocate -> restart, nothing stops" in (
        describe(change)
    )
    files = change.service("files")
    assert files is not None and files.action == "restart" and files.whole
    assert files.causes == ("service:files changed: nfslock",)


def test_added_and_removed_services() -> None:
    old = cfg(two_services())
    text = two_services()
    start = text.index('    <service name="db">')
    end = text.index("    </service>", start) + len("    </service>\n")
    new_text = text[:start] + text[end:]
    new_text = new_text.replace("  </rm>", '    <service name="mail" autostart="0"/>\n  </rm>')
    change = plan_change(old, cfg(new_text, 8))
    db = change.service("db")
    assert db is not None and db.action == "remove" and db.stop == ("script:dbd", "fs:dbdata", "service:db")
    mail = change.service("mail")
    assert mail is not None and mail.action == "add" and mail.stays_stopped
    lines = describe(change)
    assert "service db: removed, stopped first (script:dbd, fs:dbdata, service:db)" in lines
    assert "service mail: added, stays stopped until `clusvcadm -e mail`" in lines


def test_unchanged_content_is_an_empty_change_and_json_round_trips() -> None:
    old = cfg(BASE)
    new = cfg(BASE.replace("  <rm>", "  <!-- reformatted -->\n  <rm>"), 8)
    change = plan_change(old, new)
    assert change.empty and describe(change) == ["config_version 7 -> 8"]
    data = json.loads(json.dumps(plan_change(cfg(two_services()), cfg(BASE, 8)).to_dict()))
    assert data["empty"] is False
    assert {s["name"]: s["action"] for s in data["services"]} == {"db": "remove", "files": "remove"}
    assert data["votes"]["quorum_after"] == 2


def test_quorum_disk_changes_say_what_needs_a_restart() -> None:
    old = parse_config(ARTICLE_2.read_bytes(), "old.conf")
    text = ARTICLE_2.read_text().replace('config_version="3"', 'config_version="4"')
    new = parse_config(text.replace('tko="20"', 'tko="25"').replace('votes="2"', 'votes="1"'), "new.conf")
    change = plan_change(old, new)
    assert change.quorumd is not None and change.quorumd.restart_fields[0] == "tko"
    assert "votes" not in change.quorumd.restart_fields
    assert (change.votes.qdisk_votes_before, change.votes.qdisk_votes_after) == (2, 1)
    assert (change.votes.quorum_before, change.votes.quorum_after) == (3, 3)
    (warning,) = check_successor(old, new)
    assert warning.severity == "warning" and warning.path == "/cluster/quorumd" and "tko" in warning.message


def test_successor_needs_a_higher_version_and_names_both() -> None:
    running = cfg(BASE, 7)
    for version in (7, 3):
        (problem,) = check_successor(running, cfg(BASE, version))
        assert problem.severity == "error" and problem.attribute == "config_version"
        assert problem.message == f"config_version {version} is not higher than the running version 7"
        assert problem.hint == "set config_version to 8 or more"
        assert str(problem).startswith("new.conf:2: /cluster[@config_version]: ")
    assert check_successor(running, cfg(BASE, 8)) == []


def test_successor_cannot_change_who_talks_to_whom() -> None:
    running = cfg(BASE, 7)
    changed = cfg(
        edit(
            (
                '<cman expected_votes="3"/>',
                '<cman expected_votes="3" port="6000"><multicast addr="239.192.1.1"/></cman>',
            )
        ),
        8,
    )
    problems = check_successor(running, changed)
    assert {(p.path, p.attribute) for p in problems} == {("/cluster/cman", "port"), ("/cluster/cman/multicast", "addr")}
    assert any(p.message == "the cluster port cannot change while the cluster runs (5405 -> 6000)" for p in problems)
    other = cfg(BASE.replace('name="magi"', 'name="other"'), 8)
    (problem,) = check_successor(running, other)
    assert problem.message == "the file is for cluster 'other', but this node runs cluster 'magi'"


def test_successor_may_not_drop_a_running_member() -> None:
    running = cfg(BASE, 7)
    start = BASE.index('    <clusternode name="melchior')
    end = BASE.index("</clusternode>", start) + len("</clusternode>\n")
    smaller = cfg(BASE[:start] + BASE[end:], 8)
    assert check_successor(running, smaller, members=["balthasar.localdomain", "casper.localdomain"]) == []
    (problem,) = check_successor(running, smaller, members=["balthasar.localdomain", "melchior.localdomain"])
    assert problem.message == "node melchior.localdomain is a member of the cluster now but is not in the file"
