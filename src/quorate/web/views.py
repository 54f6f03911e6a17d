"""Whole pages of the console: the layout, login, the overview, a service, a fence acknowledgement, errors.

Theory of operation: pages are plain server-rendered HTML with every value escaped; the live parts are the
sections of `fragments`, embedded under their element ids so that `static/console.js` can swap in what the event
stream pushes. Every form that changes anything is a POST carrying the session's CSRF token in a hidden field.
Nothing here talks to the daemon: pages are functions of a status document, the parsed cluster.conf and the
session.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from quorate.config import ClusterConfig, Resource
from quorate.web.fragments import e, fence_methods, sections

SERVICE_OPS = ("enable", "disable", "relocate", "restart", "freeze", "unfreeze")


def layout(title: str, body: str, *, user: str | None = None, csrf: str = "", live: bool = False) -> str:
    who = ""
    if user:
        who = (
            f'<form method="post" action="/logout" class="who">{e(user)} '
            f'<input type="hidden" name="csrf" value="{e(csrf)}"><button type="submit">Log out</button></form>'
        )
    script = '<script src="/static/console.js" defer></script>' if live else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)} - quorate</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/static/console.css">{script}</head>'
        f'<body><header><a href="/" class="brand">quorate</a>{who}</header>'
        f'<main><h1>{e(title)}</h1>{body}</main><footer id="live-status" class="hint"></footer></body></html>'
    )


def login_page(*, error: str = "", login_token: str, next_path: str = "/") -> str:
    message = f'<p class="error" id="login-error">{e(error)}</p>' if error else ""
    body = (
        f'{message}<form method="post" action="/login" class="login">'
        f'<input type="hidden" name="login_token" value="{e(login_token)}">'
        f'<input type="hidden" name="next" value="{e(next_path)}">'
        '<label>User <input name="user" id="user" autocomplete="username" required autofocus></label>'
        '<label>Password <input name="password" id="password" type="password" autocomplete="current-password" '
        'required></label><button type="submit" id="login">Log in</button></form>'
    )
    return layout("Log in", body)


def overview_page(status: dict[str, Any] | None, config: ClusterConfig | None, live: dict[str, str], *, user: str,
                  csrf: str) -> str:  # fmt: skip
    body = (
        f'<div id="daemon">{live.get("daemon", "")}</div>'
        '<section><h2>Quorum</h2><div id="quorum">' + live.get("quorum", "") + "</div>"
        '<h3>Quorum disk</h3><div id="qdisk">' + live.get("qdisk", "") + "</div></section>"
        '<section><h2>Nodes</h2><div id="nodes">' + live.get("nodes", "") + "</div></section>"
        '<section><h2>Fencing</h2><div id="fencing">' + live.get("fencing", "") + "</div></section>"
        '<section><h2>Services</h2><div id="services">' + live.get("services", "") + "</div></section>"
        '<p><a href="/timeline" id="timeline-link">What every member decided in the last hour (timeline)</a></p>'
    )
    name = status["cluster_name"] if status else "cluster"
    return layout(f"Cluster {name}", body, user=user, csrf=csrf, live=True)


def _resource_tree(resources: tuple[Resource, ...]) -> str:
    if not resources:
        return ""
    items = []
    for r in resources:
        attrs = dict(r.attrs)
        label = attrs.get("name") or attrs.get("address") or attrs.get("ref") or r.ref or ""
        detail = ", ".join(f"{k}={v}" for k, v in r.attrs if k not in ("name",))
        items.append(
            f'<li><span class="rtype">{e(r.type)}</span> <b>{e(label)}</b>'
            f' <span class="hint">{e(detail)}</span>{_resource_tree(r.children)}</li>'
        )
    return f'<ul class="tree">{"".join(items)}</ul>'


def _service_config(config: ClusterConfig | None, name: str) -> str:
    if config is None:
        return '<p class="hint">cluster.conf could not be read here: domain and resources unknown.</p>'
    spec = next((s for s in (*config.rm.services, *config.rm.vms) if s.name == name), None)
    if spec is None:
        return '<p class="hint">The service is not in this node\'s cluster.conf.</p>'
    out = [
        f"<dl><dt>Autostart</dt><dd>{'yes' if spec.autostart else 'no'}</dd>"
        f"<dt>Recovery</dt><dd>{e(spec.recovery)}</dd><dt>Exclusive</dt><dd>{'yes' if spec.exclusive else 'no'}</dd>"
    ]
    domain = next((d for d in config.rm.failoverdomains if d.name == spec.domain), None)
    if domain is None:
        out.append("<dt>Failover domain</dt><dd>(none: any member)</dd></dl>")
    else:
        flags = [f for f, on in (("ordered", domain.ordered), ("restricted", domain.restricted),
                                 ("nofailback", domain.nofailback)) if on]  # fmt: skip
        members = ", ".join(
            f"{n.name}" + (f" (priority {n.priority})" if domain.ordered else "") for n in domain.nodes
        )
        out.append(
            f'<dt>Failover domain</dt><dd id="domain"><b>{e(domain.name)}</b> {e(", ".join(flags))}: {e(members)}</dd>'
            "</dl>"
        )
    out.append(f'<h3>Resources</h3><div id="resources">{_resource_tree(spec.children) or "(none)"}</div>')
    return "".join(out)


def service_page(svc: dict[str, Any], status: dict[str, Any], config: ClusterConfig | None, *, user: str, csrf: str,
                 answer: str = "", answer_ok: bool = True) -> str:  # fmt: skip
    name = svc["name"]
    live = sections(status, config)
    members = [n["name"] for n in status["nodes"] if n["member"]]
    options = "".join(f'<option value="{e(m)}">{e(m)}</option>' for m in members)
    hidden = f'<input type="hidden" name="csrf" value="{e(csrf)}">'

    def button(op: str, label: str) -> str:
        return (
            f'<form method="post" action="/service/{e(name)}" class="inline">{hidden}'
            f'<input type="hidden" name="op" value="{op}"><button type="submit" id="op-{op}">{label}</button></form>'
        )

    relocate = (
        f'<form method="post" action="/service/{e(name)}" class="inline">{hidden}'
        '<input type="hidden" name="op" value="relocate">'
        f'<select name="target" id="target"><option value="">(the best other member)</option>{options}</select>'
        ' <button type="submit" id="op-relocate">Relocate</button></form>'
    )
    enable = (
        f'<form method="post" action="/service/{e(name)}" class="inline">{hidden}'
        '<input type="hidden" name="op" value="enable">'
        f'<select name="target" id="enable-target"><option value="">(this node)</option>{options}</select>'
        ' <button type="submit" id="op-enable">Enable</button></form>'
    )
    result = ""
    if answer:
        result = f'<p id="answer" class="answer {"good" if answer_ok else "bad"}">{e(answer)}</p>'
    body = (
        f'{result}<div id="daemon">{live["daemon"]}</div>'
        f'<section><h2>State</h2><div id="service-{e(name)}">{live.get(f"service-{name}", "")}</div></section>'
        f"<section><h2>Actions</h2>{enable} {relocate} {button('restart', 'Restart')} "
        f"{button('disable', 'Disable')} {button('freeze', 'Freeze')} {button('unfreeze', 'Unfreeze')}</section>"
        f"<section><h2>Configuration</h2>{_service_config(config, name)}</section>"
        f'<p><a href="/timeline?service={e(quote(name))}" id="service-timeline">What happened to it (timeline)</a></p>'
    )
    return layout(f"service:{name}", body, user=user, csrf=csrf, live=True)


def fence_confirm_page(victim: dict[str, Any], config: ClusterConfig | None, *, user: str, csrf: str) -> str:
    name = victim["name"]
    methods = fence_methods(config, name) or "unknown"
    body = (
        f'<p class="warning">Acknowledge that <b id="fence-node">{e(name)}</b> is <b>off</b> '
        "(powered down, or cut from the shared storage and the network). The cluster then treats it as fenced "
        "and starts its services elsewhere: if the node is in fact still running, its data can be corrupted.</p>"
        f"<dl><dt>State</dt><dd>{e(victim['state'])}</dd><dt>Fence methods</dt><dd>{e(methods)}</dd>"
        f"<dt>Detail</dt><dd>{e(victim.get('detail') or '-')}</dd></dl>"
        f'<form method="post" action="/fence/{e(name)}"><input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<button type="submit" id="confirm-fence" class="danger">Yes, {e(name)} is off: acknowledge</button> '
        '<a href="/">Cancel</a></form>'
    )
    return layout(f"Acknowledge the fence of {name}", body, user=user, csrf=csrf)


def message_page(title: str, message: str, *, user: str | None = None, csrf: str = "", link: str = "/") -> str:
    body = f'<p class="message" id="message">{e(message)}</p><p><a href="{e(link)}">Back</a></p>'
    return layout(title, body, user=user, csrf=csrf)


def timeline_page(doc: dict[str, Any], *, service: str | None, hours: int, user: str, csrf: str) -> str:
    """`quorate timeline` for the last ``hours``: every member's decisions, merged, newest last (E-3)."""
    rows = "".join(
        f'<tr data-kind="{e(ev["kind"])}" data-outcome="{e(ev["outcome"])}"><td>{e(ev["time"])}</td>'
        f'<td>{e(", ".join(n.split(".")[0] for n in ev["nodes"]))}</td><td>{e(ev["kind"])}</td>'
        f'<td>{e(ev["subject"])}</td><td>{e(ev["outcome"])}</td><td>{e(ev["reason"])}</td></tr>'
        for ev in doc.get("events", [])
    )
    table = (
        '<table id="timeline"><thead><tr><th>Time (UTC)</th><th>Node</th><th>Kind</th><th>Subject</th>'
        f"<th>Outcome</th><th>Why</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p id="timeline-empty">No decisions in this window.</p>'
    )
    notes = "".join(
        f'<p class="hint missing">{e(name)} did not answer in time: its decisions are missing.</p>'
        for name in doc.get("missing", [])
    )
    scope = f"service {service}" if service else "the whole cluster"
    return layout(f"Timeline of {scope}, last {hours} h", table + notes, user=user, csrf=csrf)
