"""cman_tool's text layouts (L-10), as pure functions of the daemon's status.

Kept byte-compatible with the article's printed output so that scripts and eyes trained on cman keep
working: same labels, same order, "Quorum device votes" only while the quorum device's votes are held (the
quorum disk's, or the quorum witness's, which takes its place in a cluster without shared storage), and
"Activity blocked" after the quorum when inquorate.
"""

from __future__ import annotations

import time
from typing import Any


def _mismatch(s: dict[str, Any]) -> str:
    """Nodes heard running another file (only when there are some: the article's layout stays as printed)."""
    others = s.get("config_mismatch") or []
    if not others:
        return ""
    return " (differs on " + ", ".join(f"{o['name']}: {o['config_version']}" for o in others) + ")"


def format_status(s: dict[str, Any]) -> str:
    lines = [
        f"Version: {s['protocol_version']}",
        f"Config Version: {s['config_version']}" + _mismatch(s),
        f"Cluster Name: {s['cluster_name']}",
        f"Cluster Id: {s['cluster_id']}",
        f"Cluster Member: {'Yes' if s['member'] else 'No'}",
        f"Cluster Generation: {s['generation']}",
        f"Membership state: {s['state']}",
        f"Nodes: {s['node_count']}",
        f"Expected votes: {s['expected_votes']}",
    ]
    if s.get("qdisk_votes"):  # the quorum disk's or the witness's: one quorum device per cluster
        lines.append(f"Quorum device votes: {s['qdisk_votes']}")
    lines.append(f"Total votes: {s['total_votes']}")
    if s.get("show_node_votes"):
        lines.append(f"Node votes: {s['node_votes']}")
    quorum = f"Quorum: {s['quorum']}"
    if not s["quorate"]:
        quorum += "  Activity blocked"
    lines += [
        quorum,
        f"Active subsystems: {s['active_subsystems']}",
        f"Flags: {' '.join(s['flags'])}",
        f"Ports Bound: {' '.join(str(p) for p in s['ports_bound']) or '0'}",
        f"Node name: {s['node_name']}",
        f"Node ID: {s['node_id']}",
        f"Multicast addresses: {' '.join(s['multicast_addresses'])}",
        f"Node addresses: {' '.join(s['node_addresses'])}",
    ]
    skew = _clock_skew(s)
    if skew:
        lines.append(skew)
    return "\n".join(lines) + "\n"


def _clock_skew(s: dict[str, Any]) -> str:
    """One extra line, last, only while some peer's wall clock is off by more than the warning threshold (E-4):
    a healthy cluster prints the article's layout unchanged."""
    limit = s.get("clock_warn_above", 1.0)
    off = [o for o in s.get("clock_offsets") or [] if abs(o["offset"]) > limit]
    if not off:
        return ""
    return "Clock skew: " + ", ".join(f"{o['name']} {o['offset']:+.3f} s" for o in off)


def _when(stamp: float | None) -> str:
    if stamp is None:
        return " " * 19
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def format_nodes(s: dict[str, Any], *, addresses: bool = False, only: str | None = None) -> str:
    lines = ["Node  Sts   Inc   Joined               Name"]
    rows = list(s["nodes"])
    qdisk = s.get("qdisk")
    if qdisk and qdisk.get("registered"):
        rows.append(
            {
                "nodeid": 0,
                "name": qdisk["name"],
                "member": bool(s.get("qdisk_votes")),
                "joined_generation": 0,
                "joined": qdisk.get("since"),
                "address": None,
            }
        )
    for n in sorted(rows, key=lambda r: r["nodeid"]):
        if only and only not in (n["name"], n["name"].split(".")[0]):
            continue
        letter = "d" if n.get("refused") else ("M" if n["member"] else "X")
        inc = n["joined_generation"] if n["member"] else 0
        joined = _when(n["joined"]) if n["member"] else " " * 19
        lines.append(f"{n['nodeid']:4d}   {letter}  {inc:5d}   {joined}  {n['name']}")
        if addresses and n.get("address"):
            lines.append(f"       Addresses: {n['address']}")
    return "\n".join(lines) + "\n"


