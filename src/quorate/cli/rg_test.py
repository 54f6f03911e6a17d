"""rg_test: rgmanager's offline tool for resource trees: show them, walk them dry, run them here, diff them.

Theory of operation: the original ``rg_test`` read cluster.conf directly, without any daemon, so an
administrator could check a service before handing it to the cluster. quorate's does the same with the pieces
the daemon uses (`quorate.config` to load and validate, `quorate.resources` to build, order, diff and run
trees), and prints on standard output exactly what the original printed there, so scripts and habits built
on it keep working; everything else (warnings, errors, notes) goes to standard error:

* ``rg_test test FILE`` (or ``noop FILE``): the resource list (``=== Resources List ===``: definitions of
  ``<rm><resources>`` type by type, then the resources defined inline), the trees (``=== Resource Tree ===``,
  rgmanager's child order, inherited values resolved, ``(S0)`` for the stopped state) and the failover
  domains; exit 1 when the file cannot be used.
* ``rg_test noop FILE start|stop TYPE NAME``: ``Starting NAME...``, one ``[start] type:primary`` line per
  resource in rgmanager's order, ``Start of NAME complete`` (every use of the resource, with what it contains).
* ``rg_test test FILE start|stop|status TYPE NAME`` really runs the agents on this machine, printing each
  resource as it is done; exit 1 on failure (for stop: resources may still be held).
* ``rg_test delta OLD NEW``: both resource lists and trees with rgmanager's NEEDSTOP/NEEDSTART/RECONFIG marks,
  then the operations of the down and up phases (`quorate.config.rgdelta.rg_delta`).

Like the original, it reads only ``<rm>``: a file whose other sections have errors (a test configuration with
no ``<clusternodes>``) is still walked, with those errors shown on standard error. One kind of line of the
original is not printed: ``Loading resource rule from /usr/share/cluster/...`` (quorate has no agent
directory; its resource types are built in). An inherited parameter whose source has no value prints as
``"(null)"``, as the original's C library printed it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily at run time: usage errors should not pay for lxml
    from quorate.config import Action, ClusterConfig, Problem
    from quorate.config.rgdelta import Listed
    from quorate.resources import Node, ServiceTree, StepResult

PROG = "rg_test"
USAGE = f"""usage: {PROG} test <cluster.conf> [start|stop|status <type> <name>]
       {PROG} noop <cluster.conf> [start|stop <type> <name>]
       {PROG} delta <old cluster.conf> <new cluster.conf>
"""


class UsageError(Exception):
    pass


def _outside_rm(problem: Problem) -> bool:
    """A problem of the file's other sections (not of ``<rm>``, not of the file as a whole)."""
    path = problem.path
    in_rm = path == "/cluster/rm" or path.startswith(("/cluster/rm/", "/cluster/rm["))
    return path.startswith("/cluster") and not in_rm


def _load(path: str) -> ClusterConfig:
    """The configuration, checked as rg_test checks it: errors in ``<rm>`` (or an unreadable file) raise
    `ConfigError`; errors elsewhere are kept as problems of the result (reported, not fatal)."""
    from quorate.config import ConfigError, ConfigReadError, load_config
    from quorate.config.build import build_config
    from quorate.config.files import read_config_bytes
    from quorate.config.parser import normalise_markup, xml_parser

    try:
        return load_config(path)
    except ConfigReadError:
        raise
    except ConfigError as exc:
        if not exc.errors or not all(_outside_rm(p) for p in exc.errors):
            raise
        from lxml import etree

        data = read_config_bytes(path)
        root = etree.fromstring(normalise_markup(data), xml_parser())
        return build_config(root, data=data, source=path, warnings=exc.problems)


def _note(line: str) -> None:
    sys.stderr.write(line + "\n")


def report(config: ClusterConfig, forest: Sequence[ServiceTree], *, agents: bool = False) -> None:
    """Every problem found, on standard error: the file's, the trees', and (``agents``: when the trees are
    printed or run) the resource types no agent on this machine can run."""
    if any(p.severity == "error" for p in config.warnings):
        _note(f"{PROG}: {config.source}: errors outside <rm> (rg_test reads only <rm>; the cluster refuses this file)")
    for problem in config.warnings:
        _note(f"{problem.severity}: {problem}")
    for tree in forest:
        for tree_problem in tree.problems:
            _note(str(tree_problem))
        if not agents:
            continue
        from quorate.resources.agents import RUNNABLE

        for node in tree.nodes():
            if node.type not in RUNNABLE:
                _note(
                    f"warning: {tree.kind} {tree.name}: {node.label}: no agent for resource type {node.type}: "
                    f"the {tree.kind} cannot start on this node"
                )


