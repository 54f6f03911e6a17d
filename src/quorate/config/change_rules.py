"""Whether a candidate cluster.conf may replace the running one while the cluster runs (`check_successor`).

Theory of operation: distribution (``ccs_tool update``, ``quorate config push``) and ``quorate config diff`` ask it
before anything is sent: same cluster, a higher config_version (C-40), nothing that needs a whole-cluster restart
changed (name, id, port, multicast, key, two_node: C-45), no running member removed, the quorum disk not changed in
a way its running service cannot take. The answer is a list of located `Problem` values (S5): empty, or warnings
only, means yes.
"""

from __future__ import annotations

from collections.abc import Iterable

from quorate.config.change_diff import _multicast, quorumd_change, witness_change
from quorate.config.change_model import show
from quorate.config.model import ClusterConfig
from quorate.config.problems import Problem, Severity


def check_successor(
    running: ClusterConfig,
    candidate: ClusterConfig,
    *,
    members: Iterable[str] = (),
) -> list[Problem]:
    """Whether ``candidate`` may replace ``running`` while the cluster runs; problems are about the candidate.

    Refused (errors), and why:

    * another cluster name: the file belongs to another cluster (members reject such nodes, C-44);
    * a ``config_version`` that is not strictly higher (C-40): versions are how nodes tell which file is
      current, so an equal version with other content would leave two "current" files in the cluster;
    * a changed cluster id, explicit multicast address or port: these decide who can talk to whom.
      Members activate a new file one after the other, never at the same instant, so during the switch the
      cluster would be cut in two groups that cannot hear each other, and each would evict (and fence) the
      other. cman also needs a full restart for these (C-45). Change them by stopping the whole cluster;
    * a changed ``<cman keyfile>``: each quorated reads its key file once, at start, so a new path would only
      take effect node by node as they restart, with whatever that file holds. The key itself changes without a
      restart (``quorate key rotate`` rewrites the current file on every node); moving the file is the restart
      case: copy the key to the new path on every node, then restart the whole cluster with the new file;
    * a changed ``two_node``: it changes the quorum rule itself (Q-5), and the original requires a full
      restart to cross the two-node boundary (C-45);
    * removing a node that is a member now (``members``: the names of the current view, given by the
      caller): the file would describe a cluster without a node that is running in it, and that node could
      neither activate it (it does not find itself) nor be fenced by it. Stop the node first
      (``cman_tool leave remove``), then push the file without it.

    Warnings: a witness removed or changed is applied live, but each node gives its vote back first (W-2), so a
    node whose quorum rests on that vote (a lone survivor, a half after a split) is inquorate until it is granted
    again. Quorum disk settings that qdiskd reads only at start (C-45) restart the disk service inside
    each quorated (at its next start instead where the partition's quorum rests on the disk's votes). Totem
    timings are *not* refused: quorate applies a new token at once (C-45), where cman needed a restart.
    """
    problems: list[Problem] = []

    def add(
        severity: Severity, message: str, hint: str | None, *, attribute: str | None = None, path: str = "/cluster"
    ) -> None:
        problems.append(Problem(severity, candidate.source, candidate.line, path, attribute, message, hint))

    if candidate.name != running.name:
        add(
            "error",
            f"the file is for cluster {candidate.name!r}, but this node runs cluster {running.name!r}",
            "a cluster's name cannot change; is this the right file?",
            attribute="name",
        )
    if candidate.config_version <= running.config_version:
        add(
            "error",
            f"config_version {candidate.config_version} is not higher than the running version "
            f"{running.config_version}",
            f"set config_version to {running.config_version + 1} or more",
            attribute="config_version",
        )
    restart_only = [
        ("cluster_id", "the cluster id", running.cluster_id, candidate.cluster_id, "/cluster/cman"),
        ("addr", "the multicast address", _multicast(running), _multicast(candidate), "/cluster/cman/multicast"),
        ("port", "the cluster port", running.port, candidate.port, "/cluster/cman"),
        ("two_node", "two_node", running.two_node, candidate.two_node, "/cluster/cman"),
    ]
    if candidate.name == running.name:
        for attribute, what, before, after, path in restart_only:
            if before != after:
                add(
                    "error",
                    f"{what} cannot change while the cluster runs ({show(before)} -> {show(after)})",
                    "stop the whole cluster, install the file on every node, then start it again",
                    attribute=attribute,
                    path=path,
                )
    p_run, p_new = running.quorum_policies, candidate.quorum_policies
    if p_run.auto_tie_breaker and p_new.auto_tie_breaker and p_run.tie_breaker != p_new.tie_breaker:
        add(
            "error",
            f"auto_tie_breaker_node cannot change while the cluster runs ({p_run.describe_tie_breaker()} -> "
            f"{p_new.describe_tie_breaker()}): nodes activate the file one after the other, and the two halves of "
            "a split during the switch could each hold their own tie-breaker",
            'set auto_tie_breaker="0" in one push and the new node with auto_tie_breaker="1" in the next',
            attribute="auto_tie_breaker_node",
            path="/cluster/cman",
        )
    if candidate.name == running.name and running.keyfile != candidate.keyfile:
        add(
            "error",
            f"the key file cannot change while the cluster runs ({show(running.keyfile)} -> "
            f"{show(candidate.keyfile)}): each quorated reads it once, at start",
            "to change the key itself, run 'quorate key rotate' (no restart; the current file is rewritten on every "
            "node); to move the file, copy the key to the new path on every node, then restart the whole cluster",
            attribute="keyfile",
            path="/cluster/cman",
        )
    candidate_names = {n.name for n in candidate.nodes}
    for name in dict.fromkeys(members):
        if name not in candidate_names:
            add(
                "error",
                f"node {name} is a member of the cluster now but is not in the file",
                f"stop it first (cman_tool leave remove on {name}), then push the file without it",
                path="/cluster/clusternodes",
            )
    change = quorumd_change(running.quorumd, candidate.quorumd)
    if change is not None and change.restart_fields:
        add(
            "warning",
            f"quorum disk {change.kind}: {', '.join(change.restart_fields)} restart the quorum disk service on "
            "every node (its votes are given back and granted again)",
            "where the nodes' own votes are below quorum, this waits for the next quorated start instead",
            path="/cluster/quorumd",
        )
    witness = witness_change(running, candidate)
    if witness is not None and witness.kind != "added":
        what = "removed" if witness.kind == "removed" else "changed"
        add(
            "warning",
            f"quorum witness {what}: every node gives its vote back"
            + (" and asks for it again with the new settings" if witness.kind == "changed" else "")
            + "; a node whose quorum rests on the witness's vote is inquorate meanwhile",
            "push it while every node is up: the nodes' own votes then keep the quorum",
            path="/cluster/witness",
        )
    return problems
