"""`quorate lvm -- <lvm command>`: what clvmd did for LVM metadata commands on a cluster's shared disks.

Theory of operation. The command is parsed to find what it touches: the volume groups named in it, and
lvm2's "#global" resource for commands that change the set of unused PVs (pvcreate, vgcreate, vgextend,
...) or that list every VG. Each is locked in lock space "lvm" (the one clvmd used was "clvmd"), "#global"
first and VGs in name order so two commands can never wait for each other: EX for commands that write
metadata, PR for commands that only read it. Under the locks, a VG whose system ID names another live member
of the cluster is refused (that node owns it), then the command runs; after a command that wrote, every
other member forgets its LVM device hints and re-reads the VG (`quorate.node.lvm_refresh`), which is what
makes ``vgs`` on casper show the PV that balthasar just added. The locks are released when the command
and the refresh are done, or by the daemon if this process dies.

Exit status: the lvm command's own; 1 when a VG is refused because of its system ID; otherwise as for
`quorate lock` (69: no quorate daemon here, 75: lock not granted in time, 76: lock lost meanwhile).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import click

GLOBAL = "#global"
LOCKSPACE = "lvm"
READERS = {
    "vgs", "lvs", "pvs", "vgdisplay", "lvdisplay", "pvdisplay", "vgscan", "lvscan", "pvscan", "vgck",
    "fullreport", "lvmdiskscan", "vgcfgbackup", "lvmconfig", "dumpconfig", "version", "formats", "segtypes",
}  # fmt: skip
ORPHAN_CHANGERS = {"pvcreate", "pvremove", "pvchange", "pvresize", "vgcreate", "vgextend", "vgreduce", "vgremove",
                   "vgsplit", "vgmerge", "vgimportclone", "vgrename"}  # fmt: skip
# Options of lvm commands that take a value (the next word is not a VG/LV name).
VALUED = {
    "-n", "--name", "-L", "--size", "-l", "--extents", "-s", "--physicalextentsize", "--addtag", "--deltag",
    "--systemid", "-c", "--clustered", "-a", "--activate", "--config", "--type", "-i", "--stripes", "-I",
    "--stripesize", "-m", "--mirrors", "-M", "--metadatatype", "-p", "--permission", "-r", "--readahead", "-Z",
    "--zero", "-W", "--wipesignatures", "--devices", "--devicesfile", "-o", "--options", "-O", "--sort",
    "--separator", "-S", "--select", "-u", "--uuid", "--driverloaded", "--poolmetadatasize", "-C",
    "--contiguous", "--alloc", "-A", "--autobackup", "--profile", "--metadataprofile", "--dataalignment",
    "--metadatasize", "--pvmetadatacopies", "--vgmetadatacopies", "--metadatacopies", "-x", "--resizeable",
    "-k", "--setactivationskip", "--setphysicalvolumesize", "--reportformat", "--units", "--labelsector",
    "--restorefile", "--bootloaderareasize", "--dataalignmentoffset", "--maxphysicalvolumes",
    "--maxlogicalvolumes", "-T", "--thin", "-V", "--virtualsize", "--chunksize", "-H", "--cache",
    "--cachemode", "--cachepool", "--thinpool", "--poolmetadata", "--discards", "--minor", "--major",
    "--monitor", "--poll", "--ignoremonitoring", "--errorwhenfull", "--lockopt", "--locktype",
}  # fmt: skip


@dataclass(frozen=True)
class LvmPlan:
    verb: str
    vgs: tuple[str, ...]
    writes: bool

    @property
    def resources(self) -> list[str]:
        """What to lock, in the one order every node uses: #global first, then VGs sorted."""
        out = [GLOBAL] if (self.verb in ORPHAN_CHANGERS or not self.vgs) else []
        return out + sorted(set(self.vgs))

    @property
    def mode(self) -> str:
        return "EX" if self.writes else "PR"


