"""Make this node's LVM see what another node just wrote on the shared disks (clvmd's cache invalidation).

Why this is needed with lvm2 2.03 (no lvmetad, no clvmd): every command reads the metadata from the disks,
but it only scans the devices listed in its hints file, /run/lvm/hints, when that file exists. A PV created
on another node is not in this node's hints, so after ``vgextend magi_vg /dev/sdd`` on balthasar, casper's
``vgs`` reports magi_vg with a *missing* PV (verified on Debian 12's lvm2 2.03.16 with two mount namespaces
sharing a loop device). lvm2's own way to say "the devices changed, scan them all again" is the file
/run/lvm/newhints, which udev's rule makes ``pvscan --cache`` create; we create it, then read the VG once so
the hints are rebuilt and the caller learns what this node now sees (its metadata sequence number).
"""

from __future__ import annotations

from pathlib import Path

from quorate.system.process import run_agent

RUN_DIR = Path("/run/lvm")
LVM_ENV = {"LVM_SUPPRESS_FD_WARNINGS": "1"}


def invalidate_hints() -> None:
    RUN_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    (RUN_DIR / "newhints").touch()


async def vg_report(vg: str, timeout: float) -> tuple[int, str, str]:
    """``vgs`` for one VG (foreign ones too): (exit status, stdout, stderr). Run as an agent is (launched off the
    event loop, its process group killed on timeout), since the daemon that asks runs at real-time priority."""
    fields = "vg_name,vg_seqno,pv_count,lv_count,vg_systemid,vg_tags"
    argv = ["vgs", "--foreign", "--noheadings", "--separator", "|", "-o", fields, "--", vg]
    result = await run_agent(argv, env=LVM_ENV, timeout=timeout)
    if result.error is not None:
        raise OSError(result.error)
    if result.timed_out:
        return 124, "", f"vgs did not answer within {timeout:g} s"
    return result.returncode or 0, result.stdout, result.stderr


async def refresh(vg: str, timeout: float = 30.0) -> tuple[bool, str]:
    """Forget the hints, re-read `vg`; (ok, what this node now reads), e.g. "magi_vg seqno 4, 2 PV, 1 LV"."""
    try:
        invalidate_hints()
    except OSError as exc:
        return False, f"cannot invalidate the LVM hints: {exc}"
    if not vg:
        return True, "device hints invalidated"
    try:
        rc, out, err = await vg_report(vg, timeout)
    except OSError as exc:
        return False, f"cannot run vgs: {exc}"
    line = next((ln.strip() for ln in out.splitlines() if ln.strip()), "")
    if rc == 0 and line:
        cells = [c.strip() for c in line.split("|")] + ["", "", "", "", ""]
        extra = f", system ID {cells[4]}" if cells[4] else ""
        return True, f"{cells[0]} seqno {cells[1]}, {cells[2]} PV, {cells[3]} LV{extra}"
    if "not found" in err or "No volume groups found" in err:
        return True, f"{vg} not found"
    return False, (err.strip().splitlines() or [f"vgs exited with status {rc}"])[-1]
