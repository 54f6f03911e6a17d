"""``ccs_tool``: RHCS 5's editing helpers for cluster.conf, made safe (L-11).

Theory of operation. Each editing subcommand reads the file (refusing one that changes while it is read),
refuses to edit a file that is already invalid, applies one edit to the file's own XML tree
(`quorate.config.edit`, which keeps comments and indentation), bumps ``config_version`` by one, and re-checks
the result with quorate's validator. Only a valid result is written, atomically and with the previous version
kept (`quorate.config.files`); otherwise every located problem is printed and the file on disk is untouched.
``--dry-run`` prints what the edit would change (`quorate.config.changes.plan_change`) and writes nothing.

Like the original, editing the live ``/etc/cluster/cluster.conf`` in place runs ``update`` afterwards (``-C``
suppresses it, ``-F`` forces it for another file); unlike the original, editing any other file never pushes
it, because a copy being prepared elsewhere is not meant to reach the cluster. ``update FILE`` hands the file
to the cluster's configuration push (``quorate.cli.config_push``).

Options and output layouts follow RHCS 5's ccs_tool: ``-c FILE`` (``create``: the file to create), ``-o FILE``
(output file, ``-`` for stdout), ``lsnode``/``lsfence`` with ``-v``, ``addnode -n ID -v VOTES -a ALTNAME -f
FENCEDEV NODE [key=value...]`` (the fence options go on the node's device of a method named "single"),
``addfence NAME AGENT [key=value...]``, ``delnode NAME``, ``delfence NAME``, ``addnodeids`` (numbers the nodes of a
file that has no node ids: lowest free ids, in file order), ``create [-2] NAME``. Quorate differences: ``-n``
may be omitted (the lowest free id is used) and so may ``-f`` (the validator then warns that the node has no
fence method).

Exit codes: 0 done (or nothing to do), 1 refused or failed (invalid file or result, unknown node or device,
write error, push failure), 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from quorate.config import DEFAULT_PATH, ClusterConfig, ConfigError, Problem, parse_config
from quorate.config.edit import Document, EditError, parse_assignments, skeleton, under_construction
from quorate.config.files import read_config_bytes, write_config_atomically

PROG = "ccs_tool"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Refused(Exception):
    """Stop with exit 1; the message has been printed or is in ``args[0]``."""


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(f"{problem.severity}: {problem}", file=sys.stderr)


def _check(data: bytes, source: str) -> tuple[ClusterConfig | None, list[Problem], list[Problem]]:
    """(config, blocking errors, warnings) for bytes that may be a file under construction: one without nodes
    yet (or with fewer than two_node announces) loads as None with no blocking error."""
    try:
        config = parse_config(data, source)
        return config, [], list(config.warnings)
    except ConfigError as exc:
        nodes = 0
        try:
            nodes = len(Document.parse(data).nodes())
        except EditError:
            pass
        blocking, _tolerated = under_construction(exc.problems, nodes)
        return None, blocking, [p for p in exc.problems if p.severity != "error"]


def _load(path: str) -> tuple[bytes, Document, ClusterConfig | None]:
    try:
        data = read_config_bytes(path)
    except ConfigError as exc:
        _print_problems(exc.problems)
        raise Refused from None
    config, blocking, _ = _check(data, path)
    if blocking:
        _print_problems(blocking)
        raise Refused(f"{path} is not valid; fix it before editing it (nothing was written)")
    try:
        return data, Document.parse(data), config
    except EditError as exc:
        raise Refused(str(exc)) from None


def _finish(args: argparse.Namespace, path: str, before: ClusterConfig | None, document: Document) -> int:
    """Validate the edited document, then print it, describe it (dry run) or write it."""
    data = document.to_bytes()
    output = args.outputfile or path
    after, blocking, others = _check(data, output)
    if blocking:
        _print_problems(blocking)
        raise Refused(f"the change would make {path} invalid; nothing was written")
    known = {(p.path, p.attribute, p.message) for p in (before.warnings if before is not None else ())}
    _print_problems([p for p in others if (p.path, p.attribute, p.message) not in known])
    old_version, new_version = document.version() - 1, document.version()
    if before is not None and after is not None:
        from quorate.config.changes import describe, plan_change

        lines = describe(plan_change(before, after))
    else:
        lines = [f"config_version {old_version} -> {new_version}"]
        if after is None:
            lines.append("note: the file is not complete yet: add its nodes with ccs_tool addnode")
    if output == "-":
        sys.stdout.write(data.decode("utf-8"))
        return EXIT_OK
    if args.dry_run:
        print("\n".join(lines))
        print(f"dry run: {output} was not written")
        return EXIT_OK
    try:
        write_config_atomically(output, data)
    except OSError as exc:
        raise Refused(f"cannot write {output}: {exc.strerror or exc}") from None
    print("\n".join(lines))
    in_place = output == path
    if (in_place and path == DEFAULT_PATH and not args.no_ccs) or args.force_ccs:
        print("running ccs_tool update...")
        return update_file(output, dry_run=False)
    return EXIT_OK


def update_file(path: str, *, dry_run: bool) -> int:
    """Hand the file to the cluster's configuration push (all or nothing on every member)."""
    try:
        # Imported by name so that this module does not depend on it: the push is another engineer's module.
        module = importlib.import_module("quorate.cli.config_push")
    except ImportError:
        _err(
            "update is not available: this installation has no configuration push (quorate.cli.config_push); "
            f"{path} was not sent to the cluster"
        )
        return EXIT_FAILED
    return int(module.push_file(path, dry_run=dry_run))


