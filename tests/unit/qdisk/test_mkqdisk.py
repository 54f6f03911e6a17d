"""mkqdisk against real loop devices: the original's prompt and messages, -L in the article's layout,
-f, -d, exit codes, and every kind of bad input refused with nothing written (spec L-12, D-1, D-4)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from quorate import __version__
from quorate.cli.mkqdisk import main
from quorate.core.qdisk_block import Block, DiskState
from quorate.qdisk.device import DeviceError, QdiskDevice, open_quorum_disk
from quorate.qdisk.format import QuorumHeader, encode_header
from quorate.qdisk.scan import find_label, scan

Loop = Callable[..., str]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, answer: str = "", tty: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    stdin = Tty(answer) if tty else io.StringIO(answer)
    code = main(list(args), stdin=stdin, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def create(dev: str, label: str) -> None:
    code, _out, err = run("-c", dev, "-l", label, "-y")
    assert code == 0, err


def device_bytes(dev: str, length: int = 73728) -> bytes:
    with open(dev, "rb") as fh:
        return fh.read(length)


def test_create_prints_the_original_messages(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    code, out, _ = run("-c", dev, "-l", label, answer="y\n", tty=True)
    assert code == 0
    expected = [
        f"mkqdisk v{__version__}",
        "",
        f"Writing new quorum disk label '{label}' to {dev}.",
        f"WARNING: About to destroy all data on {dev}; proceed [N/y] ? " + "Initializing status block for node 1...",
        *[f"Initializing status block for node {n}..." for n in range(2, 17)],
        "",
    ]
    assert out.split("\n") == expected
    dev_, header = open_quorum_disk(dev)
    with dev_:
        assert header.label == label and header.host == socket.gethostname() and header.sector_size == 512
        assert abs(header.created - time.time()) < 60
        blocks = dev_.read_blocks()
    assert all(b is not None and b.state is DiskState.NONE and b.nodeid == n for n, b in blocks.items())


def test_declining_writes_nothing(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    for answer in ("n\n", "\n", "", "Y\n", "no\n"):
        code, out, _ = run("-c", dev, "-l", label, answer=answer)
        assert code == 0 and out.endswith("proceed [N/y] ? \nGood thinking.\n")
    assert device_bytes(dev) == b"\0" * 73728


def test_piped_yes_creates(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    code, out, _ = run("-c", dev, "-l", label, answer="y\n")
    assert code == 0 and "Initializing status block for node 16..." in out
    assert find_label(label).path == dev


def test_console_script_reads_one_line_from_a_pipe(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    script = Path(sys.executable).with_name("mkqdisk")
    proc = subprocess.run([str(script), "-c", dev, "-l", label], input="y\n", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([str(script), "-f", label], capture_output=True, text=True)
    assert proc.returncode == 0 and f"{dev}:\n\tMagic:                eb7a62c2\n" in proc.stdout


def test_list_uses_the_article_layout(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    create(dev, label)
    with QdiskDevice.open(dev) as d:
        created = d.read_header().created
    code, out, _ = run("-L")
    assert code == 0
    section = (
        f"{dev}:\n"
        "\tMagic:                eb7a62c2\n"
        f"\tLabel:                {label}\n"
        f"\tCreated:              {time.ctime(created)}\n"
        f"\tHost:                 {socket.gethostname()}\n"
        "\tKernel Sector Size:   512\n"
        "\tRecorded Sector Size: 512\n"
        "\n"
    )
    assert out.startswith(f"mkqdisk v{__version__}\n\n")
    assert section in out


def test_find_by_label_and_exit_codes(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    create(dev, label)
    code, out, _ = run("-f", label)
    assert code == 0 and out.count("Magic:") == 1 and f"{dev}:" in out
    code, out, err = run("-f", label + "_absent")
    assert code == 255 and f"Unable to match label '{label}_absent' to any device" in err


def test_usage_errors() -> None:
    assert run()[0] == 1
    code, out, _ = run("-c", "/dev/null")
    assert code == 1 and "Both a device and a label are required" in out
    code, out, _ = run("-l", "x")
    assert code == 1 and "Both a device and a label are required" in out
    assert run("-h")[0] == 0
    assert run("-q")[0] == 1


def test_dump_shows_node_blocks(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    create(dev, label)
    with QdiskDevice.open(dev) as d:
        d.write_block(
            Block(
                2,
                2,
                DiskState.RUN,
                0x1122334455667788,
                seq=3,
                timestamp=1284756951,
                score=1,
                score_max=1,
                mask=frozenset({1, 2}),
            )
        )
    code, out, _ = run("-f", label, "-d")
    assert code == 0
    assert (
        "Status block for node 2\n"
        "\tLast updated by node 2\n"
        f"\tLast updated on {time.ctime(1284756951)}\n"
        "\tState: Running\n"
        "\tFlags: 0000\n"
        "\tScore: 1/1\n"
    ) in out
    assert "\tIncarnation: 1122334455667788\n" in out and "\tSees online: 1 2\n" in out
    assert "Status block for node 1\n" not in out  # state None is skipped, as the original did


def test_too_small_device_is_refused_before_the_prompt(loopdev: Loop, label: str) -> None:
    dev = loopdev(size=65536)
    code, out, err = run("-c", dev, "-l", label, "-y")
    assert code == 255 and "too small" in err and "nothing written" in err
    assert "proceed" not in out
    assert device_bytes(dev, 65536) == b"\0" * 65536


def test_label_already_on_another_device_is_refused(loopdev: Loop, label: str) -> None:
    first, second = loopdev(), loopdev()
    create(first, label)
    code, _, err = run("-c", second, "-l", label, "-y")
    assert code == 255 and f"label '{label}' is already on {first}" in err
    assert device_bytes(second) == b"\0" * 73728
    create(first, label)  # re-creating the same device is fine ("previously initialized" warning)


def test_reinitialising_warns(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    create(dev, label)
    code, out, _ = run("-c", dev, "-l", label + "2", "-y")
    assert code == 0 and "Warning: Initializing previously initialized partition" in out


def test_sector_size_mismatch_is_refused(loopdev: Loop, label: str, tmp_path: Path) -> None:
    dev = loopdev()
    create(dev, label)
    subprocess.run(["losetup", "-d", dev], check=True)
    dev4k = loopdev(backing=tmp_path / "qdisk-0.img", sector_size=4096)
    result = scan(label)
    assert not result.found
    assert any(
        dev4k in p and "recorded with 512-byte sectors but the kernel reports 4096" in p for p in result.problems
    )
    with pytest.raises(DeviceError, match="created with 512-byte sectors but the kernel now reports 4096"):
        open_quorum_disk(dev4k)
    code, _, err = run("-f", label)
    assert code == 255 and "recorded with 512-byte sectors" in err


def test_corrupted_header_is_reported_not_used(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    create(dev, label)
    with QdiskDevice.open(dev) as d:
        sector = bytearray(d.read_header_sector())
        sector[200] ^= 0xFF
        d._write(bytes(sector), 0)
    result = scan(label)
    assert not result.found and any(dev in p and "damaged" in p for p in result.problems)
    with pytest.raises(DeviceError, match="not a usable quorum disk: data checksum mismatch"):
        open_quorum_disk(dev)


def test_not_a_quorum_disk(loopdev: Loop) -> None:
    dev = loopdev()
    with pytest.raises(DeviceError, match="not a usable quorum disk: no block header"):
        open_quorum_disk(dev)


def test_scan_skips_devices_with_holders_and_empty_ones(tmp_path: Path) -> None:
    sys_root = tmp_path / "sys"
    for name, size, holder in (("sda", 100, "dm-0"), ("loop7", 0, None), ("loop3", 20480, None)):
        base = sys_root / "class" / "block" / name
        (base / "holders").mkdir(parents=True)
        (base / "size").write_text(f"{size}\n")
        if holder:
            (base / "holders" / holder).write_text("")
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "partitions").write_text(
        "major minor  #blocks  name\n\n   8        0  100 sda\n   7        7  0 loop7\n   7        3  10240 loop3\n"
        "   9        0  100 md0\n  11        0  100 sr0\n"
    )
    from quorate.qdisk.scan import device_names

    assert device_names(str(sys_root), str(proc)) == ["loop3"]


def test_aliases_list_by_links_first(tmp_path: Path) -> None:
    from quorate.qdisk.scan import aliases

    dev = tmp_path / "dev"
    (dev / "disk" / "by-id").mkdir(parents=True)
    (dev / "disk" / "by-path").mkdir(parents=True)
    (dev / "sdb").write_text("")
    os.symlink("../../sdb", dev / "disk" / "by-id" / "scsi-3600140525")
    os.symlink("../../sdb", dev / "disk" / "by-path" / "ip-192.168.0.10:3260-iscsi-lun-0")
    os.symlink("../../sda", dev / "disk" / "by-path" / "other")
    assert aliases("sdb", str(dev)) == [
        f"{dev}/disk/by-id/scsi-3600140525",
        f"{dev}/disk/by-path/ip-192.168.0.10:3260-iscsi-lun-0",
        f"{dev}/sdb",
    ]


@pytest.mark.parametrize("created", [2**64 - 1, 2**63, 2**56])
def test_a_header_with_an_impossible_creation_time_is_listed_as_invalid(
    loopdev: Loop, label: str, created: int
) -> None:
    dev = loopdev()
    create(dev, label)
    header = QuorumHeader(label=label, host="elsewhere", created=created, sector_size=512)
    fd = os.open(dev, os.O_WRONLY)
    try:
        os.pwrite(fd, encode_header(header, 512), 0)
    finally:
        os.close(fd)
    code, out, err = run("-L")
    assert code == 0, err
    assert f"\tLabel:                {label}\n\tCreated:              invalid ({created})\n" in out
    assert "\tHost:                 elsewhere\n" in out


def test_a_status_block_with_an_impossible_time_is_dumped_as_invalid(loopdev: Loop, label: str) -> None:
    dev = loopdev()
    create(dev, label)
    with QdiskDevice.open(dev) as d:
        d.write_block(Block(2, 2, DiskState.RUN, 1, seq=3, timestamp=2**64 - 1, score=1, score_max=1))
    code, out, _ = run("-f", label, "-d")
    assert code == 0
    assert f"Status block for node 2\n\tLast updated by node 2\n\tLast updated on invalid ({2**64 - 1})\n" in out
