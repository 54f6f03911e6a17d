"""Helpers shared by the resource tests (imported by name: a conftest module cannot be imported safely when
several test directories each have one)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from quorate.config import ClusterConfig, parse_config

NODES = """
  <clusternodes>
    <clusternode name="balthasar.localdomain" votes="1" nodeid="1"/>
    <clusternode name="casper.localdomain" votes="1" nodeid="2"/>
    <clusternode name="melchior.localdomain" votes="1" nodeid="3"/>
  </clusternodes>
"""


def cluster_text(rm: str, version: int = 1) -> str:
    return f'<?xml version="1.0"?>\n<cluster name="magi" config_version="{version}">{NODES}<rm>{rm}</rm></cluster>\n'


def config_of(rm: str, version: int = 1) -> ClusterConfig:
    """A ClusterConfig whose ``<rm>`` is ``rm`` (three nodes, cluster magi)."""
    return parse_config(cluster_text(rm, version))


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=check)


@dataclass
class Loop:
    device: str
    image: Path
    label: str
    uuid: str