# --- subcommands -----------------------------------------------------------------------------------------


def cmd_lsnode(args: argparse.Namespace) -> int:
    _data, document, config = _load(args.configfile)
    root = document.root
    print(f"\nCluster name: {root.get('name')}, config_version: {root.get('config_version')}\n")
    cman = document.section("cman")
    multicast = next((c for c in cman if c.tag == "multicast"), None) if cman is not None else None
    if multicast is not None:
        print(f"Multicast address for cluster: {multicast.get('addr')}\n")
    print("Nodename                        Votes Nodeid Fencetype")
    for node in document.nodes():
        device = node.find("fence/method/device")
        votes = _int(node.get("votes"), 1)
        nodeid = _int(node.get("nodeid"), 0)
        if node.get("nodeid") is None and config is not None:
            # A RHEL 4 node without nodeid: show the id quorate gives it (the one ccs_tool addnodeids writes).
            known = config.node_by_name(node.get("name", ""))
            nodeid = known.nodeid if known is not None else 0
        fencetype = device.get("name", "") if device is not None else ""
        print(f"{node.get('name', ''):<32} {votes:>3}  {nodeid:>3}    {fencetype}")
        if args.verbose:
            altname = node.find("altname")
            if altname is not None:
                extra = "".join(f" {k!s}={v!s}" for k, v in altname.attrib.items() if k != "name")
                print(f" altname name={altname.get('name')!s}{extra}")
            _properties(node.attrib.items(), "  Node properties: ", {"name", "votes", "nodeid"})
            if device is not None:
                _properties(device.attrib.items(), "  Fence properties: ", {"name", "agent"})
    return EXIT_OK


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _properties(items: object, prefix: str, skip: set[str]) -> None:
    shown = "".join(f" {k}={v}" for k, v in items if k not in skip)  # type: ignore[attr-defined]
    if shown:
        print(prefix + shown)


def cmd_lsfence(args: argparse.Namespace) -> int:
    _data, document, _config = _load(args.configfile)
    container = document.section("fencedevices")
    print("Name             Agent")
    for device in container if container is not None else []:
        if device.tag != "fencedevice":
            continue
        print(f"{device.get('name', ''):<16} {device.get('agent', '')}")
        if args.verbose:
            _properties(device.attrib.items(), "  Properties: ", {"name", "agent"})
    return EXIT_OK


