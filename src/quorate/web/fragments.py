"""The live sections of the console's pages, rendered from one status document.

Theory of operation: every part of a page that changes with the cluster is a section with an element id; the
same function renders it for the first page load and for the live stream, so a pushed update is exactly what a
reload would show. `sections` returns every section (the overview's and one per service); the poller in `live`
compares them with the previous round and sends only those whose HTML changed. Each section carries plain
``data-`` attributes (state, owner) so that scripts and tests read values without scraping prose.
"""

from __future__ import annotations

from html import escape
from typing import Any

from quorate.config import ClusterConfig


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def unreachable(message: str) -> dict[str, str]:
    """What every section shows while quorated does not answer."""
    banner = f'<div class="banner bad" data-state="unreachable">quorated is not answering: {e(message)}</div>'
    return {"daemon": banner}


def daemon_banner(s: dict[str, Any]) -> str:
    kind = "good" if s["quorate"] else "bad"
    words = "quorate" if s["quorate"] else "NOT quorate: services stay stopped"
    return (
        f'<div class="banner {kind}" data-state="{"quorate" if s["quorate"] else "inquorate"}">'
        f'Cluster <b>{e(s["cluster_name"])}</b> (config version {e(s["config_version"])}), '
        f"seen from <b>{e(s['node_name'])}</b>: {e(s['state'])}, view {e(s['generation'])}, {words}</div>"
    )


def quorum(s: dict[str, Any]) -> str:
    qdisk = f" + quorum disk {e(s['qdisk_votes'])}" if s.get("qdisk") is not None else ""
    node_votes = sum(n["votes"] for n in s["nodes"] if n["member"])
    return (
        f'<dl class="quorum" data-quorate="{"yes" if s["quorate"] else "no"}">'
        f"<dt>Expected votes</dt><dd>{e(s['expected_votes'])}</dd>"
        f'<dt>Total votes</dt><dd id="total-votes">{e(s["total_votes"])}'
        f' <span class="hint">(nodes {node_votes}{qdisk})</span></dd>'
        f'<dt>Quorum</dt><dd id="quorum-value">{e(s["quorum"])}</dd>'
        f"<dt>Quorate</dt><dd>{'yes' if s['quorate'] else 'no'}"
        f' <span class="hint">{e(s.get("quorum_reason") or "")}</span></dd></dl>'
    )


