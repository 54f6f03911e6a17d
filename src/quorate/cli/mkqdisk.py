"""mkqdisk: create, list and inspect quorum disks (spec L-12, 3.2), with the original's messages.

Usage::

    mkqdisk -c DEVICE -l LABEL [-y]   create (asks "proceed [N/y] ?"; -y answers yes)
    mkqdisk -L [-d]                   list every quorum disk (-d: also each node's status block)
    mkqdisk -f LABEL [-d]             the same for one label
    mkqdisk -d                        same as -L -d

Answering the prompt: with -y nothing is read. Otherwise one line is read from standard input, whether a
terminal or a pipe (``echo y | mkqdisk -c ...``); only an answer starting with a lowercase ``y`` proceeds,
anything else (or end of input) prints "Good thinking." and writes nothing.

Everything that can be checked is checked before the prompt and before any write: the device opens
read-write with direct I/O, is large enough, and the label is not already on another device.
The disk is written so that a crash half-way never leaves a valid header over stale blocks: the header is
zeroed first, the 16 status blocks written, the new header last.

Exit codes: 0 done (or declined); 1 usage; 255 (-1 in the original) for any failure, and for -L/-f when no
quorum disk is found.
"""

from __future__ import annotations

import getopt
import os
import socket
import sys
import time
from typing import TextIO

from quorate import __version__
from quorate.core.qdisk_block import MAX_NODES
from quorate.qdisk.device import DeviceError, QdiskDevice
from quorate.qdisk.format import (
    LABEL_MAX,
    CorruptBlock,
    QuorumHeader,
    decode_header,
    decode_status,
    describe_time,
    empty_status,
)
from quorate.qdisk.scan import Found, scan

PROG = "mkqdisk"
USAGE = "usage: mkqdisk -L | -f <label> | -c <device> -l <label> [-y] [-d]"
FAIL = 255