def _edit(args: argparse.Namespace, change: object) -> int:
    _data, document, before = _load(args.configfile)
    try:
        document.bump_version()
        change(document)  # type: ignore[operator]
    except EditError as exc:
        raise Refused(f"{exc} (in {args.configfile}; nothing was written)") from None
    return _finish(args, args.configfile, before, document)


def cmd_addnode(args: argparse.Namespace) -> int:
    fence_args = parse_assignments(args.fenceargs)

    def change(document: Document) -> None:
        nodeid = document.add_node(
            args.node,
            nodeid=args.nodeid,
            votes=args.votes,
            altname=args.altname,
            fence_device=args.fence_type,
            fence_args=fence_args,
        )
        if args.nodeid is None:
            print(f"nodeid not given: using {nodeid}", file=sys.stderr)

    return _edit(args, change)


def cmd_addnodeids(args: argparse.Namespace) -> int:
    """Number the nodes of a file that has none (or some without), with the ids quorate already gives them. It is
    also the only edit of a file that is not yet valid, since an empty nodeid is an error; the result must be
    fully valid to be written."""
    try:
        data = read_config_bytes(args.configfile)
        document = Document.parse(data)
    except ConfigError as exc:
        _print_problems(exc.problems)
        raise Refused from None
    except EditError as exc:
        raise Refused(f"{exc} (in {args.configfile}; nothing was written)") from None
    before, _blocking, _warnings = _check(data, args.configfile)
    given = document.add_node_ids()
    if not given:
        print(f"every node of {args.configfile} already has a nodeid: nothing to do")
        return EXIT_OK
    try:
        document.bump_version()
    except EditError as exc:
        raise Refused(f"{exc} (in {args.configfile}; nothing was written)") from None
    for name, nodeid in given:
        print(f"{name}: nodeid {nodeid}")
    return _finish(args, args.configfile, before, document)


def cmd_delnode(args: argparse.Namespace) -> int:
    return _edit(args, lambda document: document.delete_node(args.node))


def cmd_addfence(args: argparse.Namespace) -> int:
    options = parse_assignments(args.options)
    return _edit(args, lambda document: document.add_fence(args.name, args.agent, options))


def cmd_delfence(args: argparse.Namespace) -> int:
    return _edit(args, lambda document: document.delete_fence(args.name))


def cmd_create(args: argparse.Namespace) -> int:
    import os

    path = args.configfile
    if path != "-" and os.path.lexists(path):
        raise Refused(f"{path} already exists")
    data = skeleton(args.clustername, two_node=args.two_node)
    _config, blocking, _ = _check(data, path)
    if blocking:
        _print_problems(blocking)
        raise Refused(f"cannot create a cluster named {args.clustername!r}; nothing was written")
    if path == "-" or args.dry_run:
        sys.stdout.write(data.decode("utf-8"))
        if args.dry_run:
            print(f"dry run: {path} was not written")
        return EXIT_OK
    try:
        write_config_atomically(path, data, keep_previous=False)
    except OSError as exc:
        raise Refused(f"cannot write {path}: {exc.strerror or exc}") from None
    return EXIT_OK


def cmd_update(args: argparse.Namespace) -> int:
    return update_file(args.file, dry_run=args.dry_run)


# --- command line ----------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        _err(message)
        raise SystemExit(EXIT_USAGE)


def _writer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--configfile", default=DEFAULT_PATH, help=f"configuration file ({DEFAULT_PATH})")
    parser.add_argument("-o", "--outputfile", help="output file (default: the configuration file; - for stdout)")
    parser.add_argument("-C", "--no_ccs", action="store_true", help="do not run update after editing the live file")
    parser.add_argument("-F", "--force_ccs", action="store_true", help="run update even for another output file")
    parser.add_argument("--dry-run", action="store_true", help="print the change, write nothing")


COMMANDS = ("update", "lsnode", "lsfence", "addnode", "delnode", "addfence", "delfence", "addnodeids", "create")


