"""The cluster `quorate chaos` hurts: the article's three nodes and service `test` on a fresh testbed.

Theory of operation: a 64 MiB image becomes a loop device with ext3 on it (the shared LUN); the article's
final cluster.conf is adapted by `article.testbed_conf` (no quorum disk, fence_netns through the testbed's
power switch, a short token) with ``force_unmount="0"`` so that a process left in the mount point makes a
stop fail for real. The service's program is the article's loop with changes that let the disk testify: each
line carries a sub-second time stamp, the writing host's name and the loop's identity
(its process id, which a node's fresh PID namespace repeats after a reboot, and its start time). Its init script
refuses to start while ``/run/chaos-fail-start`` exists on the node and refuses to stop (leaving the loop running) while
``/run/chaos-fail-stop`` does; ``/run`` is the node's own and empties at power-off, like a real host's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from quorate.testbed import article, chaos_qdisk, luns
from quorate.testbed.power import start_power_switch
from quorate.testbed.testbed import Testbed

FAIL_START = "/run/chaos-fail-start"
FAIL_STOP = "/run/chaos-fail-stop"
HANG_STATUS = "/run/chaos-hang-status"
FENCE_MODE = "fence-mode"  # in the work directory, on the machine: read by every node's fence_chaos
#: the script's status check: every few seconds, killed (a failure) when it takes longer than its timeout
STATUS_INTERVAL, STATUS_TIMEOUT = 3, 2
PIDFILE = "/var/run/chaos-test.pid"
SECRET = "quorate-chaos"


def program(period: float) -> str:
    return f"""#!/bin/bash
LOOP="$$-`date +%s%N`"
while /bin/true
do
     echo "Date/Time :  `date +'%Y-%m-%d %H:%M:%S.%N'` `hostname` $LOOP" >> {article.OUTPUT}
   sleep {period:g}
done
"""


def init_script(program_path: Path) -> str:
    return f"""#!/bin/sh
PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
PROG="{program_path}"
PIDFILE={PIDFILE}
case $1 in
    start)
        if [ -e {FAIL_START} ]; then echo "refusing to start"; exit 1; fi
        $PROG &
        echo $! > $PIDFILE
        ;;
    status)
        if [ -e {HANG_STATUS} ]; then sleep 900; fi
        ps -edf | grep $PROG | grep -v grep
        exit $?
        ;;
    stop)
        if [ -e {FAIL_STOP} ]; then echo "refusing to stop"; exit 1; fi
        cat $PIDFILE 2>/dev/null | xargs -r kill -9
        rm -f $PIDFILE
        ;;
esac
exit 0
"""


def write_conf(
    workdir: Path, device: str, *, token_ms: int, period: float, version: int | None = None, qdisk: bool = False
) -> Path:
    """The adapted cluster.conf in ``workdir`` (with ``version`` as config_version when given, and the quorum
    disk of `chaos_qdisk` when ``qdisk``)."""
    prog = workdir / "test_cluster.sh"
    prog.write_text(program(period))
    prog.chmod(0o755)
    init = workdir / "init.d-test"
    init.write_text(init_script(prog))
    init.chmod(0o755)
    text = article.testbed_conf(
        device, init, fence_secret=SECRET, qdisk=False, timings=article.Timings(token_ms=token_ms)
    )
    text = text.replace('force_unmount="1"', 'force_unmount="0"')
    text = _two_fence_methods(text, workdir / FENCE_MODE)
    text = re.sub(
        r'(<script\s+name="test_svc"\s+file="[^"]*")/>',
        rf'\1 __enforce_timeouts="1">\n          <action name="status" depth="*" interval="{STATUS_INTERVAL}" '
        rf'timeout="{STATUS_TIMEOUT}"/>\n        </script>',
        text,
    )
    if qdisk:
        text = chaos_qdisk.with_quorum_disk(text)
    if version is not None:
        text = text.replace('config_version="3"', f'config_version="{version}"', 1)
    name = "cluster.conf" if version is None else f"cluster-{version}.conf"
    conf = workdir / name
    conf.write_text(text)
    return conf


def _two_fence_methods(text: str, mode_file: Path) -> str:
    """Every node fenced by two methods, ``first`` then ``second``, each one ``fence_chaos`` device in front of
    the power switch (the file ``mode_file`` tells them to forward, fail or hang)."""
    methods = (
        '<method name="first">\n           <device name="chaos-first"/>\n         </method>\n'
        '         <method name="second">\n           <device name="chaos-second"/>\n         </method>'
    )
    text = re.sub(r'<method\s+name="single">\s*<device\s+name="switch"/>\s*</method>', methods, text)
    switch = re.search(r'<fencedevice\s+name="switch"\s+agent="fence_netns"\s([^/]*)/>', text)
    assert switch is not None, "the article's fence device is missing"
    devices = "\n    ".join(
        f'<fencedevice name="chaos-{m}" agent="fence_chaos" {switch[1].strip()} chaos_method="{m}" '
        f'mode_file="{mode_file}"/>'
        for m in ("first", "second")
    )
    return text.replace(switch[0], devices)


@contextlib.contextmanager
def shared_lun(workdir: Path) -> Iterator[str]:
    """A loop device with a fresh ext3 file system, detached afterwards; the machine's directories on the
    mount point's path that did not exist before are removed afterwards when empty."""
    made = [p for p in ("/mnt/magi", article.MOUNTPOINT) if not os.path.exists(p)]
    device = luns.attach_image(workdir / "lun.img", 64)
    try:
        subprocess.run(["mkfs.ext3", "-q", "-F", "-L", "magi_test", device], check=True, capture_output=True)
        yield device
    finally:
        luns.detach(device)
        for path in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(path)


@contextlib.contextmanager
def article_cluster(
    workdir: Path, *, prefix: str, token_ms: int, period: float, qdisk: bool = False
) -> Iterator[tuple[Testbed, Path]]:
    """The testbed with its power switch running (and with ``qdisk`` the quorum disk of `chaos_qdisk`); the
    daemons are started, nothing is waited for."""
    workdir.mkdir(parents=True, exist_ok=True)
    with shared_lun(workdir) as device, contextlib.ExitStack() as stack:
        qdisks = stack.enter_context(chaos_qdisk.quorum_disk(workdir, len(article.NODES))) if qdisk else []
        conf = write_conf(workdir, device, token_ms=token_ms, period=period, qdisk=qdisk)
        tb = Testbed.up(conf, prefix=prefix, start_daemons=not qdisk)
        try:
            if qdisk:
                chaos_qdisk.link_devices([tb.node_dir(n) for n in tb.nodes], qdisks)
                for node in tb.nodes:
                    tb.start_daemon(node)
            start_power_switch(tb, secret=SECRET)
            yield tb, conf
        finally:
            tb.down()
            shutil.rmtree(workdir / "pushed", ignore_errors=True)