def main(
    argv: list[str] | None = None, *, stdin: TextIO | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    args = sys.argv[1:] if argv is None else argv
    stdin, out, err = stdin or sys.stdin, out or sys.stdout, err or sys.stderr
    print(f"{PROG} v{__version__}\n", file=out)
    try:
        opts, rest = getopt.getopt(args, "Ldf:c:l:hy")
    except getopt.GetoptError as exc:
        print(f"{PROG}: {exc}", file=err)
        print(USAGE, file=out)
        return 1
    mode, device, label, verbose, yes = None, None, None, False, False
    for opt, value in opts:
        if opt == "-h":
            print(USAGE, file=out)
            return 0
        if opt == "-L":
            mode = "L"
        elif opt == "-f":
            mode, label = "f", value
        elif opt == "-c":
            device = value
        elif opt == "-l":
            label = value
        elif opt == "-d":
            verbose = True
        elif opt == "-y":
            yes = True
    if rest:
        print(f"{PROG}: unexpected argument {rest[0]!r}", file=err)
        print(USAGE, file=out)
        return 1
    if mode is None and device is None and label is None and verbose:
        mode = "L"
    if mode == "L":
        return list_disks(None, verbose, out, err)
    if mode == "f":
        return list_disks(label, verbose, out, err)
    if not device and not label:
        print(USAGE, file=out)
        return 1
    if not device or not label:
        print("Both a device and a label are required", file=out)
        return 1
    return create(device, label, yes=yes, stdin=stdin, out=out, err=err)


# ------------------------------------------------------------------ create


def create(device: str, label: str, *, yes: bool, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    raw = label.encode()
    if len(raw) > LABEL_MAX or "\0" in label or not label.strip():
        print(f"{PROG}: a label is 1 to {LABEL_MAX} bytes (got {len(raw)})", file=err)
        return 1
    try:
        dev = QdiskDevice.open(device)
    except DeviceError as exc:
        print(f"{PROG}: {exc}; nothing written", file=err)
        return FAIL
    with dev:
        if not dev.info.is_block:
            print(f"Warning: {device} is not a block device", file=out)
        other = _label_elsewhere(label, device)
        if other:
            print(
                f"{PROG}: label '{label}' is already on {other}: a label must name one device "
                "(use another label, or re-create that disk); nothing written",
                file=err,
            )
            return FAIL
        print(f"Writing new quorum disk label '{label}' to {device}.", file=out)
        print(f"WARNING: About to destroy all data on {device}; proceed [N/y] ? ", end="", file=out)
        out.flush()
        if yes:
            answer = "y"
            print("y", file=out)
        else:
            answer = stdin.readline()
            if not stdin.isatty():
                print(file=out)
        if not answer.startswith("y"):
            print("Good thinking.", file=out)
            return 0
        try:
            previous = dev.read_header_sector()
            _warn_previous(previous, out)
            dev.erase_header()
        except OSError as exc:
            print(f"{PROG}: {device}: cannot write: {exc.strerror or exc}", file=err)
            return FAIL
        now = int(time.time())
        for nid in range(1, MAX_NODES + 1):
            print(f"Initializing status block for node {nid}...", file=out)
            try:
                dev.write_block(empty_status(nid, now))
            except OSError as exc:
                print(f"Error writing node ID block {nid}: {exc.strerror or exc}", file=out)
                return FAIL
        try:
            dev.write_header(
                QuorumHeader(label=label, host=socket.gethostname(), created=now, sector_size=dev.sector_size)
            )
        except OSError as exc:
            print(f"{PROG}: {device}: cannot write the header: {exc.strerror or exc}", file=err)
            return FAIL
    return 0


def _warn_previous(sector: bytes, out: TextIO) -> None:
    try:
        decode_header(sector)
    except CorruptBlock as exc:
        if "1.2" in str(exc):
            print("Warning: Red Hat Cluster Manager 1.2.x header found", file=out)
        return
    print("Warning: Initializing previously initialized partition", file=out)


def _label_elsewhere(label: str, device: str) -> str | None:
    try:
        mine = os.stat(device)
    except OSError:
        return None
    for found in scan(label).found:
        try:
            theirs = os.stat(found.path)
        except OSError:
            continue
        same = (mine.st_rdev == theirs.st_rdev) if mine.st_rdev else (mine.st_ino == theirs.st_ino)
        if not same:
            return found.path
    return None


# ------------------------------------------------------------------ list


def list_disks(label: str | None, verbose: bool, out: TextIO, err: TextIO) -> int:
    result = scan(label)
    for problem in result.problems:
        print(f"{PROG}: {problem}", file=err)
    if not result.found:
        what = f"Unable to match label '{label}' to any device" if label else "No quorum disks found"
        print(f"{PROG}: {what}", file=err)
        return FAIL
    for found in result.found:
        print_info(found, out)
        if verbose:
            dump_blocks(found.path, out, err)
    return 0


def print_info(found: Found, out: TextIO) -> None:
    """The article's layout: every alias with a colon, then the tab-indented header fields."""
    h = found.header
    for path in found.paths:
        print(f"{path}:", file=out)
    print(f"\tMagic:                {h.magic:08x}", file=out)
    print(f"\tLabel:                {h.label}", file=out)
    print(f"\tCreated:              {describe_time(h.created)}", file=out)
    print(f"\tHost:                 {h.host}", file=out)
    print(f"\tKernel Sector Size:   {found.kernel_sector_size}", file=out)
    print(f"\tRecorded Sector Size: {h.sector_size}\n", file=out)


def dump_blocks(path: str, out: TextIO, err: TextIO) -> None:
    """Each node's status block (``-d``); blocks in state None are skipped, as the original did."""
    try:
        dev = QdiskDevice.open(path, write=False)
    except DeviceError as exc:
        print(f"{PROG}: Could not read from {path}: {exc}", file=err)
        return
    with dev:
        for nid in range(1, MAX_NODES + 1):
            try:
                block = decode_status(dev.read_block_raw(nid))
            except OSError as exc:
                print(f"Error reading node ID block {nid}: {exc.strerror or exc}", file=err)
                continue
            except CorruptBlock as exc:
                print(f"Status block for node {nid}\n\tUnreadable: {exc}", file=out)
                continue
            if block.state == 0:
                continue
            ids = " ".join(str(n) for n in sorted(block.mask)) or "-"
            lines = [
                f"Status block for node {block.nodeid}",
                f"\tLast updated by node {block.updatenode}",
                f"\tLast updated on {describe_time(block.timestamp)}",
                f"\tState: {block.state.label}",
                f"\tFlags: {block.flags:04x}",
                f"\tScore: {block.score}/{block.score_max}",
                f"\tAverage Cycle speed: {block.avg_latency:.6f} seconds",
                f"\tLast Cycle speed: {block.last_latency:.6f} seconds",
                f"\tIncarnation: {block.incarnation >> 32 & 0xFFFFFFFF:08x}{block.incarnation & 0xFFFFFFFF:08x}",
                f"\tMessage: {block.msg.name} (seq {block.msg_seq}, arg {block.msg_arg})",
                f"\tSees online: {ids}",
            ]
            if block.master_mask:
                lines.append("\tGrants votes to: " + " ".join(str(n) for n in sorted(block.master_mask)))
            print("\n".join(lines), file=out)


if __name__ == "__main__":
    sys.exit(main())
