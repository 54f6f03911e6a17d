"""``quorate config validate|show``: exit codes, what goes to stdout and what to stderr."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from config_samples import ARTICLE_1, ARTICLE_2, mutate

from quorate.cli.config_cmd import config


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(config, list(args))


def test_validate_valid_file_with_warnings() -> None:
    result = _run("validate", str(ARTICLE_2))
    assert result.exit_code == 0, result.output
    assert f"{ARTICLE_2}: valid: cluster magi, config_version 3, 3 nodes, 1 service, 4 warnings" in result.stdout
    assert "warning: " in result.stderr and "too slow" in result.stderr
    assert "warning" not in result.stdout.replace("4 warnings", "")


def test_validate_invalid_file_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "cluster.conf"
    path.write_bytes(mutate(('votes="1">', 'vots="1">'), ('domain="ring01"', 'domain="ring02"')))
    result = _run("validate", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert f"error: {path}:6: /cluster/clusternodes/clusternode[1][@vots]: unknown attribute 'vots'" in lines[0]
    assert f"error: {path}:42: /cluster/rm/service[1][@domain]: no failover domain 'ring02'" in lines[1]
    assert lines[-1] == f"{path}: invalid: 2 errors"


def test_validate_unreadable_file(tmp_path: Path) -> None:
    result = _run("validate", str(tmp_path / "missing.conf"))
    assert result.exit_code == 2
    assert "cannot read the file" in result.stderr


def test_validate_default_path_is_etc_cluster() -> None:
    result = _run("validate", "--help")
    assert result.exit_code == 0 and "/etc/cluster/cluster.conf" in result.stdout


def test_show_text() -> None:
    result = _run("show", str(ARTICLE_2))
    assert result.exit_code == 0
    out = result.stdout
    assert "Cluster magi: config_version 3, cluster id 1571" in out
    assert "224.0.0.1 (explicit)" in out
    assert "expected 3 (explicit)" in out
    assert "consensus 12000 ms" in out
    assert "label magi_qdisk, votes 2, interval 3 s, tko 20" in out
    assert "domain ring01: ordered, restricted, failback: balthasar.localdomain (10)" in out
    assert "    lvm tes_lv" in out and "      fs test_fs" in out and "        script test_svc" in out
    assert "too slow" in result.stderr


def test_show_json_has_effective_values() -> None:
    result = _run("show", "--json", str(ARTICLE_2))
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["name"], data["cluster_id"], data["multicast_address"]) == ("magi", 1571, "224.0.0.1")
    assert data["quorumd"]["tko_up"] == 6 and data["quorumd"]["master_wait"] == 10
    assert data["fence_daemon"]["post_join_delay"] == 3
    assert data["total_node_votes"] == 3
    fs = data["rm"]["services"][0]["children"][0]["children"][0]
    assert fs["attrs"]["mountpoint"] == "/mnt/magi/test"
    assert {w["severity"] for w in data["warnings"]} == {"warning"}


def test_show_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.conf"
    path.write_bytes(b"<cluster")
    result = _run("show", str(path))
    assert result.exit_code == 1
    assert "not well-formed XML" in result.stderr


def test_diff_of_the_articles_update(tmp_path: Path) -> None:
    result = _run("diff", str(ARTICLE_2), "--running", str(ARTICLE_1))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "config_version 1 -> 3",
        "failover domain ring01: added (places test)",
        "service test: added, stays stopped until `clusvcadm -e test`",
    ]


def test_diff_refuses_a_lower_version_but_still_shows_the_change() -> None:
    result = _run("diff", str(ARTICLE_1), "--running", str(ARTICLE_2))
    assert result.exit_code == 1
    assert "config_version 1 is not higher than the running version 3 (set config_version to 4 or more)" in (
        result.stderr
    )
    assert result.stderr.splitlines()[-1] == f"{ARTICLE_1}: may not replace {ARTICLE_2}"
    assert "service test: removed, stopped first" in result.stdout


def test_diff_json_and_exit_codes_for_bad_files(tmp_path: Path) -> None:
    result = _run("diff", str(ARTICLE_2), "--running", str(ARTICLE_1), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["valid_successor"] is True and data["problems"] == []
    assert [(s["name"], s["action"], s["stays_stopped"]) for s in data["change"]["services"]] == [("test", "add", True)]
    broken = tmp_path / "broken.conf"
    broken.write_bytes(mutate(('votes="1">', 'vots="1">')))
    assert _run("diff", str(broken), "--running", str(ARTICLE_1)).exit_code == 1
    assert _run("diff", str(ARTICLE_2), "--running", str(broken)).exit_code == 2
    assert _run("diff", str(ARTICLE_2), "--running", str(tmp_path / "absent")).exit_code == 2
    assert _run("diff", str(tmp_path / "absent"), "--running", str(ARTICLE_1)).exit_code == 2