# ------------------------------------------------------------------------------------------- the printouts
def _flags(words: list[str]) -> str:
    return " [ " + "".join(f"{w} " for w in words) + "]" if words else ""


def format_node(node: Node, level: int = 0, marks: dict[Node, set[str]] | None = None) -> list[str]:
    """restree.c ``print_resource_tree``: ``type [ FLAGS ] (S0) {``, one ``name = "value";`` line per stored
    parameter (inherited ones resolved for this position), the children, ``}``."""
    from quorate.config.rgtree import NON_CRITICAL, stored_attributes

    pad = "  " * level
    marked = (marks or {}).get(node, set())
    words = [w for w in ("NEEDSTOP", "NEEDSTART") if w in marked]
    words += ["INDEPENDENT"] if node.independent is not None else []
    words += ["RECONFIG"] if "RECONFIG" in marked else []
    words += ["ENFORCE-TIMEOUTS"] if node.enforce_timeouts else []
    words += ["NON-CRITICAL"] if node.independent == NON_CRITICAL else []
    lines = [f"{pad}{node.type}{_flags(words)} (S0) {{"]
    own = {k: v for k, v in node.attrs.items() if k not in node.inherited}
    for name, (value, is_source) in stored_attributes(node.spec, own).items():
        shown = node.attrs.get(name, "(null)") if is_source else value
        lines.append(f'{pad}  {name} = "{shown}";')
    for child in node.children:
        lines += format_node(child, level + 1, marks)
    lines.append(f"{pad}}}")
    return lines


def format_resource(entry: Listed) -> list[str]:
    """reslist.c ``print_resource``."""
    from quorate.config.rgcatalogue import type_spec

    spec = type_spec(entry.type)
    marks = [f"[{w}]" for w, on in (("INLINE", entry.inline),) if on]
    marks += [f"[{w}]" for w in ("NEEDSTART", "NEEDSTOP", "RECONFIG") if w in entry.flags]
    lines = [f"Resource type: {entry.type}" + "".join(f" {m}" for m in marks)]
    if spec.maxinstances:
        lines.append(f"Instances: {entry.refs}/{spec.maxinstances}")
    if spec.agent:
        lines.append(f"Agent: {spec.agent}")
    lines.append("Attributes:")
    if not entry.stored:
        return [*lines, "  - None -", ""]
    for name, (value, is_source) in entry.stored.items():
        param = spec.param(name)
        words = [w for w in ("primary", "unique", "required", "reconfig") if param is not None and getattr(param, w)]
        if is_source:
            words = [f'inherit("{value}")']
        text = f"  {name}" if is_source else f"  {name} = {value}"
        lines.append(text + (" [" + "".join(f" {w}" for w in words) + " ]" if words else ""))
    return [*lines, ""]


def format_domains(config: ClusterConfig) -> list[str]:
    """fo_domain.c ``dump_domains``; a node missing from ``<clusternodes>`` has id -1, as there."""
    lines = []
    ids = {n.name: n.nodeid for n in config.nodes}
    for domain in config.rm.failoverdomains:
        words = [w for w, on in (("Ordered ", domain.ordered), ("Restricted ", domain.restricted)) if on]
        words += ["No Failback"] if domain.nofailback else []
        lines.append(f"Failover domain: {domain.name}")
        lines.append(f"Flags: {''.join(words) or 'none'}")
        for member in domain.nodes:
            lines.append(f"  Node {member.name} (id {ids.get(member.name, -1)}, priority {member.priority})")
    return lines


