"""`quorate status` as text: the status document (`quorate.node.status.StatusDoc`, as plain data) laid out for
a terminal.

Kept apart from the click command line so that the quick entry point (`quorate.cli.entry`) can print it without
loading click: `quorate status` is typed in loops while something is wrong, and click costs it 0.1-0.2 s.
"""

from __future__ import annotations

import time
from typing import Any


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{seconds:.1f}s ago"


def render_status(s: dict[str, Any]) -> str:
    names = {n["nodeid"]: n["name"] for n in s["nodes"]}
    verdict = "Quorate" if s["quorate"] else "INQUORATE (activity blocked)"
    lines = [
        f"Cluster {s['cluster_name']} (id {s['cluster_id']}), config version {s['config_version']}",
        f"This node: {s['node_name']} (id {s['node_id']}), {s['state']}, view {s['generation']}"
        + (f", coordinator {names.get(s['coordinator'], s['coordinator'])}" if s["coordinator"] else ""),
        f"Quorum: {verdict}: {s['total_votes']} votes, expected {s['expected_votes']}, quorum {s['quorum']}",
        f"Why: {s['reason']}",
        "",
        f"  {'ID':>3}  {'NAME':<28} {'VOTES':>5}  {'STATE':<8} {'HEARD':<12} NOTE",
    ]
    for n in s["nodes"]:
        state = "member" if n["member"] else "out"
        heard = "local" if n["local"] else _ago(n["last_heard_age"])
        note = n["refused"] or ""
        lines.append(f"  {n['nodeid']:>3}  {n['name']:<28} {n['votes']:>5}  {state:<8} {heard:<12} {note}")
    t = s["transport"]
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(t["dropped"].items())) or "none"
    lines += [
        "",
        f"Transport: {t['accepted']} datagrams accepted, {t['sent']} sent; dropped: {dropped}; "
        f"undecodable: {t['undecodable']}",
    ]
    w = s.get("witness")
    if w:
        left = f", {w['lease_left']:.1f} s of lease left" if w.get("lease_left") is not None else ""
        lines.append(
            f"Witness: {w['host']}:{w['port']} ({w['algorithm']}, lease {w['lease']:g} s), {w['state']}, "
            f"{w['votes']} votes{left}; last answer: {w['last_reason']}"
        )
    offsets = s.get("clock_offsets") or []
    if offsets:
        limit = s.get("clock_warn_above", 1.0)
        shown = [
            f"{o['name']} {o['offset']:+.3f} s" + (" (above the warning threshold)" if abs(o["offset"]) > limit else "")
            for o in offsets
        ]
        lines.append("Clock offsets: " + ", ".join(shown))
    if s.get("log"):
        lines += ["", "Recent decisions:", *[f"  {entry}" for entry in s["log"][-8:]]]
    events = s.get("events") or []
    if events:
        lines += ["", "Recent events (quorate timeline for the whole cluster):"]
        for e in events[-5:]:
            stamp = time.strftime("%H:%M:%S", time.localtime(e["at"]))
            lines.append(f"  {stamp} {e['kind']} {e['subject']} {e['outcome']}: {e['reason']}")
    return "\n".join(lines)