def format_fence_ls(s: dict[str, Any]) -> str:
    """`fence_tool ls`: the fence domain as fenced showed it, plus one line per pending victim."""
    fencing = s.get("fencing") or {}
    victims = fencing.get("victims", [])
    names = {n["nodeid"]: n["name"] for n in s["nodes"]}
    lines = [
        "fence domain",
        f"member count  {s['node_count']}",
        f"victim count  {len(victims)}",
        f"victim now    {next((v['nodeid'] for v in victims if v['state'] == 'fencing'), 0)}",
        f"master nodeid {fencing.get('coordinator', 0)}",
        f"wait state    {'fencing' if victims else 'none'}",
        f"members       {' '.join(str(m) for m in s['members'])}",
    ]
    for v in victims:
        detail = f": {v['detail']}" if v.get("detail") else ""
        lines.append(f"victim {v['nodeid']} {names.get(v['nodeid'], v['name'])}: {v['state']}{detail}")
    for h in fencing.get("history", [])[-5:]:
        result = "fenced" if h["ok"] else "fence failed"
        lines.append(f"history {h['name']}: {result} by {h['by']} ({h['method'] or 'no method'}) {h['ago']:.0f} s ago")
    return "\n".join(lines) + "\n"


def format_services(s: dict[str, Any], lockspaces: list[str]) -> str:
    """`cman_tool services` (RHEL 5 ran `group_tool ls`): the groups this node takes part in, each with the
    node ids of its members on the next line. quorate has the fence domain "default" (level 0) and, at level 1,
    the lock spaces this node holds locks in plus "rgmanager" when it runs the resource manager. A group's
    state is "none" when no recovery is in progress, or says what the recovery waits for."""
    if not s["member"]:
        return ""
    members = "[" + " ".join(str(m) for m in sorted(s["members"])) + "]"
    victims = (s.get("fencing") or {}).get("victims", [])
    names = {n["nodeid"]: n["name"] for n in s["nodes"]}
    waiting = ", ".join(names.get(v["nodeid"], str(v["nodeid"])) for v in victims)
    recovering = f"waiting for the fence of {waiting}" if waiting else "none"
    groups: list[tuple[str, int, str, str]] = []
    if "fenced" in s["subsystems"] and s["quorate"]:
        groups.append(("fence", 0, "default", recovering))
    level_one = sorted(set(lockspaces)) + (["rgmanager"] if "rgmanager" in s["subsystems"] else [])
    groups += [("dlm", 1, name, recovering) for name in level_one]
    lines = ["type             level name       id       state"]
    for index, (kind, level, name, state) in enumerate(groups, start=1):
        lines.append(f"{kind:<16} {level:<5} {name:<10} {(level + 1) << 16 | index:08x} {state}")
        lines.append(members)
    return "\n".join(lines) + "\n"


LAST_OWNER_STATES = {"stopped", "disabled", "recoverable", "failed"}
STATE_CODES = {
    "stopped": 110,
    "starting": 111,
    "started": 112,
    "stopping": 113,
    "failed": 114,
    "uninitialized": 115,
    "recovering": 118,
    "disabled": 119,
}


