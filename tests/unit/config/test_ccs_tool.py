"""ccs_tool: RHCS 5 editing commands on a real file: layouts, validation before writing, no write on refusal."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from config_samples import ARTICLE_2, BASE

from quorate.cli.ccs_tool import main
from quorate.config import load_config


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_build_a_cluster_from_scratch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(tmp_path / "cluster.conf")
    assert run(capsys, "create", "-c", conf, "magi")[0] == 0
    code, out, _ = run(capsys, "addfence", "-c", conf, "apc", "fence_apc", "ipaddr=apc.example.net", "login=apc")
    assert code == 0 and out.splitlines()[0] == "config_version 1 -> 2"
    for n in (1, 2, 3):
        code, out, err = run(
            capsys, "addnode", "-c", conf, f"node{n}.example.net", "-n", str(n), "-f", "apc", f"port={n}"
        )
        assert code == 0, err
    cfg = load_config(conf)
    assert cfg.config_version == 5 and [n.nodeid for n in cfg.nodes] == [1, 2, 3]
    assert cfg.nodes[2].fence[0].name == "single" and cfg.nodes[2].fence[0].devices[0].attrs == (("port", "3"),)
    assert "node node3.example.net: added (nodeid 3, votes 1)" in out
    code, out, _ = run(capsys, "lsnode", "-c", conf)
    assert out.splitlines() == [
        "",
        "Cluster name: magi, config_version: 5",
        "",
        "Nodename                        Votes Nodeid Fencetype",
        "node1.example.net                  1    1    apc",
        "node2.example.net                  1    2    apc",
        "node3.example.net                  1    3    apc",
    ]
    code, out, _ = run(capsys, "lsfence", "-v", "-c", conf)
    assert out.splitlines() == [
        "Name             Agent",
        "apc              fence_apc",
        "  Properties:  ipaddr=apc.example.net login=apc",
    ]
    # Every earlier version is kept next to the file.
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"cluster.conf{s}" for s in ("", ".1", ".2", ".3", ".4")]


def test_create_refuses_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_bytes(BASE.encode())
    code, _, err = run(capsys, "create", "-c", str(conf), "other")
    assert code == 1 and err == f"ccs_tool: {conf} already exists\n"
    assert conf.read_bytes() == BASE.encode()


def test_create_two_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(tmp_path / "cluster.conf")
    run(capsys, "create", "-2", "-c", conf, "pair")
    run(capsys, "addfence", "-c", conf, "m", "fence_manual")
    run(capsys, "addnode", "-c", conf, "a", "-f", "m")
    run(capsys, "addnode", "-c", conf, "b", "-f", "m")
    cfg = load_config(conf)
    assert cfg.two_node and [n.nodeid for n in cfg.nodes] == [1, 2]
    code, _, err = run(capsys, "addnode", "-c", conf, "c", "-f", "m")
    assert code == 1 and "two_node is set but 3 nodes are defined" in err


def test_edit_keeps_the_files_formatting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_bytes(BASE.encode())
    code, _, err = run(capsys, "addfence", "-c", str(conf), "spare", "fence_manual")
    assert code == 0, err
    before, after = BASE.splitlines(), conf.read_text().splitlines()
    assert after[1] == '<cluster name="magi" config_version="8">'
    added = [line for line in after if line not in before]
    assert added == [after[1], '    <fencedevice name="spare" agent="fence_manual"/>']
    assert [line for line in before if line not in after] == [before[1]]


def test_a_change_that_breaks_the_file_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_bytes(BASE.encode())
    snapshot = files_in(tmp_path)
    code, out, err = run(capsys, "delfence", "-c", str(conf), "ipmi")
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith(
        f"error: {conf}:9: /cluster/clusternodes/clusternode[1]/fence/method[1]/device[1][@name]"
    )
    assert "no <fencedevice name='ipmi'> exists" in lines[0]
    assert lines[-1] == f"ccs_tool: the change would make {conf} invalid; nothing was written"
    code, _, err = run(capsys, "delnode", "-c", str(conf), "casper.localdomain")
    assert code == 1 and "'casper.localdomain' is not a clusternode" in err
    code, _, err = run(capsys, "addnode", "-c", str(conf), "x", "-n", "2")
    assert code == 1 and err == f"ccs_tool: nodeid 2 already in use (in {conf}; nothing was written)\n"
    code, _, err = run(capsys, "addnode", "-c", str(conf), "x", "-f", "nosuch")
    assert code == 1 and "fence type 'nosuch' not known" in err
    code, _, err = run(capsys, "addfence", "-c", str(conf), "f", "fence_x", "name=oops")
    assert code == 1 and 'can\'t use "name" as a fence argument name' in err
    assert files_in(tmp_path) == snapshot


@pytest.mark.parametrize(
    "damage",
    [
        (b'nodeid="3"', b'nodeid="2"'),  # duplicate node id: valid XML, invalid configuration
        (b"</cluster>", b""),  # not well-formed
        (b'<?xml version="1.0"?>', b"<!DOCTYPE x [<!ENTITY a 'b'>]>"),  # refused before parsing
    ],
    ids=["semantic", "syntax", "doctype"],
)
def test_edits_of_a_bad_file_are_refused_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: tuple[bytes, bytes]
) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_bytes(BASE.encode().replace(*damage))
    snapshot = files_in(tmp_path)
    for args in (["addfence", "spare", "fence_manual"], ["delnode", "melchior.localdomain"], ["addnode", "x"]):
        code, out, err = run(capsys, args[0], "-c", str(conf), *args[1:])
        assert code == 1 and out == "", (args, out)
        assert err.startswith("error: ") and err.rstrip().splitlines()[-1].startswith("ccs_tool: ")
    assert files_in(tmp_path) == snapshot


def test_dry_run_and_stdout_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_bytes(ARTICLE_2.read_bytes())
    snapshot = files_in(tmp_path)
    code, out, _ = run(capsys, "addnode", "-c", str(conf), "caspar.localdomain", "-n", "4", "-f", "manual", "--dry-run")
    assert code == 0
    assert out.splitlines()[:2] == ["config_version 3 -> 4", "node caspar.localdomain: added (nodeid 4, votes 1)"]
    assert out.splitlines()[-1] == f"dry run: {conf} was not written"
    code, out, _ = run(capsys, "delnode", "-c", str(conf), "-o", "-", "-C", "melchior.localdomain")
    assert code == 1  # ring01 still lists melchior
    code, out, _ = run(capsys, "addfence", "-c", str(conf), "-o", "-", "spare", "fence_manual")
    assert code == 0 and '<fencedevice name="spare" agent="fence_manual"/>' in out and 'config_version="4"' in out
    assert files_in(tmp_path) == snapshot


def test_update_without_a_push_module_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "quorate.cli.config_push", None)  # makes the import fail
    code, _, err = run(capsys, "update", str(ARTICLE_2))
    assert code == 1
    assert err.startswith("ccs_tool: update is not available: this installation has no configuration push")


def test_update_hands_the_file_to_the_push(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, bool]] = []
    fake = types.ModuleType("quorate.cli.config_push")

    def push_file(path: str, *, dry_run: bool) -> int:
        calls.append((path, dry_run))
        return 3

    fake.push_file = push_file  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "quorate.cli.config_push", fake)
    assert run(capsys, "update", "/x/cluster.conf", "--dry-run")[0] == 3
    assert calls == [("/x/cluster.conf", True)]


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "frobnicate")[0] == 2
    with pytest.raises(SystemExit) as info:
        main(["addnode", "-v", "zero", "x"])
    assert info.value.code == 2
    assert run(capsys)[0] == 2


def test_addnodeids_numbers_the_nodes_of_an_old_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "cluster.conf"
    # A RHEL 4 style file: casper has no id, melchior an empty one; balthasar keeps its 2.
    old = BASE.replace('name="balthasar.localdomain" nodeid="1"', 'name="balthasar.localdomain" nodeid="2"')
    old = old.replace('name="casper.localdomain" nodeid="2"', 'name="casper.localdomain"')
    old = old.replace('name="melchior.localdomain" nodeid="3"', 'name="melchior.localdomain" nodeid=""')
    conf.write_text(old)
    refused, _, err = run(capsys, "addnode", "-c", str(conf), "-C", "gaspard.localdomain")
    assert refused == 1 and "is not valid" in err  # the ordinary edits refuse it, and say why
    code, out, err = run(capsys, "addnodeids", "-c", str(conf), "-C")
    assert code == 0, err
    given = ["casper.localdomain: nodeid 1", "melchior.localdomain: nodeid 3", "config_version 7 -> 8"]
    assert out.splitlines()[:3] == given
    cfg = load_config(conf)
    assert sorted((n.name, n.nodeid) for n in cfg.nodes) == [
        ("balthasar.localdomain", 2),
        ("casper.localdomain", 1),
        ("melchior.localdomain", 3),
    ]
    assert (tmp_path / "cluster.conf.7").read_text() == old  # the previous file is kept
    again = run(capsys, "addnodeids", "-c", str(conf), "-C")
    assert again[0] == 0 and "already has a nodeid: nothing to do" in again[1]
    assert load_config(conf).config_version == 8


def test_addnodeids_writes_nothing_when_the_file_has_other_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "cluster.conf"
    broken = BASE.replace('name="casper.localdomain" nodeid="2"', 'name="casper.localdomain" votes="many"')
    conf.write_text(broken)
    code, _, err = run(capsys, "addnodeids", "-c", str(conf), "-C")
    assert code == 1 and "votes" in err and "nothing was written" in err
    assert conf.read_text() == broken and sorted(p.name for p in tmp_path.iterdir()) == ["cluster.conf"]
