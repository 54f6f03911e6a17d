"""Bringing up a scale testbed: the generated cluster.conf (``scale.py``) on N namespace hosts, ready to fence.

Theory of operation: ``up_scale`` is what ``quorate testbed up --nodes N``, the scale end-to-end test and
``python -m bench scale`` share.  The configuration is generated into a temporary file (the testbed copies it
to every node's disk and keeps a copy as ``scale-cluster.conf`` in its run directory), the hosts are built
without daemons, each node's disk gets the service script and one link per service to it, the power switch
starts (fence_netns needs it), and only then the daemons start, all at once, the way a cluster is booted.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from quorate.testbed.power import start_power_switch
from quorate.testbed.scale import SERVICE_LINKS, SERVICE_SCRIPT, ScaleShape, scale_conf, service_name, service_script
from quorate.testbed.testbed import Testbed

KEPT_CONF = "scale-cluster.conf"


def install_service_files(node_dir: Path, services: int) -> None:
    """The service script and its per-service links on one node's disk (paths as the node sees them)."""
    script = node_dir / SERVICE_SCRIPT.lstrip("/")
    script.write_text(service_script())
    script.chmod(0o755)
    links = node_dir / SERVICE_LINKS.lstrip("/")
    links.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(SERVICE_SCRIPT, SERVICE_LINKS)
    for index in range(1, services + 1):
        link = links / service_name(index)
        if not link.is_symlink():
            link.symlink_to(target)


def up_scale(
    shape: ScaleShape,
    *,
    prefix: str = "qt",
    key_path: str | Path | None = None,
    start_daemons: bool = True,
    daemon_args: Sequence[str] = (),
) -> Testbed:
    """Build the scale testbed of ``shape`` under ``prefix`` (replacing any testbed of that prefix)."""
    text = scale_conf(shape)
    with tempfile.TemporaryDirectory(prefix="quorate-scale-") as scratch:
        conf = Path(scratch) / "cluster.conf"
        conf.write_text(text)
        bed = Testbed.up(conf, prefix=prefix, key_path=key_path, start_daemons=False, daemon_args=daemon_args)
    try:
        (bed.run_dir / KEPT_CONF).write_text(text)
        for node in bed.nodes:
            install_service_files(bed.node_dir(node), shape.services)
        start_power_switch(bed, secret=shape.fence_secret)
        if start_daemons:
            for node in bed.nodes:
                bed.start_daemon(node)
    except BaseException:
        bed.down()
        raise
    return bed
