"""rg_test: rgmanager's offline tool for resource trees: show them, walk them dry, run them here, diff them.

Theory of operation: the original ``rg_test`` read cluster.conf directly, without any daemon, so an
administrator could check a service before handing it to the cluster. quorate's does the same with the same
pieces the daemon uses (`quorate.config` to load and validate, `quorate.resources` to build, order, diff and
run trees):

* ``rg_test test FILE`` prints every service's tree (references resolved, inherited attributes filled in and
  marked), the failover domains, and every error or warning; exit 1 when the file cannot be used.
* ``rg_test noop FILE start|stop service NAME`` prints what a start or stop would do, in order, without running
  anything: ``Starting NAME...``, one ``[start] TYPE:PRIMARY`` line per resource, ``Start of NAME complete``.
* ``rg_test test FILE start|stop|status service NAME`` really runs the agents on this machine, printing each
  resource as it is done; exit 1 on failure (for stop: resources may still be held).
* ``rg_test delta OLD NEW`` prints, per service, what a reconfiguration from OLD to NEW would stop, start or
  reconfigure in place.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily at run time: usage errors should not pay for lxml
    from quorate.config import ClusterConfig
    from quorate.resources import Node, ServiceTree, StepResult, TreeDelta

PROG = "rg_test"
USAGE = f"""usage: {PROG} test <cluster.conf> [start|stop|status service <name>]
       {PROG} noop <cluster.conf> start|stop service <name>
       {PROG} delta <old cluster.conf> <new cluster.conf>
"""


class UsageError(Exception):
    pass


def _load(path: str) -> ClusterConfig:
    """The checked configuration; `ConfigError` (with every problem) when it is not usable."""
    from quorate.config import load_config

    return load_config(path)


def format_node(node: Node, level: int = 0) -> list[str]:
    """rgmanager's tree print: ``type [ flags ] {`` then ``name = "value";`` lines, children nested."""
    pad = "  " * level
    flags = []
    if node.ref is not None:
        flags.append(f'ref="{node.ref}"')
    if node.independent is not None:
        flags.append("INDEPENDENT" if node.independent == "restart" else "NON-CRITICAL")
    head = f"{pad}{node.type}" + (f" [ {' '.join(flags)} ]" if flags else "") + " {"
    lines = [head]
    for key, value in node.attrs.items():
        where = f"  # inherited from {_source(node, key)}" if key in node.inherited else ""
        lines.append(f'{pad}  {key} = "{value}";{where}')
    for key, value in node.special.items():
        lines.append(f'{pad}  {key} = "{value}";')
    for child in node.children:
        lines += format_node(child, level + 1)
    lines.append(f"{pad}}}")
    return lines


def _source(node: Node, key: str) -> str:
    param = node.spec.param(key)
    return param.inherit if param is not None and param.inherit else "an ancestor"


def format_domains(config: ClusterConfig) -> list[str]:
    lines = []
    for domain in config.rm.failoverdomains:
        flags = [word for word, on in (("Ordered", domain.ordered), ("Restricted", domain.restricted)) if on]
        if domain.nofailback:
            flags.append("No Failback")
        lines.append(f"Failover domain: {domain.name}")
        lines.append(f"Flags: {' '.join(flags) or 'none'}")
        for member in domain.nodes:
            node = config.node_by_name(member.name)
            ident = f"id {node.nodeid}" if node is not None else "unknown node"
            priority = f", priority {member.priority}" if domain.ordered else ""
            lines.append(f"  Node {member.name} ({ident}{priority})")
    return lines


def problems_of(config: ClusterConfig, trees: dict[str, ServiceTree]) -> list[str]:
    """Config warnings, tree problems, and resources no agent can run on this machine."""
    from quorate.resources.agents import RUNNABLE

    lines = [f"{w.severity}: {w}" for w in config.warnings]
    for tree in trees.values():
        lines += [str(p) for p in tree.problems]
        for node in tree.nodes():
            if node.type not in RUNNABLE:
                lines.append(
                    f"warning: service {tree.name}: {node.label}: no agent for resource type {node.type}: "
                    "the service cannot start on this node"
                )
    return lines


def format_test(config: ClusterConfig, trees: dict[str, ServiceTree]) -> str:
    lines = ["Running in test mode.", "=== Resource Trees ==="]
    for tree in trees.values():
        lines += format_node(tree.root)
    if not trees:
        lines.append("(no services)")
    lines.append("=== Failover Domains ===")
    lines += format_domains(config) or ["(none)"]
    found = problems_of(config, trees)
    lines.append("=== Problems ===")
    lines += found or ["(none)"]
    return "\n".join(lines) + "\n"