def plan(argv: Sequence[str], vg_override: Sequence[str] = ()) -> LvmPlan:
    """What an lvm command touches: its verb, the VGs it names, whether it writes metadata."""
    words = list(argv)
    if words and os.path.basename(words[0]) == "lvm":
        words = words[1:]
    if not words:
        raise click.UsageError("no lvm command given: quorate lvm -- vgcreate magi_vg /dev/sdc")
    verb = os.path.basename(words[0])
    positional: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in VALUED and "=" not in word
            continue
        positional.append(word)
    vgs: list[str] = []
    for word in positional:
        if word.startswith("/dev/"):
            parts = word.split("/")
            if len(parts) == 4 and parts[2] not in ("mapper", "disk", "loop"):  # /dev/VG/LV
                vgs.append(parts[2])
            continue
        if verb.startswith("pv"):
            continue  # a PV command's words are devices
        vgs.append(word.split("/", 1)[0])
        if verb in ("vgcreate", "vgextend", "vgreduce", "lvcreate", "lvrename", "lvconvert", "vgsplit"):
            break  # the first word is the VG; the rest are PVs or LV names
    if vg_override:
        vgs = list(vg_override)
    return LvmPlan(verb, tuple(dict.fromkeys(v for v in vgs if v)), verb not in READERS)


def foreign_owner(vg: str, members: dict[str, bool], me: str) -> str | None:
    """The live member (other than this node) whose name is the VG's system ID, if any."""
    import subprocess

    done = subprocess.run(
        ["vgs", "--foreign", "--noheadings", "-o", "vg_systemid", "--", vg],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"},
    )
    systemid = done.stdout.strip() if done.returncode == 0 else ""
    if not systemid:
        return None
    for name, alive in members.items():
        if alive and name != me and systemid in (name, name.split(".", 1)[0]):
            return name
    return None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-t", "--timeout", type=float, default=30.0, show_default=True, help="Wait at most S s for the locks.")
@click.option("--vg", "vg_override", multiple=True, help="Lock this VG instead of the ones found in the command.")
@click.option("-v", "--verbose", is_flag=True, help="Say what is locked and what every node sees afterwards.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lvm(timeout: float, vg_override: tuple[str, ...], verbose: bool, command: tuple[str, ...]) -> None:
    """Run an LVM command under the cluster's LVM locks, then refresh every node: quorate lvm -- vgcreate ..."""
    from quorate.cli import client
    from quorate.cli.lock_cmd import exit_for, run_locked
    from quorate.locks import ClusterLockError, LockSession

    what = plan(command, vg_override)
    try:
        status = client.status()
        session = LockSession(client=f"quorate lvm {what.verb}")
        held = [session.lock(res, what.mode, lockspace=LOCKSPACE, timeout=timeout) for res in what.resources]
    except client.NotRunning:
        click.echo(f"quorate lvm: quorated is not running on this node (no answer on {client.socket_path()})", err=True)
        sys.exit(69)
    except ClusterLockError as exc:
        click.echo(f"quorate lvm: cannot lock {', '.join(what.resources)} ({what.mode}): {exc}", err=True)
        sys.exit(exit_for(exc.code))
    names = {n["name"]: bool(n["member"]) for n in status["nodes"]}
    if verbose:
        click.echo(f"quorate lvm: holding {what.mode} on {', '.join(f'lvm/{r}' for r in what.resources)}", err=True)
    if what.writes:
        for vg in what.vgs:
            owner = foreign_owner(vg, names, status["node_name"])
            if owner is not None:
                click.echo(
                    f"quorate lvm: volume group {vg} belongs to {owner} (its system ID), a live member of the "
                    "cluster: refusing to change it here",
                    err=True,
                )
                session.close()
                sys.exit(1)
    env = {**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"}
    rc = run_locked(session, command, what=", ".join(what.resources), env=env)
    if rc == 76:
        sys.exit(rc)
    if what.writes:
        _refresh(what, verbose)
    for lock in reversed(held):
        try:
            session.unlock(lock)
        except ClusterLockError as exc:
            click.echo(f"quorate lvm: releasing lvm/{lock.name}: {exc}", err=True)
    session.close()
    sys.exit(rc)


def _refresh(what: LvmPlan, verbose: bool) -> None:
    from quorate.cli import client

    try:
        # The control client waits 10 s for an answer: the nodes get 8 s to re-read the VG.
        answer = client.request("lvm_refresh", vg=what.vgs[0] if what.vgs else "", timeout=8)
    except (client.NotRunning, client.RequestFailed) as exc:
        click.echo(f"quorate lvm: warning: the other nodes were not told to refresh: {exc}", err=True)
        return
    for node, seen in answer["nodes"].items():
        if not seen["ok"]:
            click.echo(f"quorate lvm: warning: {node} did not refresh: {seen['detail']}", err=True)
        elif verbose:
            click.echo(f"quorate lvm: {node} now sees {seen['detail']}", err=True)
