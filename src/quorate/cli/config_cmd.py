"""``quorate config``: check cluster.conf, show the configuration quorate would use, and what a new file changes.

Theory of operation: the commands are thin wrappers over `quorate.config.load_config` and
`quorate.config.changes`; all knowledge of the file lives in the config package. Problems print one per line
as ``severity: FILE:LINE: PATH[@ATTR]: message (hint)`` on stderr so editors and CI logs can jump to the line.
``show`` prints the *effective* values (defaults filled in, derived values computed), which is the answer to
"what will the cluster do with this file", not an echo of the file. ``diff`` compares two effective
configurations, so reformatting a file changes nothing and a changed derived value (quorum, consensus) shows.

Exit codes, so that scripts and configuration-management tools can act on the result:

* ``validate`` and ``show``: 0 valid (warnings, if any, on stderr), 1 invalid (every problem on stderr),
  2 the file could not be read (missing, unreadable, or changing while read).
* ``diff``: 0 FILE is a valid successor of the running file (the change is printed, possibly only the
  version; warnings on stderr), 1 FILE is invalid or may not replace the running file (the problems on
  stderr; the change is still printed when both files load), 2 FILE could not be read, or the running file
  could not be read or is invalid (there is then nothing to compare with).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any, NoReturn

import click
import msgspec

from quorate.config import DEFAULT_PATH, ClusterConfig, ConfigError, ConfigReadError, Problem, Resource, load_config

EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def _print_problems(problems: Iterable[Problem]) -> None:
    for problem in problems:
        click.echo(f"{problem.severity}: {problem}", err=True)


def _load(path: str, *, invalid: int = EXIT_INVALID) -> ClusterConfig:
    try:
        return load_config(path)
    except ConfigReadError as exc:
        _print_problems(exc.problems)
        _exit(EXIT_UNREADABLE)
    except ConfigError as exc:
        _print_problems(exc.problems)
        errors = len(exc.errors)
        others = len(exc.problems) - errors
        click.echo(
            f"{path}: invalid: {errors} error{'s' if errors != 1 else ''}"
            + (f", {others} warning{'s' if others != 1 else ''}" if others else ""),
            err=True,
        )
        _exit(invalid)


def _exit(code: int) -> NoReturn:
    raise SystemExit(code)


@click.group("config")
def config() -> None:
    """Check and display /etc/cluster/cluster.conf."""


@config.command("validate")
@click.argument("file", required=False, default=DEFAULT_PATH)
def validate(file: str) -> None:
    """Check FILE (default /etc/cluster/cluster.conf): exit 0 valid, 1 invalid, 2 unreadable."""
    cfg = _load(file)
    _print_problems(cfg.warnings)
    services = len(cfg.rm.services)
    click.echo(
        f"{file}: valid: cluster {cfg.name}, config_version {cfg.config_version}, "
        f"{len(cfg.nodes)} node{'s' if len(cfg.nodes) != 1 else ''}, "
        f"{services} service{'s' if services != 1 else ''}"
        + (f", {len(cfg.warnings)} warning{'s' if len(cfg.warnings) != 1 else ''}" if cfg.warnings else "")
    )


@config.command("show")
@click.argument("file", required=False, default=DEFAULT_PATH)
@click.option("--json", "as_json", is_flag=True, help="Print the effective configuration as JSON.")
def show(file: str, as_json: bool) -> None:
    """Print the effective configuration of FILE, with every default filled in."""
    cfg = _load(file)
    _print_problems(cfg.warnings)
    if as_json:
        click.echo(json.dumps(to_json(cfg), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(render(cfg)))


@config.command("diff")
@click.argument("file")
@click.option(
    "--running",
    default=DEFAULT_PATH,
    show_default=True,
    help="The configuration FILE would replace.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the change and the problems as JSON.")
def diff(file: str, running: str, as_json: bool) -> None:
    """Show what activating FILE instead of the running file would change.

    Exit 0: FILE may replace the running file; 1: FILE is invalid or may not replace it; 2: a file is unreadable
    or the running file is invalid.
    """
    from quorate.config.changes import check_successor, describe, plan_change

    current = _load(running, invalid=EXIT_UNREADABLE)
    candidate = _load(file)
    problems = check_successor(current, candidate)
    change = plan_change(current, candidate)
    refused = any(p.severity == "error" for p in problems)
    if as_json:
        payload = {
            "file": file,
            "running": running,
            "valid_successor": not refused,
            "problems": [{**dataclasses.asdict(p), "text": str(p)} for p in problems],
            "warnings": [{**dataclasses.asdict(p), "text": str(p)} for p in candidate.warnings],
            "change": change.to_dict(),
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        _print_problems(candidate.warnings)
        _print_problems(problems)
        lines = describe(change)
        if change.empty:
            lines.append("no other change: nodes, votes, fencing and services stay as they are")
        click.echo("\n".join(lines))
        if refused:
            click.echo(f"{file}: may not replace {running}", err=True)
    if refused:
        _exit(EXIT_INVALID)


def _pairs_to_dicts(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (dict(v) if k == "attrs" else _pairs_to_dicts(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_pairs_to_dicts(v) for v in value]
    return value


def to_json(cfg: ClusterConfig) -> dict[str, Any]:
    """JSON-ready form: dataclass fields as keys, ``attrs`` pairs as objects, plus the derived totals."""
    data = _pairs_to_dicts(msgspec.to_builtins(cfg))
    data["total_node_votes"] = cfg.total_node_votes
    result: dict[str, Any] = data
    return result


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _attrs(resource: Resource, skip: str | None) -> str:
    shown = " ".join(f"{k}={v!r}" for k, v in resource.attrs if k != skip)
    return f" ({shown})" if shown else ""


def _tree(resource: Resource, depth: int) -> Iterable[str]:
    primary_attr = "address" if resource.type == "ip" else "name"
    ref = " [ref]" if resource.ref is not None else ""
    yield f"{'  ' * depth}{resource.type} {resource.primary}{ref}{_attrs(resource, primary_attr)}"
    for child in resource.children:
        yield from _tree(child, depth + 1)


def render(cfg: ClusterConfig) -> list[str]:
    expected = "explicit" if cfg.expected_votes_explicit is not None else "sum of node votes"
    lines = [
        f"Cluster {cfg.name}: config_version {cfg.config_version}, cluster id {cfg.cluster_id}",
        f"  source       {cfg.source} (sha256 {cfg.digest})",
        f"  multicast    {cfg.multicast_address} ({'explicit' if cfg.multicast_explicit else 'derived'}), "
        f"ports {cfg.port - 1}-{cfg.port}",
        f"  votes        expected {cfg.expected_votes} ({expected}), nodes {cfg.total_node_votes}, "
        f"two_node {_yes(cfg.two_node)}, wait_for_all {_yes(cfg.wait_for_all)}",
        f"  totem        token {cfg.token_ms} ms, join {cfg.join_ms} ms, consensus {cfg.consensus_ms} ms",
        f"  keyfile      {cfg.keyfile or '(none: the cluster name is the key)'}",
        "Nodes",
    ]
    for node in cfg.nodes:
        methods = "; ".join(f"{m.name}: {', '.join(d.name for d in m.devices) or '-'}" for m in node.fence)
        lines.append(f"  {node.nodeid:>3}  {node.name}  votes {node.votes}  fence {methods or '(none)'}")
    lines.append("Fence devices")
    for device in cfg.fencedevices:
        lines.append(f"  {device.name}  agent {device.agent}")
    fd = cfg.fence_daemon
    lines.append(
        f"Fence daemon: post_join_delay {fd.post_join_delay} s, post_fail_delay {fd.post_fail_delay} s, "
        f"clean_start {_yes(fd.clean_start)}, skip_undefined {_yes(fd.skip_undefined)}, "
        f"override_time {fd.override_time} s"
    )
    q = cfg.quorumd
    if q is None:
        lines.append("Quorum disk: none")
    else:
        lines.append(
            f"Quorum disk: {'label ' + q.label if q.label else 'device ' + str(q.device)}, votes {q.votes}, "
            f"interval {q.interval} s, tko {q.tko} (timeout {q.timeout_s} s), tko_up {q.tko_up}, "
            f"master_wait {q.master_wait}, upgrade_wait {q.upgrade_wait}, min_score {q.min_score}, "
            f"master_wins {_yes(q.master_wins)}, reboot {_yes(q.reboot)}, allow_kill {_yes(q.allow_kill)}"
        )
        for h in q.heuristics:
            lines.append(f"  heuristic {h.program!r} score {h.score} interval {h.interval} s tko {h.tko}")
    lines.append(f"Resource manager: status_poll_interval {cfg.rm.status_poll_interval} s")
    for domain in cfg.rm.failoverdomains:
        flags = ", ".join(
            [
                "ordered" if domain.ordered else "unordered",
                "restricted" if domain.restricted else "unrestricted",
                "no failback" if domain.nofailback else "failback",
            ]
        )
        members = ", ".join(f"{n.name} ({n.priority})" if domain.ordered else n.name for n in domain.nodes)
        lines.append(f"  domain {domain.name}: {flags}: {members or '(no nodes)'}")
    for resource in cfg.rm.resources:
        lines.extend("  resource " + line for line in _tree(resource, 0))
    for service in cfg.rm.services:
        lines.append(
            f"  service {service.name}: autostart {_yes(service.autostart)}, domain {service.domain or '(none)'}, "
            f"recovery {service.recovery}, exclusive {_yes(service.exclusive)}, max_restarts {service.max_restarts}, "
            f"restart_expire_time {service.restart_expire_time} s"
            + (f", depend service:{service.depend}" if service.depend else "")
        )
        for child in service.children:
            lines.extend(_tree(child, 2))
    return lines


@config.command("push")
@click.argument("file")
@click.option("--dry-run", is_flag=True, help="Check FILE here and on this node's daemon; send nothing.")
def push(file: str, dry_run: bool) -> None:
    """Activate FILE on every member of the cluster, or on none (what `ccs_tool update FILE` does)."""
    from quorate.cli.config_push import push_file

    _exit(push_file(file, dry_run=dry_run, prog="quorate config push"))
