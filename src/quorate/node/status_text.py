"""`quorate status` as text: the status document (`quorate.node.status.StatusDoc`, as plain data) laid out for
a terminal.

The daemon lays it out, like the text of `clustat` and `cman_tool status`: `quorate status` is typed in loops
while something is wrong, and decoding the document on the command's side meant loading msgspec and json, which
cost the command four times its request (60-80 ms instead of the 15-20 of the other status commands). Events'
clock times are shown in the daemon's local time zone.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from quorate.node.status import StatusDoc


def status_text(doc: StatusDoc, *, as_json: bool) -> str:
    """What `quorate status [--json]` prints, ended by a newline. The JSON is the document as the JSON answer
    of a `status` request carries it (integer keys as strings), indented."""
    data: dict[str, Any] = msgspec.to_builtins(doc)
    return (json.dumps(data, indent=2) if as_json else render_status(data)) + "\n"


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
        f"undecodable: {t['undecodable']}"
        + (f"; heartbeats held up {t['late_timers']} times (see the log)" if t.get("late_timers") else ""),
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