def replacing_lines(base: Sequence[tuple[str, int, int, int]], overrides: Sequence[Action]) -> list[str]:
    """What rgmanager printed while applying a definition's ``<action>`` children to its type's action table
    (``store_action``): one ``Replacing action`` line per action replaced. ``base`` rows are (name, depth,
    timeout, interval)."""
    table = [list(row) for row in base]
    lines = []
    for override in overrides:
        depth_text = (override.depth or "").strip()
        status = override.name in ("status", "monitor")
        depth = int(depth_text) if status and depth_text.isdigit() else -1
        timeout = -1 if override.timeout is None else override.timeout
        interval = -1 if override.interval is None else override.interval
        if depth < 0 and timeout < 0 and interval < 0:
            continue
        replaced = False
        for row in table:
            if row[0] != override.name or (depth != row[1] and depth != -1):
                continue
            text = f"Replacing action '{row[0]}' depth {row[1]}: "
            if timeout >= 0:
                text += f"timeout: {row[2]}->{timeout} "
                row[2] = timeout
            if interval >= 0:
                text += f"interval: {row[3]}->{interval}"
                row[3] = interval
            lines.append(text)
            replaced = True
        if not replaced and min(depth, timeout, interval) >= 0:
            table.append([override.name, depth, timeout, interval])
    return lines


def loading_lines(config: ClusterConfig, forest: Sequence[ServiceTree]) -> list[str]:
    """rgmanager's output while loading: the ``Replacing action`` lines of every definition, globals first
    (type by type), then the inline ones in the order the trees are built."""
    from quorate.config.rgcatalogue import type_spec

    def base(rtype: str) -> list[tuple[str, int, int, int]]:
        return [(a.name, a.depth, a.timeout, a.interval) for a in type_spec(rtype).actions]

    lines = []
    for res in sorted(config.rm.resources, key=lambda r: r.type.lower()):
        lines += replacing_lines(base(res.type), res.actions)
    for tree in forest:
        for node in tree.nodes():
            if node.ref is None:
                lines += replacing_lines(base(node.type), node.overrides)
    return lines


def format_test(config: ClusterConfig, forest: Sequence[ServiceTree]) -> str:
    from quorate.config.rgdelta import resource_list

    listed, _uses = resource_list(config, tuple(forest))
    lines = loading_lines(config, forest)
    if listed:
        lines.append("=== Resources List ===")
        for entry in listed:
            lines += format_resource(entry)
    if forest:
        lines.append("=== Resource Tree ===")
        for tree in forest:
            lines += format_node(tree.root)
    domains = format_domains(config)
    if domains:
        lines.append("=== Failover Domains ===")
        lines += domains
    return "".join(f"{line}\n" for line in lines)


def _targets(forest: Sequence[ServiceTree], config: ClusterConfig, rtype: str, name: str) -> tuple[str, str] | None:
    """The resource ``TYPE NAME`` names, as rgmanager found it: its primary value, else the value of a unique and
    required parameter; None when the file has no such resource."""
    from quorate.config.rgdelta import find_listed, resource_list

    listed, _uses = resource_list(config, tuple(forest))
    entry = find_listed(listed, rtype, name)
    return None if entry is None else (entry.type, entry.primary)


def noop_walk(forest: Sequence[ServiceTree], key: tuple[str, str], action: str) -> list[Node]:
    """The nodes a dry start (or stop) of the resource ``key`` acts on, in order: every tree node using it, with
    its subtree, found the way the walk visits the trees (forward for start, backward for stop)."""
    from quorate.config.rgtree import child_sequence

    found: list[Node] = []

    def visit(node: Node) -> None:
        if node.key == key:
            found.extend(_order(node, action))
            return
        for child in child_sequence(node, action):
            visit(child)

    for tree in reversed(forest) if action == "stop" else forest:
        visit(tree.root)
    return found


def _order(node: Node, action: str) -> list[Node]:
    from quorate.config.rgtree import child_sequence

    nodes = [node] if action == "start" else []
    for child in child_sequence(node, action):
        nodes += _order(child, action)
    return nodes if action == "start" else [*nodes, node]


def format_noop(forest: Sequence[ServiceTree], key: tuple[str, str] | None, action: str, rtype: str, name: str) -> str:
    if key is None:
        return f"No resource {name} of type {rtype} found\n"
    first, last = (f"Starting {name}...", f"Start of {name} complete")
    if action == "stop":
        first, last = (f"Stopping {name}...", f"Stop of {name} complete")
    walked = [n for n in noop_walk(forest, key, action) if n.action(action) is not None]
    return "\n".join([first, *(f"[{action}] {n.label}" for n in walked), last]) + "\n"


