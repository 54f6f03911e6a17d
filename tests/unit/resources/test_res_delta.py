"""Reconfiguration deltas: which resources of which services a new configuration stops, starts or retunes."""

from __future__ import annotations

from res_helpers import config_of

from quorate.resources import delta

BASE = """
<resources><script name="shared" file="/etc/init.d/shared"/></resources>
<service name="test" recovery="relocate">
  <lvm name="tes_lv" vg_name="magi_vg" lv_name="test_lv">
    <fs name="test_fs" device="/dev/magi_vg/test_lv" mountpoint="/mnt/magi/test" fstype="ext3">
      <script name="test_svc" file="/etc/init.d/test"/>
    </fs>
  </lvm>
</service>
<service name="other"><script ref="shared"/></service>
"""


def labels(nodes: tuple) -> list[str]:
    return [n.label for n in nodes]


def test_identical_configurations_change_nothing() -> None:
    changes = delta(config_of(BASE), config_of(BASE, 2))
    assert changes.empty and changes.changed == [] and changes.added == [] and changes.removed == []
    assert changes["test"].kind == "unchanged"


def test_changed_fs_restarts_it_and_everything_below_but_not_above() -> None:
    new = BASE.replace('fstype="ext3"', 'fstype="ext4"')
    changes = delta(config_of(BASE), config_of(new, 2))
    item = changes["test"]
    assert item.kind == "changed" and changes.changed == ["test"]
    assert labels(item.stop) == ["script:test_svc", "fs:test_fs"]
    assert labels(item.start) == ["fs:test_fs", "script:test_svc"]
    assert item.reconfig == () and not item.restarts_service
    assert changes["other"].kind == "unchanged"


def test_placement_settings_of_the_service_are_reconfigured_in_place() -> None:
    new = BASE.replace('recovery="relocate"', 'recovery="restart" autostart="0"')
    item = delta(config_of(BASE), config_of(new, 2))["test"]
    assert item.kind == "changed"
    assert item.stop == () and item.start == ()
    assert labels(item.reconfig) == ["service:test"]


def test_a_service_wide_setting_restarts_the_whole_service() -> None:
    new = BASE.replace('recovery="relocate"', 'recovery="relocate" nfslock="1"')
    item = delta(config_of(BASE), config_of(new, 2))["test"]
    assert item.restarts_service
    assert labels(item.stop) == ["script:test_svc", "fs:test_fs", "lvm:tes_lv", "service:test"]
    assert labels(item.start) == ["service:test", "lvm:tes_lv", "fs:test_fs", "script:test_svc"]


def test_added_and_removed_resources_and_services() -> None:
    new = BASE.replace(
        '<script name="test_svc" file="/etc/init.d/test"/>', '<ip address="10.0.0.5" monitor_link="0"/>'
    ).replace(
        '<service name="other"><script ref="shared"/></service>', '<service name="new"><script ref="shared"/></service>'
    )
    changes = delta(config_of(BASE), config_of(new, 2))
    item = changes["test"]
    assert labels(item.stop) == ["script:test_svc"] and labels(item.start) == ["ip:10.0.0.5"]
    assert changes.removed == ["other"] and changes.added == ["new"]
    assert labels(changes["other"].stop) == ["script:shared", "service:other"]
    assert labels(changes["new"].start) == ["service:new", "script:shared"]


def test_a_change_of_a_global_resource_restarts_it_in_every_service_using_it() -> None:
    both = BASE.replace(
        '<service name="other"><script ref="shared"/></service>',
        '<service name="other"><script ref="shared"/></service><service name="third"><script ref="shared"/></service>',
    )
    new = both.replace('file="/etc/init.d/shared"', 'file="/etc/init.d/shared2"')
    changes = delta(config_of(both), config_of(new, 2))
    assert changes.changed == ["other", "third"]
    for name in ("other", "third"):
        assert labels(changes[name].stop) == ["script:shared"] and labels(changes[name].start) == ["script:shared"]


def test_moving_a_resource_under_another_parent_restarts_it() -> None:
    new = BASE.replace(
        '<script name="test_svc" file="/etc/init.d/test"/>\n    </fs>',
        '</fs>\n    <script name="test_svc" file="/etc/init.d/test"/>',
    )
    item = delta(config_of(BASE), config_of(new, 2))["test"]
    assert labels(item.stop) == ["script:test_svc"] and labels(item.start) == ["script:test_svc"]
    assert item.stop[0].depth == 3 and item.start[0].depth == 2


def test_special_attributes_and_action_overrides_need_no_restart() -> None:
    new = BASE.replace(
        '<script name="test_svc" file="/etc/init.d/test"/>',
        '<script name="test_svc" file="/etc/init.d/test" __max_failures="3">'
        '<action name="status" interval="5"/></script>',
    )
    item = delta(config_of(BASE), config_of(new, 2))["test"]
    assert item.stop == () and item.start == () and labels(item.reconfig) == ["script:test_svc"]


REFS = """
<failoverdomains>
  <failoverdomain name="d1"><failoverdomainnode name="balthasar.localdomain"/></failoverdomain>
  <failoverdomain name="d2"><failoverdomainnode name="casper.localdomain"/></failoverdomain>
</failoverdomains>
<resources>
  <service name="web" domain="d1"/>
  <script name="httpd" file="/etc/init.d/httpd"/>
</resources>
<service ref="web"><script ref="httpd"/></service>
"""


def test_services_used_by_reference_change_through_their_definitions() -> None:
    placed = delta(config_of(REFS), config_of(REFS.replace('domain="d1"', 'domain="d2"'), 2))["web"]
    assert placed.kind == "changed" and labels(placed.reconfig) == ["service:web"] and placed.stop == ()
    restarted = delta(config_of(REFS), config_of(REFS.replace("init.d/httpd", "init.d/apache2"), 2))["web"]
    assert labels(restarted.stop) == ["script:httpd"] and labels(restarted.start) == ["script:httpd"]
    assert not restarted.restarts_service
