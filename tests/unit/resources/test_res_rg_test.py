"""rg_test's output: the dry walk's exact lines, the tree print, problems, deltas, and a real run here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from res_helpers import cluster_text

from quorate.cli import rg_test

ARTICLE = str(Path(__file__).resolve().parents[2] / "fixtures" / "article" / "cluster-2.conf")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = rg_test.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_noop_start_prints_the_article_order_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "noop", ARTICLE, "start", "service", "test")
    assert code == 0
    assert err.splitlines()[0] == "Running in test mode."  # the original's stderr; warnings follow it there
    assert out == (
        "Starting test...\n"
        "[start] service:test\n"
        "[start] lvm:tes_lv\n"
        "[start] fs:test_fs\n"
        "[start] script:test_svc\n"
        "Start of test complete\n"
    )


def test_noop_stop_prints_the_reverse(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "noop", ARTICLE, "stop", "service", "test")
    assert code == 0
    assert out.splitlines() == [
        "Stopping test...",
        "[stop] script:test_svc",
        "[stop] fs:test_fs",
        "[stop] lvm:tes_lv",
        "[stop] service:test",
        "Stop of test complete",
    ]


def test_test_prints_the_tree_with_inherited_attributes_and_domains(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "test", ARTICLE)
    assert code == 0
    lines = out.splitlines()
    # rgmanager's layout: the resource list, the trees (rgmanager's order, state S0), the failover domains.
    assert lines[:3] == ["=== Resources List ===", "Resource type: service [INLINE]", "Instances: 1/1"]
    assert "Resource type: lvm [INLINE]" in lines and "Resource type: script [INLINE]" in lines
    assert "  mountpoint = /mnt/magi/test [ unique required ]" in lines
    assert '  nfslock [ inherit("nfslock") ]' in lines
    tree = lines[lines.index("=== Resource Tree ===") + 1 :]
    assert tree[:3] == ["service (S0) {", '  name = "test";', '  domain = "ring01";']
    assert "      script (S0) {" in tree
    assert '        service_name = "test";' in tree  # inherited from service%name
    assert '      device = "/dev/magi_vg/test_lv";' in tree
    assert lines[-5:] == [
        "Failover domain: ring01",
        "Flags: Ordered Restricted ",
        "  Node balthasar.localdomain (id 1, priority 10)",
        "  Node casper.localdomain (id 2, priority 20)",
        "  Node melchior.localdomain (id 3, priority 30)",
    ]
    assert err.splitlines()[:2] == ["Running in test mode.", "Loaded 33 resource rules"]
    assert "warning" not in out and "Running" not in out


def test_test_reports_refs_specials_and_missing_agents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(
        cluster_text(
            '<resources><script name="app" file="/etc/init.d/app"/></resources>'
            '<service name="s"><script ref="app" __independent_subtree="1"/><netfs name="n" host="h" export="/e" '
            'mountpoint="/n"/></service>'
        )
    )
    code, out, err = run(capsys, "test", str(conf))
    assert code == 0
    assert "  script [ INDEPENDENT ] (S0) {" in out.splitlines()
    assert "Resource type: script\nAgent: script.sh\n" in out  # a global definition is not [INLINE]
    assert "service s: netfs:n: no agent for resource type netfs: the service cannot start on this node" in err
    assert "no agent" not in out


def test_invalid_file_prints_every_error_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(cluster_text('<service name="s"><script name="x"/><fs ref="nowhere"/></service>'))
    code, out, err = run(capsys, "test", str(conf))
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) >= 2
    assert any("'file'" in line for line in errors) and any("nowhere" in line for line in errors)
    assert out == ""


def test_delta_lists_what_would_stop_and_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new.conf"
    new.write_text(Path(ARTICLE).read_text().replace('options=""', 'options="noatime"').replace('"3"', '"4"', 1))
    code, out, err = run(capsys, "delta", ARTICLE, str(new))
    assert code == 0
    assert err.splitlines()[0] == "Running in resource tree delta test mode."
    operations = out[out.index("=== Operations (down-phase) ===") :].splitlines()
    assert operations == [
        "=== Operations (down-phase) ===",
        "Node fs:test_fs - CONDSTOP",
        "[stop] script:test_svc",
        "[stop] fs:test_fs",
        "=== Operations (up-phase) ===",
        "Node fs:test_fs - CONDSTART",
        "[start] fs:test_fs",
        "[start] script:test_svc",
    ]
    assert "    fs [ NEEDSTOP ] (S0) {" in out and "    fs [ NEEDSTART ] (S0) {" in out
    code, out, _ = run(capsys, "delta", ARTICLE, ARTICLE)
    assert code == 0
    assert out.endswith("=== Operations (down-phase) ===\n=== Operations (up-phase) ===\n")
    assert "NEEDSTART" not in out and "NEEDSTOP" not in out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "noop", ARTICLE, "start", "service", "nope")
    assert code == 2 and out == "No resource nope of type service found\n"
    assert run(capsys, "noop", ARTICLE, "begin", "service", "test")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2
    code, out, _ = run(capsys)
    assert code == 2 and "usage:" in out


def test_noop_of_one_resource_walks_its_subtree(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "noop", ARTICLE, "start", "fs", "test_fs")
    assert (code, out) == (
        0,
        "Starting test_fs...\n[start] fs:test_fs\n[start] script:test_svc\nStart of test_fs complete\n",
    )


SCRIPT = """#!/bin/sh
case "$1" in
start) echo "$OCF_RESKEY_service_name" > "{state}"; exit 0 ;;
stop) rm -f "{state}"; exit 0 ;;
status) [ -f "{state}" ] && exit 0; exit 3 ;;
esac
exit 1
"""


def test_real_start_status_stop_of_a_script_service(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "running"
    script = tmp_path / "svc"
    script.write_text(SCRIPT.format(state=state))
    script.chmod(0o755)
    conf = tmp_path / "c.conf"
    conf.write_text(cluster_text(f'<service name="web"><script name="app" file="{script}"/></service>'))
    code, out, _ = run(capsys, "test", str(conf), "start", "service", "web")
    assert code == 0, out
    assert out.splitlines() == [
        "Running in test mode.",
        "Starting web...",
        "[start] service:web",
        "[start] script:app",
        "Start of web complete",
    ]
    assert state.read_text() == "web\n"
    code, out, _ = run(capsys, "test", str(conf), "status", "service", "web")
    assert code == 0 and out.splitlines()[-1] == "Status of web is good"
    code, out, _ = run(capsys, "test", str(conf), "stop", "service", "web")
    assert code == 0 and out.splitlines()[-1] == "Stop of web complete"
    assert not state.exists()
    code, out, _ = run(capsys, "test", str(conf), "status", "service", "web")
    assert code == 1
    assert "[status] script:app failed:" in out and "returned 3 (program is not running)" in out


def test_real_start_failure_names_the_resource_and_rolls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good"
    good.write_text(SCRIPT.format(state=tmp_path / "good.state"))
    good.chmod(0o755)
    conf = tmp_path / "c.conf"
    conf.write_text(
        cluster_text(
            f'<service name="web"><script name="a" file="{good}"/><script name="b" file="{tmp_path}/missing"/>'
            "</service>"
        )
    )
    code, out, _ = run(capsys, "test", str(conf), "start", "service", "web")
    assert code == 1
    lines = out.splitlines()
    assert f"[start] script:b failed: {tmp_path}/missing does not exist" in lines
    assert lines[-4:-1] == ["[stop] script:b", "[stop] script:a", "[stop] service:web"]
    assert lines[-1].startswith("Failed to start web: script:b failed:")
    assert not (tmp_path / "good.state").exists()


def test_console_entry_point_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "quorate.cli.rg_test", "noop", ARTICLE, "stop", "service", "test"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and done.stdout.splitlines()[1] == "[stop] script:test_svc"


# --------------------------------------------------------------------------- rgmanager's tree-order cases
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rgmanager-trees"
CASES = sorted(p.name[: -len(".conf")] for p in FIXTURES.glob("[0-9][0-9][0-9]-*.conf"))


def rg_test_command() -> list[str]:
    """The installed ``rg_test`` console script (the command administrators type)."""
    script = Path(sys.executable).with_name("rg_test")
    assert script.exists(), f"rg_test is not installed next to {sys.executable}"
    return [str(script)]


def groups_of(conf: Path) -> list[tuple[str, str]]:
    """(type, name) of every resource group of a file, in document order, as rgmanager's runtests listed them."""
    from lxml import etree

    rm = etree.parse(str(conf)).getroot().find("rm")
    assert rm is not None
    return [(str(g.tag), g.get("ref") or g.get("name") or "") for g in rm if g.tag in ("service", "vm")]