def format_noop(tree: ServiceTree, action: str) -> str:
    """The dry walk: the resources a start (or stop) of the service would act on, in order."""
    if action == "start":
        order, first, last = tree.start_order(), f"Starting {tree.name}...", f"Start of {tree.name} complete"
    else:
        order, first, last = tree.stop_order(), f"Stopping {tree.name}...", f"Stop of {tree.name} complete"
    return "\n".join([first, *(f"[{action}] {n.label}" for n in order), last]) + "\n"


def format_delta(changes: TreeDelta) -> str:
    lines = []
    for item in changes:
        if item.kind == "unchanged":
            continue
        lines.append(f"service:{item.service} {item.kind}")
        lines += [f"  [stop] {n.label}" for n in item.stop]
        lines += [f"  [start] {n.label}" for n in item.start]
        lines += [f"  [reconfig] {n.label}" for n in item.reconfig]
    return "\n".join(lines or ["No changes."]) + "\n"


def _tree(path: str, kind: str, name: str) -> tuple[ClusterConfig, ServiceTree]:
    if kind != "service":
        raise UsageError(f"only services can be started or stopped here, not {kind!r}")
    from quorate.resources import build_trees

    config = _load(path)
    trees = build_trees(config)
    if name not in trees:
        known = ", ".join(trees) or "none"
        raise UsageError(f"no service {name!r} in {path}; services: {known}")
    return config, trees[name]


def _local_name(config: ClusterConfig) -> str:
    host = socket.gethostname()
    node = config.node_by_name(host)
    return node.name if node is not None else host


def run_real(path: str, action: str, kind: str, name: str) -> int:
    from quorate.resources import ResourceRunner

    config, tree = _tree(path, kind, name)

    def show(step: StepResult) -> None:
        line = f"[{step.action}] {step.node.label}"
        if not step.outcome.ok:
            line += f" failed: {step.outcome.message}"
        print(line, flush=True)

    runner = ResourceRunner(
        node_name=_local_name(config),
        rsctmp=os.environ.get("QUORATE_RSCTMP", "/run/resource-agents"),
        on_step=show,
    )
    print("Running in test mode.", flush=True)
    if action == "start":
        print(f"Starting {name}...", flush=True)
        outcome = asyncio.run(runner.start_service(tree))
    elif action == "stop":
        print(f"Stopping {name}...", flush=True)
        outcome = asyncio.run(runner.stop_service(tree))
    else:
        print(f"Checking status of {name}...", flush=True)
        outcome = asyncio.run(runner.status_service(tree))
    print(outcome.message)
    if outcome.self_fence:
        print("self_fence: a resource could not be released; the node must be rebooted")
    return 0 if outcome.ok else 1


def cmd_test(args: Sequence[str]) -> int:
    if len(args) == 1:
        from quorate.resources import build_trees

        config = _load(args[0])
        trees = build_trees(config)
        sys.stdout.write(format_test(config, trees))
        return 1 if any(t.errors for t in trees.values()) else 0
    if len(args) == 4 and args[1] in ("start", "stop", "status"):
        return run_real(args[0], args[1], args[2], args[3])
    raise UsageError("test takes a file, optionally followed by start|stop|status service NAME")


def cmd_noop(args: Sequence[str]) -> int:
    if len(args) != 4 or args[1] not in ("start", "stop"):
        raise UsageError("noop takes a file, start|stop, service and a name")
    _config, tree = _tree(args[0], args[2], args[3])
    sys.stdout.write(format_noop(tree, args[1]))
    return 0


def cmd_delta(args: Sequence[str]) -> int:
    if len(args) != 2:
        raise UsageError("delta takes two files")
    from quorate.resources import delta

    sys.stdout.write(format_delta(delta(_load(args[0]), _load(args[1]))))
    return 0


COMMANDS = {"test": cmd_test, "noop": cmd_noop, "delta": cmd_delta}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        sys.stderr.write(f"{PROG}: unknown command {args[0]!r}\n{USAGE}")
        return 2
    from quorate.config import ConfigError

    try:
        return command(args[1:])
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n{USAGE}")
        return 2
    except ConfigError as exc:
        sys.stdout.write("Running in test mode.\n" if args[0] == "test" else "")
        for problem in exc.problems:
            sys.stdout.write(f"{problem.severity}: {problem}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
