"""`quorate lvm` finds what an LVM command touches: the VGs it names, #global for PV changes, read or write."""

from __future__ import annotations

import click
import pytest

from quorate.cli.lvm_cmd import plan


@pytest.mark.parametrize(
    ("argv", "resources", "mode"),
    [
        (["pvcreate", "/dev/sdc", "/dev/sdd"], ["#global"], "EX"),
        (["vgcreate", "magi_vg", "/dev/sdc", "/dev/sdd"], ["#global", "magi_vg"], "EX"),
        (["lvcreate", "-n", "test_lv", "-L", "1g", "magi_vg"], ["magi_vg"], "EX"),
        (
            ["lvcreate", "--driverloaded", "n", "-an", "-Zn", "-n", "t", "-L", "8m", "magi_vg", "/dev/sdc"],
            ["magi_vg"],
            "EX",
        ),
        (["lvm", "lvextend", "-L+1g", "/dev/magi_vg/test_lv"], ["magi_vg"], "EX"),
        (["lvremove", "-f", "magi_vg/test_lv", "data_vg/x"], ["data_vg", "magi_vg"], "EX"),
        (["vgchange", "-y", "--systemid", "casper.localdomain", "magi_vg"], ["magi_vg"], "EX"),
        (["vgchange", "--addtag=x", "magi_vg"], ["magi_vg"], "EX"),
        (["vgrename", "old_vg", "new_vg"], ["#global", "new_vg", "old_vg"], "EX"),
        (["vgs", "-o", "vg_name,vg_tags", "magi_vg"], ["magi_vg"], "PR"),
        (["vgs"], ["#global"], "PR"),
        (["/sbin/lvs", "--noheadings", "magi_vg"], ["magi_vg"], "PR"),
    ],
)
def test_plan(argv: list[str], resources: list[str], mode: str) -> None:
    what = plan(argv)
    assert (what.resources, what.mode) == (resources, mode)


def test_an_explicit_vg_wins_and_an_empty_command_is_a_usage_error() -> None:
    assert plan(["lvcreate", "--weird-option", "value", "magi_vg"], ["magi_vg"]).resources == ["magi_vg"]
    with pytest.raises(click.UsageError, match="no lvm command given"):
        plan(["lvm"])