def expected_diagnostics(conf: Path) -> list[str]:
    """What the file's checks report (warnings, and errors outside <rm>): rg_test must show each on stderr."""
    from quorate.config import ConfigError, load_config

    try:
        problems = load_config(conf).warnings
    except ConfigError as exc:
        problems = exc.problems
    return [f"{p.severity}: {p}" for p in problems]


def test_the_fixture_set_covers_rgmanagers_cases() -> None:
    assert len(CASES) >= 17 and PRINTS
    for case in CASES:
        for suffix in (".start.expected", ".stop.expected"):
            assert (FIXTURES / f"{case}{suffix}").exists(), case + suffix


@pytest.mark.parametrize("case", CASES)
def test_noop_start_and_stop_print_exactly_rgmanagers_order(case: str) -> None:
    conf = FIXTURES / f"{case}.conf"
    diagnostics = expected_diagnostics(conf)
    assert diagnostics, "every fixture carries at least one warning, to show where warnings go"
    for phase in ("start", "stop"):
        out = ""
        for kind, name in groups_of(conf):
            done = subprocess.run(
                [*rg_test_command(), "noop", str(conf), phase, kind, name], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            assert done.stderr.splitlines()[0] == "Running in test mode."
            for line in diagnostics:
                assert line in done.stderr.splitlines(), line
            out += done.stdout
        assert out == (FIXTURES / f"{case}.{phase}.expected").read_text(), f"{case} {phase}"


PRINTS = sorted(p.stem for p in FIXTURES.glob("[0-9][0-9][0-9]-*.expected") if p.name.count(".") == 1)


@pytest.mark.parametrize("case", PRINTS)
def test_test_prints_exactly_rgmanagers_lists_and_trees(case: str) -> None:
    done = subprocess.run(
        [*rg_test_command(), "test", str(FIXTURES / f"{case}.conf")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (FIXTURES / f"{case}.expected").read_text()


def test_delta_prints_exactly_rgmanagers_marks_and_operations() -> None:
    done = subprocess.run(
        [*rg_test_command(), "delta", str(FIXTURES / "delta-1.old.conf"), str(FIXTURES / "delta-1.new.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (FIXTURES / "delta-1.expected").read_text()
    assert done.stderr.splitlines()[0] == "Running in resource tree delta test mode."


def test_action_overrides_are_reported_as_rgmanager_did_before_the_walk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(
        cluster_text(
            '<service name="s"><fs name="d" device="/dev/x" mountpoint="/d">'
            '<action name="status" depth="*" interval="10"/><action name="status" depth="0" timeout="5"/>'
            "</fs></service>"
        )
    )
    code, out, _ = run(capsys, "noop", str(conf), "start", "service", "s")
    assert code == 0
    assert out.splitlines() == [
        "Replacing action 'status' depth 0: interval: 60->10",
        "Replacing action 'status' depth 10: interval: 30->10",
        "Replacing action 'status' depth 20: interval: 60->10",
        "Replacing action 'status' depth 0: timeout: 10->5 ",
        "Starting s...",
        "[start] service:s",
        "[start] fs:d",
        "Start of s complete",
    ]


def test_the_originals_agent_directory_argument_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(Path(ARTICLE).parent), "noop", ARTICLE, "stop", "service", "test")
    assert code == 0 and out.splitlines()[1] == "[stop] script:test_svc"
    assert "ignoring the agent path" in err
