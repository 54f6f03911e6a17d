"""`quorate metrics`: the local node's state in Prometheus / OpenMetrics text form.

Monitoring should not scrape `cman_tool status` text. This command asks the local quorated for its status (the
same document as `quorate status --json`) and turns it into metrics: printed once (for node_exporter's textfile
collector or a cron job), or served over HTTP with ``--listen [ADDR:]PORT`` (for Prometheus to scrape; each
scrape asks the daemon afresh). The daemon itself opens no extra port: the exporter is this separate process,
run as the unprivileged user of your choice with access to the control socket, or as the packaged
``quorate-metrics`` unit. When the daemon does not answer, ``quorate_up`` is 0 and nothing else is reported.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import click
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

SERVICE_STATES = (
    "stopped",
    "starting",
    "started",
    "stopping",
    "failed",
    "disabled",
    "recovering",
    "uninitialized",
)


def families(s: dict[str, Any] | None) -> list[Metric]:
    """Every metric of one status document (None: the daemon did not answer)."""
    up = GaugeMetricFamily("quorate_up", "1 when the local quorated answered its control socket.")
    up.add_metric([], 0 if s is None else 1)
    if s is None:
        return [up]
    node = str(s["node_name"])
    out: list[Metric] = [up]

    def gauge(name: str, text: str, value: float, labels: dict[str, str] | None = None) -> None:
        family = GaugeMetricFamily(name, text, labels=list(labels or {}))
        family.add_metric(list((labels or {}).values()), value)
        out.append(family)

    info = GaugeMetricFamily(
        "quorate_node_info", "This node, its cluster and its software.", labels=["cluster", "node", "version"]
    )
    info.add_metric([str(s["cluster_name"]), node, str(s["version"])], 1)
    out.append(info)
    gauge("quorate_member", "1 when this node is a member of a view.", 1 if s["member"] else 0)
    gauge("quorate_quorate", "1 when this node's view is quorate (services may run).", 1 if s["quorate"] else 0)
    gauge("quorate_view_generation", "Generation of the view this node is in.", s["generation"])
    gauge("quorate_view_members", "Nodes in this node's view.", s["node_count"])
    gauge("quorate_expected_votes", "Expected votes (the highest any member announces).", s["expected_votes"])
    gauge("quorate_total_votes", "Votes present: the view's nodes and the quorum disk's.", s["total_votes"])
    gauge("quorate_quorum", "Votes needed to be quorate.", s["quorum"])
    gauge("quorate_qdisk_votes", "Votes the quorum disk lends this node now (0: not counted).", s["qdisk_votes"])
    gauge("quorate_config_version", "config_version of the running cluster.conf.", s["config_version"])
    gauge(
        "quorate_config_mismatch_nodes",
        "Members running another cluster.conf (version or digest) than this node.",
        len(s.get("config_mismatch") or []),
    )
    gauge("quorate_coordinator", "1 when this node coordinates its view.", 1 if s["coordinator"] == s["node_id"] else 0)

    seen = GaugeMetricFamily(
        "quorate_peer_member", "1 when the configured node is in this node's view.", labels=["peer"]
    )
    heard = GaugeMetricFamily(
        "quorate_peer_last_heard_seconds", "Seconds since the node's last datagram reached this node.", labels=["peer"]
    )
    for n in s["nodes"]:
        seen.add_metric([n["name"]], 1 if n["member"] else 0)
        if n.get("last_heard_age") is not None and not n.get("local"):
            heard.add_metric([n["name"]], float(n["last_heard_age"]))
    out += [seen, heard]

    transport = s.get("transport") or {}
    accepted = CounterMetricFamily("quorate_datagrams_accepted", "Authenticated datagrams accepted.")
    accepted.add_metric([], transport.get("accepted", 0))
    sent = CounterMetricFamily("quorate_datagrams_sent", "Datagrams sent.")
    sent.add_metric([], transport.get("sent", 0))
    dropped = CounterMetricFamily(
        "quorate_datagrams_dropped", "Datagrams dropped before use, by reason (forged, replayed...).", labels=["reason"]
    )
    for reason, count in sorted((transport.get("dropped") or {}).items()):
        dropped.add_metric([reason], count)
    undecodable = CounterMetricFamily("quorate_datagrams_undecodable", "Authentic datagrams that did not decode.")
    undecodable.add_metric([], transport.get("undecodable", 0))
    out += [accepted, sent, dropped, undecodable]

    fencing = s.get("fencing") or {}
    pending = GaugeMetricFamily(
        "quorate_fence_pending",
        "Nodes waiting to be fenced, by where their fencing stands.",
        labels=["victim", "state"],
    )
    for v in fencing.get("victims", []):
        pending.add_metric([v["name"], v["state"]], 1)
    last = GaugeMetricFamily(
        "quorate_fence_last_timestamp_seconds",
        "When each node was last fenced successfully (Unix time), as far as this node knows.",
        labels=["victim"],
    )
    now = time.time()
    latest: dict[str, float] = {}
    for h in fencing.get("history", []):
        if h["ok"]:
            latest[h["name"]] = max(latest.get(h["name"], 0.0), now - float(h["ago"]))
    for name, at in sorted(latest.items()):
        last.add_metric([name], round(at, 3))
    out += [pending, last]

    state = GaugeMetricFamily(
        "quorate_service_state", "1 for the service's current state (rgmanager's states).", labels=["service", "state"]
    )
    owner = GaugeMetricFamily(
        "quorate_service_owner", "1 for the node that runs the service.", labels=["service", "node"]
    )
    restarts = GaugeMetricFamily(
        "quorate_service_restarts", "Restarts counted against the service's max_restarts.", labels=["service"]
    )
    local = GaugeMetricFamily(
        "quorate_service_running_here", "1 when this node's executor runs the service.", labels=["service"]
    )
    running_here = s.get("local_services") or {}
    for svc in s.get("services", []):
        for name in SERVICE_STATES:
            state.add_metric([svc["name"], name], 1 if svc["state"] == name else 0)
        if svc.get("owner"):
            owner.add_metric([svc["name"], svc["owner"]], 1)
        restarts.add_metric([svc["name"]], svc.get("restarts", 0))
        local.add_metric([svc["name"]], 1 if svc["name"] in running_here else 0)
    out += [state, owner, restarts, local]

    qdisk = s.get("qdisk")
    if qdisk:
        gauge(
            "quorate_qdisk_registered",
            "1 when the quorum disk service runs on this node.",
            1 if qdisk.get("registered") else 0,
        )
        if qdisk.get("score") is not None:
            gauge("quorate_qdisk_score", "This node's heuristic score.", float(qdisk["score"]))
        if qdisk.get("master") is not None:
            gauge("quorate_qdisk_master", "Node id of the quorum disk's master (0: none).", int(qdisk["master"] or 0))
    out += _decision_families(s)
    return out


def _decision_families(s: dict[str, Any]) -> list[Metric]:
    """Decision events by kind and outcome, the journal's counters, and each peer's clock offset (E-1..E-4)."""
    events = CounterMetricFamily(
        "quorate_decision_events", "Decisions this node made since it started, by kind and outcome.",
        labels=["kind", "outcome"],
    )  # fmt: skip
    for key, count in sorted((s.get("event_counts") or {}).items()):
        kind, _, outcome = key.partition("/")
        events.add_metric([kind, outcome], count)
    out: list[Metric] = [events]
    journal = s.get("journal")
    if journal:
        for field, text in (
            ("written", "Decision events written to the journal."),
            ("dropped", "Decision events the journal could not keep (queue full, or the file failing)."),
            ("errors", "Times the journal file failed (corrupt, disk full) and was moved aside."),
        ):
            family = CounterMetricFamily(f"quorate_journal_events_{field}" if field != "errors" else
                                         "quorate_journal_errors", text)  # fmt: skip
            family.add_metric([], journal.get(field, 0))
            out.append(family)
    offset = GaugeMetricFamily(
        "quorate_peer_clock_offset_seconds", "The peer's wall clock minus this node's, from heartbeat round trips.",
        labels=["peer"],
    )  # fmt: skip
    delay = GaugeMetricFamily(
        "quorate_peer_clock_round_trip_seconds", "Round trip of the sample the clock offset comes from.",
        labels=["peer"],
    )  # fmt: skip
    for entry in s.get("clock_offsets") or []:
        offset.add_metric([entry["name"]], entry["offset"])
        delay.add_metric([entry["name"]], entry["delay"])
    return [*out, offset, delay]


class StatusCollector(Collector):
    """Asks the daemon at every collection, so a scrape never shows stale state."""

    def collect(self) -> Iterator[Metric]:
        from quorate.cli import client

        try:
            status: dict[str, Any] | None = client.status()
        except (client.NotRunning, client.RequestFailed, OSError, ValueError):
            status = None
        yield from families(status)


def registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StatusCollector())
    return reg


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{listen!r}: give [ADDRESS:]PORT, for example 127.0.0.1:9664", param_hint="--listen")
    return host or "0.0.0.0", int(port)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--listen", metavar="[ADDR:]PORT", help="Serve /metrics over HTTP (each scrape asks quorated).")
def metrics(listen: str | None) -> None:
    """Print this node's metrics (Prometheus text format), or serve them with --listen."""
    from prometheus_client import generate_latest, start_http_server

    reg = registry()
    if listen is None:
        sys.stdout.write(generate_latest(reg).decode())
        return
    host, port = _address(listen)
    try:
        start_http_server(port, addr=host, registry=reg)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo(f"serving quorate metrics on http://{host}:{port}/metrics", err=True)
    while True:
        time.sleep(3600)