def build_parser(command: str) -> argparse.ArgumentParser:
    """One parser per subcommand, parsed with intermixed options like the original's getopt (``addnode node1
    -n 1 -f apc port=1`` works)."""
    p = _Parser(prog=f"{PROG} {command}")
    if command == "update":
        p.description = "Send FILE to every member of the cluster (all or nothing)."
        p.add_argument("file")
        p.add_argument("--dry-run", action="store_true", help="check and show what the push would change")
        p.set_defaults(func=cmd_update)
    elif command in ("lsnode", "lsfence"):
        p.description = "List the nodes." if command == "lsnode" else "List the fence devices."
        p.add_argument("-c", "--configfile", default=DEFAULT_PATH, help=f"configuration file ({DEFAULT_PATH})")
        p.add_argument("-v", "--verbose", action="store_true", help="print all properties of the item")
        p.set_defaults(func=cmd_lsnode if command == "lsnode" else cmd_lsfence)
    elif command == "addnode":
        p.description = 'Add a node, with a fence method "single" using -f\'s device and the key=value options.'
        p.add_argument("-n", "--nodeid", type=_positive, help="node id (default: the lowest free one)")
        p.add_argument("-v", "--votes", type=_positive, default=1, help="votes of this node (default 1)")
        p.add_argument("-a", "--altname", help="alternative name/interface for multihomed hosts")
        p.add_argument("-f", "--fence_type", help="fence device to use for this node (added with addfence)")
        _writer_options(p)
        p.add_argument("node")
        p.add_argument("fenceargs", nargs="*", metavar="key=value", help="options of the node's fence device")
        p.set_defaults(func=cmd_addnode)
    elif command == "delnode":
        p.description = "Remove a node (refused while failover domains still name it)."
        _writer_options(p)
        p.add_argument("node")
        p.set_defaults(func=cmd_delnode)
    elif command == "addnodeids":
        p.description = "Give a node id to every node that has none (files from before RHCS 5)."
        _writer_options(p)
        p.set_defaults(func=cmd_addnodeids)
    elif command == "addfence":
        p.description = "Add a fence device."
        _writer_options(p)
        p.add_argument("name")
        p.add_argument("agent")
        p.add_argument("options", nargs="*", metavar="key=value")
        p.set_defaults(func=cmd_addfence)
    elif command == "delfence":
        p.description = "Remove a fence device (refused while a node uses it)."
        _writer_options(p)
        p.add_argument("name")
        p.set_defaults(func=cmd_delfence)
    else:
        p.description = "Create a skeleton cluster.conf (add fence devices and nodes to it next)."
        p.add_argument("-2", dest="two_node", action="store_true", help="a two-node cluster (two_node=1)")
        p.add_argument("-c", "--configfile", default=DEFAULT_PATH, help=f"file to create ({DEFAULT_PATH})")
        p.add_argument("--dry-run", action="store_true", help="print the file, write nothing")
        p.add_argument("clustername")
        p.set_defaults(func=cmd_create)
    return p


def usage() -> str:
    return (
        f"Usage: {PROG} [-h] [-V] <command> [options]\n"
        "Commands: update, lsnode, lsfence, addnode, delnode, addfence, delfence, addnodeids, create\n"
        f"Each command has --help. Edits are validated, bump config_version and keep the previous file.\n"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] in ("-h", "--help"):
        sys.stdout.write(usage()) if words else sys.stderr.write(usage())
        return EXIT_OK if words else EXIT_USAGE
    if words[0] in ("-V", "--version"):
        print(f"{PROG} (quorate)")
        return EXIT_OK
    if words[0] not in COMMANDS:
        _err(f"unknown command {words[0]!r}")
        sys.stderr.write(usage())
        return EXIT_USAGE
    args = build_parser(words[0]).parse_intermixed_args(words[1:])
    try:
        result: int = args.func(args)
        return result
    except EditError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except Refused as exc:
        if exc.args:
            _err(str(exc.args[0]))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
