"""The article's material for the testbed: its final cluster.conf, its init script and program, and the
changes this machine needs to run them.

Theory of operation: the demo, the benchmarks and end-to-end tests all run the article's service `test`
(ext3 on a shared LUN under the article's `/etc/init.d/test`, which starts `test_cluster.sh`). The article
prints them with web typography (curly quotes, lost backquotes); the copies here are repaired, do not source
`/etc/init.d/functions` (a Red Hat file they never use) and take the loop's period as a parameter (the
article's 10 s makes a demo slow to watch). `testbed_conf` adapts the final cluster.conf to a testbed in the
ways every caller needs and says each one:

* no device-mapper here, so the `lvm` level is left out and the file system sits on the LUN directly;
* `fence_manual` needs a human, so the nodes are fenced by `fence_netns` through the testbed's power switch;
* optionally a shorter token and quorum-disk timings, or no quorum disk at all.

Everything here is pure text except `write_service_files`, which writes the two scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: The article's final cluster.conf (service added, config_version 3), as printed, non-breaking spaces included.
FINAL_CONF = Path(__file__).resolve().parents[1] / "data" / "demo" / "cluster.conf"
MOUNTPOINT = "/mnt/magi/test"
OUTPUT = f"{MOUNTPOINT}/test_cluster.out"
QDISK_LABEL = "magi_qdisk"
NODES = ("balthasar.localdomain", "casper.localdomain", "melchior.localdomain")


def program(period: int = 10) -> str:
    """/usr/local/bin/test_cluster.sh: the date every ``period`` seconds into the shared file system."""
    return f"""#!/bin/bash
while /bin/true
do
     echo "Date/Time :  `date +'%Y-%m-%d %H:%M:%S'`" >> {OUTPUT}
   sleep {period}
done
"""


def init_script(program_path: str | Path) -> str:
    """/etc/init.d/test, starting ``program_path``."""
    return f"""#!/bin/sh
#
# description:  Starts and stops a test service for cluster
# chkconfig: - 99 01
#
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
ID="Test Service for Cluster"
PROG="{program_path}"
PIDFILE=/var/run/test.pid
case $1 in
    start)
        echo -n "Starting $ID: "
        $PROG &
        echo $!  > $PIDFILE
        echo
        ;;
    restart)
        $0 status > /dev/null
        if [ $? -ne 1 ]; then
            $0 stop
        fi
        $0 start
        ;;
    status)
        ps -edf | grep $PROG | grep -v grep
        exit $?
        ;;
    stop)
        cat $PIDFILE 2>/dev/null | xargs -r kill -9
        rm -f $PIDFILE
        ;;
    *)
        echo "usage: $0 {{start|restart|status|stop}}"
        exit 1
        ;;
esac
exit 0
"""


def write_service_files(directory: Path, period: int = 10) -> Path:
    """Write ``test_cluster.sh`` and ``init.d-test`` (both 0755) into ``directory``; returns the init script."""
    directory.mkdir(parents=True, exist_ok=True)
    prog = directory / "test_cluster.sh"
    prog.write_text(program(period))
    prog.chmod(0o755)
    init = directory / "init.d-test"
    init.write_text(init_script(prog))
    init.chmod(0o755)
    return init


@dataclass(frozen=True)
class Timings:
    """Shorter timings than the article's, for a cluster one watches: ``None`` keeps the file's value."""

    token_ms: int | None = None
    qdisk_interval: int | None = None
    qdisk_tko: int | None = None


def testbed_conf(
    device: str,
    init: str | Path,
    *,
    fence_secret: str,
    qdisk: bool = True,
    timings: Timings = Timings(),
    text: str | None = None,
) -> str:
    """The article's final cluster.conf for a testbed: fs on ``device``, fence_netns, chosen timings.

    With ``qdisk=False`` the ``<quorumd>`` element goes (no quorum-disk LUN); otherwise its interval and tko
    may be shortened. ``text`` replaces the article's file (same structure expected).
    """
    text = FINAL_CONF.read_text() if text is None else text
    start, end = text.index("<lvm"), text.index("</lvm>") + len("</lvm>")
    tree = (
        f'<fs name="test_fs" device="{device}" force_fsck="0" force_unmount="1" fstype="ext3" '
        f'mountpoint="{MOUNTPOINT}" options="" self_fence="0">\n'
        f'        <script name="test_svc" file="{init}"/>\n'
        "      </fs>"
    )
    text = text[:start] + tree + text[end:]
    if not qdisk:
        text = re.sub(r"<quorumd[^>]*/>", "", text)
    else:
        if timings.qdisk_interval is not None:
            text = re.sub(r'(<quorumd[^>]*\binterval=")\d+"', rf'\g<1>{timings.qdisk_interval}"', text)
        if timings.qdisk_tko is not None:
            text = re.sub(r'(<quorumd[^>]*\btko=")\d+"', rf'\g<1>{timings.qdisk_tko}"', text)
    if timings.token_ms is not None:
        text = text.replace("<clusternodes>", f'<totem token="{timings.token_ms}"/>\n  <clusternodes>', 1)
    text = text.replace('name="manual"', 'name="switch"')
    text = text.replace('agent="fence_manual"', f'agent="fence_netns" action="off" passwd="{fence_secret}"')
    return text