def format_clustat(s: dict[str, Any], options: dict[str, Any] | None = None, columns: int = 80) -> str:
    """clustat's text layout (rules L-1..L-4), 80 columns; first line is the exit status."""
    options = options or {}
    width = columns // 2
    col = (columns - 20) // 2
    only_member = options.get("member")
    only_service = options.get("service")
    if options.get("quiet"):
        return f"{0 if s['quorate'] else 1}\n"
    if options.get("xml"):
        return "0\n" + format_clustat_xml(s)
    code = 0
    lines = [
        f"Cluster Status for {s['cluster_name']} @ {time.ctime()}",
        f"Member Status: {'Quorate' if s['quorate'] else 'Inquorate'}",
        "",
    ]
    if not only_service:
        lines += [f" {'Member Name':<{width}}ID   Status", f" {'------ ----':<{width}}---- ------"]
        rows = list(s["nodes"])
        qdisk = s.get("qdisk")
        for n in sorted(rows, key=lambda r: r["nodeid"]):
            if only_member and only_member not in (n["name"], n["name"].split(".")[0]):
                continue
            flags = ["Online" if n["member"] else "Offline"]
            if n["local"]:
                flags.append("Local")
            if n["member"] and s.get("rgmanager"):
                flags.append("rgmanager")
            lines.append(f" {n['name'][:width]:<{width}}{n['nodeid']:4d} {', '.join(flags)}")
            if only_member:
                code = 0 if n["member"] else 1
        if qdisk and qdisk.get("name") and not only_member:
            state = "Online" if qdisk.get("online") else "Offline"
            lines.append(f" {qdisk['name'][:width]:<{width}}{0:4d} {state}, Quorum Disk")
        lines.append("")
    if only_member:
        return f"{code}\n" + "\n".join(lines) + "\n"
    services = s.get("services") or []
    if not s.get("rgmanager"):
        lines.append("Resource Group Manager not running; no service information available.")
    elif services:
        lines += [
            f" {'Service Name':<{col}} {'Owner (Last)':<{col}} {'State':<14}",
            f" {'------- ----':<{col}} {'----- ------':<{col}} {'-----':<14}",
        ]
        for svc in services:
            if only_service and only_service not in (svc["name"], "service:" + svc["name"]):
                continue
            if svc["state"] in LAST_OWNER_STATES:
                owner = f"({svc['last_owner'] or 'none'})"
            else:
                owner = svc["owner"] or "none"
            state = svc["state"] + (" [frozen]" if svc["frozen"] else "")
            name = ("service:" + svc["name"])[:col]
            lines.append(f" {name:<{col}} {owner[:col]:<{col}} {state:<14}".rstrip())
            if only_service:
                code = 0 if svc["state"] in ("started", "starting", "stopping") else STATE_CODES.get(svc["state"], 1)
    return f"{code}\n" + "\n".join(lines) + "\n"


def format_clustat_xml(s: dict[str, Any]) -> str:
    """`clustat -x`: rgmanager's XML layout, for scripts that parse it."""
    from xml.sax.saxutils import quoteattr as q

    lines = ['<?xml version="1.0"?>', '<clustat version="4.1.1">']
    lines.append(f'  <cluster name={q(s["cluster_name"])} id="{s["cluster_id"]}" generation="{s["generation"]}"/>')
    lines.append(f'  <quorum quorate="{int(bool(s["quorate"]))}" groupmember="{int(bool(s["member"]))}"/>')
    lines.append("  <nodes>")
    for n in s["nodes"]:
        lines.append(
            f'    <node name={q(n["name"])} state="{int(bool(n["member"]))}" local="{int(bool(n["local"]))}" '
            f'estranged="0" rgmanager="{int(bool(n["member"] and s.get("rgmanager")))}" '
            f'rgmanager_master="{int(n["nodeid"] == s.get("coordinator"))}" qdisk="0" '
            f'nodeid="0x{n["nodeid"]:08x}"/>'
        )
    qdisk = s.get("qdisk")
    if qdisk and qdisk.get("name"):
        lines.append(
            f'    <node name={q(qdisk["name"])} state="{int(bool(qdisk.get("online")))}" local="0" '
            'estranged="0" rgmanager="0" rgmanager_master="0" qdisk="1" nodeid="0x00000000"/>'
        )
    lines.append("  </nodes>")
    lines.append("  <groups>")
    for svc in s.get("services") or []:
        code = STATE_CODES.get(svc["state"], 115)
        flags = 1 if svc["frozen"] else 0
        lines.append(
            f'    <group name={q("service:" + svc["name"])} state="{code}" state_str={q(svc["state"])} '
            f'flags="{flags}" flags_str={q("frozen" if flags else "")} owner={q(svc["owner"] or "none")} '
            f'last_owner={q(svc["last_owner"] or "none")} restarts="{svc["restarts"]}" '
            'last_transition="0" last_transition_str=""/>'
        )
    lines += ["  </groups>", "</clustat>"]
    return "\n".join(lines) + "\n"
