"""Sizes beyond what quorate is measured with load, with a warning that says where and why (never a refusal)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from quorate.cli.config_cmd import config as config_command
from quorate.config.parser import parse_config
from quorate.config.validate_rm import SUPPORTED_SERVICES


def _conf(services: int) -> str:
    lines = ['<?xml version="1.0"?>', '<cluster name="big" config_version="1">', "  <clusternodes>"]
    lines += [f'    <clusternode name="n{i}" nodeid="{i}"/>' for i in (1, 2, 3)]
    lines += ["  </clusternodes>", "  <rm>"]
    lines += [f'    <service name="svc{i:05d}" autostart="1"/>' for i in range(services)]
    lines += ["  </rm>", "</cluster>", ""]
    return "\n".join(lines)


def test_more_services_than_measured_load_with_a_located_warning() -> None:
    cfg = parse_config(_conf(SUPPORTED_SERVICES + 1))
    assert len(cfg.rm.services) == SUPPORTED_SERVICES + 1  # loaded, nothing lost
    (warning,) = [w for w in cfg.warnings if "measured with at most" in w.message]
    assert warning.severity == "warning" and warning.line == 8 and warning.path == "/cluster/rm"
    assert f"{SUPPORTED_SERVICES + 1} services are defined" in warning.message
    at_limit = parse_config(_conf(SUPPORTED_SERVICES))
    assert not [w for w in at_limit.warnings if "measured with at most" in w.message]


def test_config_validate_prints_the_warning_with_its_line_and_still_says_valid(tmp_path: Path) -> None:
    path = tmp_path / "cluster.conf"
    path.write_text(_conf(SUPPORTED_SERVICES + 5))
    result = CliRunner().invoke(config_command, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}:8: /cluster/rm" in result.output and "measured with at most" in result.output
    assert f"valid: cluster big, config_version 1, 3 nodes, {SUPPORTED_SERVICES + 5} services" in result.output
