"""A pushed cluster.conf that changes <cman keyfile>: refused while the cluster runs, saying which way to go."""

from __future__ import annotations

from test_config_changes import BASE, cfg, edit

from quorate.config.changes import check_successor


def test_a_new_key_file_path_is_refused_with_the_rotation_or_the_restart() -> None:
    running = cfg(BASE, 7)
    moved = cfg(edit(('<cman expected_votes="3"/>', '<cman expected_votes="3" keyfile="/etc/cluster/new.key"/>')), 8)
    (problem,) = check_successor(running, moved)
    assert (problem.severity, problem.path, problem.attribute) == ("error", "/cluster/cman", "keyfile")
    assert problem.message.startswith("the key file cannot change while the cluster runs (")
    assert "/etc/cluster/new.key" in problem.message and "reads it once, at start" in problem.message
    assert problem.hint is not None
    assert "'quorate key rotate' (no restart" in problem.hint and "restart the whole cluster" in problem.hint


def test_the_same_key_file_passes() -> None:
    with_key = edit(('<cman expected_votes="3"/>', '<cman expected_votes="3" keyfile="/etc/cluster/k.key"/>'))
    assert check_successor(cfg(with_key, 7), cfg(with_key, 8)) == []