def format_delta(old: ClusterConfig, new: ClusterConfig) -> str:
    from quorate.config.rgdelta import rg_delta

    changes = rg_delta(old, new)
    lines = [*loading_lines(old, changes.old_forest), *loading_lines(new, changes.new_forest)]
    for title, listed in (("Old Resource List", changes.old_list), ("New Resource List", changes.new_list)):
        lines.append(f"=== {title} ===")
        for entry in listed:
            lines += format_resource(entry)
    for title, forest in (("Old Resource Tree", changes.old_forest), ("New Resource Tree", changes.new_forest)):
        lines.append(f"=== {title} ===")
        for tree in forest:
            lines += format_node(tree.root, 0, changes.node_flags)
    text = "".join(f"{line}\n" for line in lines)
    return text + "=== Operations (down-phase) ===\n" + changes.down + "=== Operations (up-phase) ===\n" + changes.up


# ------------------------------------------------------------------------------------------------ commands
def _forest(config: ClusterConfig) -> tuple[ServiceTree, ...]:
    from quorate.config.rgtree import build_forest

    return build_forest(config)


def _local_name(config: ClusterConfig) -> str:
    import socket

    host = socket.gethostname()
    node = config.node_by_name(host)
    return node.name if node is not None else host


def run_real(path: str, action: str, rtype: str, name: str) -> int:
    import asyncio

    from quorate.resources import ResourceRunner

    config = _load(path)
    forest = _forest(config)
    report(config, forest, agents=True)
    tree = next((t for t in forest if t.kind == rtype and t.name == name), None)
    if tree is None:
        groups = ", ".join(t.rg_name for t in forest) or "none"
        raise UsageError(f"no resource group {rtype}:{name} in {path} (only whole groups run here); groups: {groups}")

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


def _print_test(path: str) -> int:
    from quorate.config.rgcatalogue import TYPES

    config = _load(path)
    forest = _forest(config)
    _note(f"Loaded {len(TYPES)} resource rules")
    report(config, forest, agents=True)
    sys.stdout.write(format_test(config, forest))
    return 1 if any(t.errors for t in forest) else 0


def cmd_test(args: Sequence[str]) -> int:
    if len(args) == 1:
        _note("Running in test mode.")
        return _print_test(args[0])
    if len(args) == 4 and args[1] in ("start", "stop", "status"):
        # A real run reports each agent call as it finishes, on stdout, after this line (quorate's own layout:
        # the original's agents printed whatever they printed).
        print("Running in test mode.", flush=True)
        return run_real(args[0], args[1], args[2], args[3])
    raise UsageError("test takes a file, optionally followed by start|stop|status TYPE NAME")


def cmd_noop(args: Sequence[str]) -> int:
    _note("Running in test mode.")
    if len(args) == 1:
        return _print_test(args[0])
    if len(args) != 4 or args[1] not in ("start", "stop"):
        raise UsageError("noop takes a file, optionally followed by start|stop TYPE NAME")
    path, action, rtype, name = args
    config = _load(path)
    forest = _forest(config)
    report(config, forest)
    sys.stdout.write("".join(f"{line}\n" for line in loading_lines(config, forest)))
    key = _targets(forest, config, rtype, name)
    sys.stdout.write(format_noop(forest, key, action, rtype, name))
    if key is None:
        groups = ", ".join(t.rg_name for t in forest) or "none"
        _note(f"{PROG}: no {rtype} {name!r} in {path}; resource groups: {groups}")
        return 2
    return 1 if any(t.errors for t in forest) else 0


def cmd_delta(args: Sequence[str]) -> int:
    if len(args) != 2:
        raise UsageError("delta takes two files")
    _note("Running in resource tree delta test mode.")
    old, new = _load(args[0]), _load(args[1])
    report(old, _forest(old))
    report(new, _forest(new))
    sys.stdout.write(format_delta(old, new))
    return 0


COMMANDS = {"test": cmd_test, "noop": cmd_noop, "delta": cmd_delta}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and os.path.isdir(args[0]):
        # The original took the agent directory first (rg_test /usr/share/cluster test FILE); quorate's resource
        # types are built in, so the directory is only noted.
        _note(f"{PROG}: resource types are built into quorate; ignoring the agent path {args[0]}")
        args = args[1:]
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
        for problem in exc.problems:
            _note(f"{problem.severity}: {problem}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