def nodes(s: dict[str, Any]) -> str:
    rows = []
    for n in s["nodes"]:
        state = "Online" if n["member"] else ("Refused" if n.get("refused") else "Offline")
        notes = []
        if n["local"]:
            notes.append("local")
        if n["nodeid"] == s["coordinator"]:
            notes.append("coordinator")
        if n.get("refused"):
            notes.append(str(n["refused"]))
        heard = "" if n["local"] else _ago(n.get("last_heard_age"))
        rows.append(
            f'<tr data-node="{e(n["name"])}" data-state="{state.lower()}"><td>{e(n["nodeid"])}</td>'
            f"<td>{e(n['name'])}</td><td>{e(n['votes'])}</td>"
            f'<td class="state-{state.lower()}">{state}</td><td>{e(", ".join(notes))}</td><td>{e(heard)}</td></tr>'
        )
    return (
        '<table class="grid"><thead><tr><th>Id</th><th>Node</th><th>Votes</th><th>State</th><th>Notes</th>'
        f"<th>Last heard</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def qdisk(s: dict[str, Any]) -> str:
    q = s.get("qdisk")
    if q is None:
        return '<p class="hint">No quorum disk configured.</p>'
    state = "online" if q.get("online") else "offline"
    parts = [f'<p data-state="{state}">Quorum disk <b>{e(q.get("name") or q.get("label") or "-")}</b>: {state}']
    if q.get("master") is not None:
        parts.append(f", master node id {e(q.get('master') or 'none')}")
    if q.get("score") is not None:
        parts.append(f", score {e(q['score'])}")
    parts.append(f", votes lent to this node {e(s['qdisk_votes'])}")
    if q.get("error"):
        parts.append(f'<br><span class="bad-text">{e(q["error"])}</span>')
    return "".join(parts) + "</p>"


def fence_methods(config: ClusterConfig | None, node: str) -> str:
    """The node's fence methods from cluster.conf, as 'method: device (agent), ...' (empty when unknown)."""
    if config is None:
        return ""
    agents = {d.name: d.agent for d in config.fencedevices}
    for n in config.nodes:
        if n.name == node:
            return "; ".join(
                f"{m.name}: " + ", ".join(f"{d.name} ({agents.get(d.name, '?')})" for d in m.devices) for m in n.fence
            )
    return ""


def fencing(s: dict[str, Any], config: ClusterConfig | None) -> str:
    f = s.get("fencing") or {}
    victims = f.get("victims") or []
    out = []
    if victims:
        rows = []
        for v in victims:
            ack = f'<a class="button" href="/fence/{e(v["name"])}">Acknowledge fence…</a>'
            rows.append(
                f'<tr data-victim="{e(v["name"])}" data-state="{e(v["state"])}"><td>{e(v["name"])}</td>'
                f"<td>{e(v['state'])}</td><td>{e(fence_methods(config, v['name']) or '-')}</td>"
                f"<td>{e(v.get('detail') or '')}</td><td>{e(v.get('attempts', 0))}</td><td>{ack}</td></tr>"
            )
        out.append(
            '<table class="grid pending"><thead><tr><th>Awaiting fence</th><th>State</th><th>Methods</th>'
            f"<th>Detail</th><th>Attempts</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    else:
        out.append('<p class="hint" data-state="none-pending">No node awaits a fence.</p>')
    history = list(f.get("history") or [])[-5:]
    if history:
        items = []
        for h in reversed(history):
            result = "confirmed" if h["ok"] else "FAILED"
            items.append(
                f'<li data-fenced="{e(h["name"])}" data-ok="{"yes" if h["ok"] else "no"}">{e(h["name"])} fenced by '
                f"{e(h.get('by') or '?')} with {e(h.get('method') or '?')}: {result}, {_ago(h.get('ago'))}"
                f"{(' (' + e(h['detail']) + ')') if h.get('detail') else ''}</li>"
            )
        out.append(f'<ul class="history">{"".join(items)}</ul>')
    coordinator = {n["nodeid"]: n["name"] for n in s["nodes"]}.get(f.get("coordinator"), "-")
    out.append(f'<p class="hint">Fencing is coordinated by {e(coordinator)}.</p>')
    return "".join(out)


def services(s: dict[str, Any]) -> str:
    if not s.get("services"):
        return '<p class="hint">No services configured.</p>'
    rows = []
    for svc in s["services"]:
        frozen = " (frozen)" if svc["frozen"] else ""
        rows.append(
            f'<tr id="svc-row-{e(svc["name"])}" data-service="{e(svc["name"])}" data-state="{e(svc["state"])}" '
            f'data-owner="{e(svc["owner"])}"><td><a href="/service/{e(svc["name"])}">service:{e(svc["name"])}</a>'
            f"</td><td>{e(svc['owner'] or '(none)')}</td><td class=\"svc-{e(svc['state'])}\">{e(svc['state'])}"
            f"{frozen}</td><td>{e(svc['reason'])}</td></tr>"
        )
    return (
        '<table class="grid"><thead><tr><th>Service</th><th>Owner</th><th>State</th><th>Why</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def service_state(svc: dict[str, Any]) -> str:
    return (
        f'<dl class="service" data-state="{e(svc["state"])}" data-owner="{e(svc["owner"])}">'
        f'<dt>State</dt><dd class="svc-{e(svc["state"])}">{e(svc["state"])}{" (frozen)" if svc["frozen"] else ""}</dd>'
        f'<dt>Owner</dt><dd class="owner">{e(svc["owner"] or "(none)")}</dd>'
        f"<dt>Last owner</dt><dd>{e(svc['last_owner'] or '(none)')}</dd>"
        f"<dt>Why</dt><dd>{e(svc['reason'])}</dd>"
        f"<dt>Restarts</dt><dd>{e(svc['restarts'])}</dd></dl>"
    )


def sections(s: dict[str, Any], config: ClusterConfig | None) -> dict[str, str]:
    """Every live section, by element id."""
    out = {
        "daemon": daemon_banner(s),
        "quorum": quorum(s),
        "nodes": nodes(s),
        "qdisk": qdisk(s),
        "fencing": fencing(s, config),
        "services": services(s),
    }
    for svc in s.get("services") or []:
        out[f"service-{svc['name']}"] = service_state(svc)
    return out
