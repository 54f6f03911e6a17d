"""The scale testbed's generated cluster.conf: it loads cleanly, spreads services, refuses impossible shapes."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from quorate.cli import testbed_cmd
from quorate.config import parse_config
from quorate.config.validate import SUPPORTED_NODES
from quorate.testbed.conf import TestbedError, read_nodes
from quorate.testbed.scale import (
    MAX_NODES,
    MAX_SERVICES,
    SERVICE_LINKS,
    SERVICE_SCRIPT,
    ScaleShape,
    domain_members,
    home_node,
    node_name,
    scale_conf,
    service_script,
    services_of,
)
from quorate.testbed.scale_bed import install_service_files


def test_sixteen_nodes_twenty_services_load_without_problems() -> None:
    cfg = parse_config(scale_conf(ScaleShape(nodes=16, services=20, token_ms=5000)))
    assert not [w for w in cfg.warnings if w.severity != "ignored"], cfg.warnings
    assert [n.name for n in cfg.nodes] == [node_name(i) for i in range(1, 17)]
    assert [n.nodeid for n in cfg.nodes] == list(range(1, 17))
    assert cfg.token_ms == 5000
    assert not cfg.multicast_explicit  # unicast unless asked
    assert len(cfg.rm.services) == 20
    assert {s.name for s in cfg.rm.services} == {f"svc{i:04d}" for i in range(1, 21)}


def test_nodes_get_testbed_addresses_up_to_32(tmp_path: Path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text(scale_conf(ScaleShape(nodes=MAX_NODES)))
    specs = read_nodes(conf)
    assert MAX_NODES == SUPPORTED_NODES == 32
    assert [spec.address for spec in specs][:2] == ["192.168.0.201", "192.168.0.202"]
    assert specs[-1].address == "192.168.0.232"
    assert len({spec.veth() for spec in specs}) == len({spec.netns("qt123abc") for spec in specs}) == 32


def test_every_node_is_fenced_through_the_power_switch() -> None:
    cfg = parse_config(scale_conf(ScaleShape(nodes=4, fence_secret="s3cret")))
    (device,) = cfg.fencedevices
    assert device.agent == "fence_netns"
    assert dict(device.attrs)["passwd"] == "s3cret" and dict(device.attrs)["action"] == "off"
    for node in cfg.nodes:
        assert [[ref.name for ref in method.devices] for method in node.fence] == [["switch"]]


def test_multicast_is_explicit_when_asked() -> None:
    cfg = parse_config(scale_conf(ScaleShape(nodes=3, multicast="239.192.9.9")))
    assert cfg.multicast_explicit and cfg.multicast_address == "239.192.9.9"


def test_services_are_spread_evenly_and_fail_over_within_their_group() -> None:
    assert Counter(home_node(i, 16) for i in range(1, 101)) == Counter(
        {node_name(n): 7 if n <= 4 else 6 for n in range(1, 17)}
    )
    assert services_of(node_name(3), 20, 16) == ["svc0003", "svc0019"]
    # Node 6 is in the group of nodes 5..8: its services go to 7, then 8, then 5.
    assert domain_members(6, 16) == [node_name(n) for n in (6, 7, 8, 5)]
    # A last group smaller than the others (nodes 9 and 10 of 10).
    assert domain_members(10, 10) == [node_name(10), node_name(9)]
    cfg = parse_config(scale_conf(ScaleShape(nodes=16, services=20)))
    service = next(s for s in cfg.rm.services if s.name == "svc0006")
    assert service.domain is not None
    domain = cfg.rm.domain(service.domain)
    assert domain is not None
    assert domain.ordered and not domain.restricted
    assert [member.name for member in sorted(domain.nodes, key=lambda m: m.priority)] == domain_members(6, 16)


def test_the_largest_shape_stays_within_what_cluster_conf_allows() -> None:
    cfg = parse_config(scale_conf(ScaleShape(nodes=MAX_NODES, services=MAX_SERVICES)))
    assert len(cfg.rm.services) == MAX_SERVICES and not [w for w in cfg.warnings if w.severity == "warning"]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (ScaleShape(nodes=0), "--nodes 0: a scale testbed has 2 to 32 nodes"),
        (ScaleShape(nodes=1), "one node is no cluster"),
        (ScaleShape(nodes=33), "32 is the most quorate supports"),
        (ScaleShape(nodes=3, services=-1), "--services -1"),
        (ScaleShape(nodes=3, services=MAX_SERVICES + 1), f"use 0 to {MAX_SERVICES}"),
        (ScaleShape(nodes=3, token_ms=0), "--token 0"),
        (ScaleShape(nodes=3, fence_secret="a b"), "white space"),
    ],
)
def test_impossible_shapes_are_refused_with_the_reason(shape: ScaleShape, message: str) -> None:
    with pytest.raises(TestbedError, match=message):
        scale_conf(shape)


def test_more_nodes_than_supported_load_with_a_located_warning() -> None:
    nodes = "\n".join(f'    <clusternode name="n{i}" nodeid="{i}"/>' for i in range(1, 34))
    text = f'<?xml version="1.0"?>\n<cluster name="big" config_version="1">\n  <clusternodes>\n{nodes}\n'
    text += "  </clusternodes>\n</cluster>\n"
    cfg = parse_config(text)
    (warning,) = [w for w in cfg.warnings if "supports at most 32" in w.message]
    assert warning.severity == "warning" and warning.line == 3 and warning.path == "/cluster/clusternodes"
    assert "33 nodes" in warning.message
    fewer = parse_config(text.replace('    <clusternode name="n33" nodeid="33"/>\n', ""))
    assert not [w for w in fewer.warnings if "supports at most" in w.message]


def test_the_service_script_keeps_one_flag_per_service(tmp_path: Path) -> None:
    script = tmp_path / "svc.sh"
    script.write_text(service_script(str(tmp_path / "flags")))
    script.chmod(0o755)

    def run(action: str, name: str) -> int:
        env = {**os.environ, "OCF_RESKEY_name": name}
        return subprocess.run([str(script), action], env=env, capture_output=True, timeout=10).returncode

    assert run("status", "svc0001") == 3
    assert run("start", "svc0001") == 0
    assert run("status", "svc0001") == 0
    assert run("status", "svc0002") == 3
    assert run("stop", "svc0001") == 0
    assert run("status", "svc0001") == 3
    assert run("stop", "svc0001") == 0  # stopping a stopped service succeeds
    assert run("reload", "svc0001") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "0"], "--nodes 0: a scale testbed has 2 to 32 nodes"),
        (["--nodes", "1"], "one node is no cluster"),
        (["--nodes", "33", "--services", "5"], "32 is the most quorate supports"),
        (["--nodes", "4", "--services", "2001"], "--services 2001: use 0 to 2000"),
        (["--services", "5"], "--services only go with --nodes"),
        (["--multicast"], "--multicast only go with --nodes"),
        ([], "give a cluster.conf (CONF) or --nodes N"),
    ],
)
def test_up_refuses_bad_shapes_before_touching_anything(args: list[str], message: str) -> None:
    result = CliRunner().invoke(testbed_cmd.testbed, ["up", "--prefix", "qtnone", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_up_takes_a_conf_or_nodes_not_both(tmp_path: Path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text(scale_conf(ScaleShape(nodes=3)))
    result = CliRunner().invoke(testbed_cmd.testbed, ["up", str(conf), "--nodes", "3", "--prefix", "qtnone"])
    assert result.exit_code == 2 and "either CONF or --nodes, not both" in result.output


def test_install_service_files_links_every_service_to_the_one_script(tmp_path: Path) -> None:
    (tmp_path / "etc/cluster").mkdir(parents=True)
    install_service_files(tmp_path, 3)
    install_service_files(tmp_path, 3)  # again, as after a re-run: nothing to redo, no error
    links = sorted((tmp_path / SERVICE_LINKS.lstrip("/")).iterdir())
    assert [link.name for link in links] == ["svc0001", "svc0002", "svc0003"]
    script = tmp_path / SERVICE_SCRIPT.lstrip("/")
    assert all(link.resolve() == script.resolve() for link in links)
    assert os.access(script, os.X_OK) and script.read_text() == service_script()
    cfg = parse_config(scale_conf(ScaleShape(nodes=2, services=3)))
    named = [dict(service.children[0].attrs)["file"] for service in cfg.rm.services]
    assert [tmp_path / file.lstrip("/") for file in named] == links  # each service names its own link
