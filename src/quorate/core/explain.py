"""`quorate why`: one or two sentences saying why a service is where it is, why the cluster is (not) quorate, and
where a node stands in membership and fencing, with the facts the sentence rests on.

Theory of operation
-------------------
An explanation is only worth reading if it cannot drift from what the coordinator does, so nothing here decides
anything: the placement sentences are computed by the functions the coordinator itself calls
(`placement.score`, `placement.best_target`), over the same ledger (records, members, who runs what) and the
same fencing state (`Fencing.victims`, `Fencing.confirmed`, `Fencing.history`) that the answering node keeps.
The record's ``reason`` is the replicated account of the last decision; it is quoted only for what no live fact
can tell any more (the nodes where a start failed in a round that has ended).

The order of the checks is the order of `service_decisions.decide`: an owner out of the view waits for its
fence before anything else; a frozen record is left alone; a disabled one waits for an administrator; only then
does placement speak. Times are monotonic seconds like everywhere in the core; the caller passes ``when``, which
turns one into the wall-clock text an administrator reads, so this module stays free of clocks.

Every function returns an `Explanation`: the sentence and a dictionary of the facts used (what ``--json``
prints). An unknown name raises `UnknownName`, whose message lists the valid ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from quorate.core.fencing import Fencing, Phase, Victim
from quorate.core.membership_types import MembershipStatus
from quorate.core.placement import BEST, ILLEGAL, SCORE_NAMES, ServiceSpec, best_target, score
from quorate.core.service_records import Record, ServiceLedger
from quorate.core.service_vocabulary import RUNNING, St

FenceMethods = Mapping[int, Sequence[tuple[str, str]]]
"""Per node id, its fence methods in order as (method name, agents joined by "+")."""

_FAILED_ON = re.compile(r"its start failed on (.+)$")


@dataclass(frozen=True, slots=True)
class Explanation:
    subject: str
    sentence: str
    facts: dict[str, object] = field(default_factory=dict)


class UnknownName(LookupError):
    """A service or node this cluster does not have; the message lists the valid names."""


def _plain_when(t: float) -> str:
    return f"{t:.0f}"


def _names(ledger: ServiceLedger, ids: Iterable[int]) -> list[str]:
    return [ledger.name(n) for n in sorted(ids)]


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# ------------------------------------------------------------------------------------------------ services


def explain_service(
    ledger: ServiceLedger,
    fencing: Fencing,
    name: str,
    *,
    fence_methods: FenceMethods | None = None,
) -> Explanation:
    """Why service `name` is where it is (or nowhere), as the answering node knows it."""
    name = name.removeprefix("service:")
    record = ledger.records.get(name)
    spec = ledger.specs.get(name)
    if record is None or spec is None:
        raise UnknownName(f"unknown service {name!r} (services: {', '.join(sorted(ledger.specs)) or 'none'})")
    facts: dict[str, object] = {
        "service": name,
        "state": str(record.state),
        "owner": ledger.name(record.owner) if record.owner else "",
        "last_owner": ledger.name(record.last_owner) if record.last_owner else "",
        "frozen": record.frozen,
        "enabled": record.enabled,
        "reason": record.reason,
        "members": _names(ledger, ledger.members),
        "domain": _domain_facts(ledger, spec),
        "exclusive": spec.exclusive,
    }
    sentence = _service_sentence(ledger, fencing, record, spec, facts, fence_methods or {})
    return Explanation(name, sentence, facts)


def _domain_facts(ledger: ServiceLedger, spec: ServiceSpec) -> dict[str, object] | None:
    domain = spec.domain
    if domain is None:
        return None
    return {
        "name": domain.name,
        "ordered": domain.ordered,
        "restricted": domain.restricted,
        "nofailback": domain.nofailback,
        "priorities": {ledger.name(n): p for n, p in sorted(domain.priorities.items())},
    }


def _service_sentence(
    ledger: ServiceLedger,
    fencing: Fencing,
    record: Record,
    spec: ServiceSpec,
    facts: dict[str, object],
    methods: FenceMethods,
) -> str:
    name = record.name
    online = ledger.members
    if not online:
        return f"{name} is not managed here: this node is not in a quorate view, so no coordinator acts on it"
    if record.owner and record.owner not in online and not ledger.safely_gone(record.owner):
        owner = ledger.name(record.owner)
        facts["awaiting_fence"] = owner
        victim = fencing.victims.get(record.owner)
        facts["fence"] = None if victim is None else _victim_facts(victim)
        return f"{name} waits for {owner} to be fenced: " + _fence_progress(ledger, fencing, victim, owner, methods)
    if record.frozen:
        where = f" (it is {record.state} on {ledger.name(record.owner)})" if record.owner else f" ({record.state})"
        return f"{name} is frozen: the coordinator does not act on it{where}"
    if record.state is St.DISABLED:
        if not record.touched and not spec.autostart:
            return f"{name} is disabled: autostart is off, it waits for `clusvcadm -e {name}`"
        return f"{name} is disabled by the administrator: it waits for `clusvcadm -e {name}`"
    if record.owner and record.state in RUNNING:
        return _placed(ledger, record, spec, facts)
    if record.state is St.FAILED:
        return f"{name} has failed: {record.reason}; it waits for `clusvcadm -d {name}` then `-e`"
    if not record.enabled or record.reason.startswith("added"):
        facts["added_at_run_time"] = True
        return f"{name} is stopped: added at run time, it waits for `clusvcadm -e {name}`"
    return _stopped(ledger, record, spec, facts)


def _fence_progress(
    ledger: ServiceLedger, fencing: Fencing, victim: Victim | None, owner: str, methods: FenceMethods
) -> str:
    if victim is None:
        return "no fence of it is pending here yet (the coordinator asks for one)"
    tried = methods.get(victim.nodeid, ())
    listed = ", then ".join(f"`{m}` ({agents})" for m, agents in tried)
    kind = "method" if len(tried) == 1 else "methods"
    if victim.phase is Phase.MANUAL:
        return f"it needs `fence_ack_manual {owner}`"
    if victim.phase is Phase.FENCING:
        by = fencing.coordinator_id
        who = f" by {ledger.name(by)}" if by and by != fencing.local_id else ""
        what = f"its fence {kind} {listed}" if tried else "its fence"
        return f"{what} is running{who} (attempt {victim.attempts + 1})"
    if victim.phase is Phase.RETRY:
        last = f": {victim.detail}" if victim.detail else ""
        return (
            f"its fence failed {victim.attempts} time(s){last}; it is retried until it succeeds or "
            f"`fence_ack_manual {owner}`"
        )
    if victim.phase is Phase.DELAY:
        return "its fence waits for the configured delay (post_fail_delay or post_join_delay)"
    return f"its fence waits: {victim.detail or 'no quorate coordinator'}"


def _placed(ledger: ServiceLedger, record: Record, spec: ServiceSpec, facts: dict[str, object]) -> str:
    """A service that runs (or is starting, or stopping) on a member: why that member, and would it move."""
    online = ledger.members
    owner = record.owner
    verb = {St.STARTED: "runs on", St.STARTING: "is starting on", St.STOPPING: "is stopping on"}.get(
        record.state, f"is {record.state} on"
    )
    mine = score(spec, owner, online, running_on=owner)
    facts["score"] = {ledger.name(n): SCORE_NAMES[score(spec, n, online, running_on=owner)] for n in sorted(online)}
    domain = spec.domain
    if domain is None:
        why = "it has no failover domain, so any member may run it"
    elif owner not in domain.priorities:
        why = (
            f"no member of its domain {domain.name} is up"
            if not set(domain.priorities) & online
            else f"it is outside its unrestricted domain {domain.name}"
        )
    elif domain.ordered:
        up = sorted(n for n in domain.priorities if n in online)
        first = min(domain.priorities[n] for n in up)
        prio = domain.priorities[owner]
        if prio == first:
            why = f"first of the ordered domain {domain.name} (priority {prio}) among the members up"
        else:
            why = f"priority {prio} in the ordered domain {domain.name}"
    else:
        why = f"a member of the domain {domain.name}"
    sentence = f"{record.name} {verb} {ledger.name(owner)}: {why}"
    if spec.exclusive:
        sentence += " (exclusive: no other service runs beside it)"
    sentence += _failback(ledger, record, spec, mine)
    return sentence


def _failback(ledger: ServiceLedger, record: Record, spec: ServiceSpec, mine: int) -> str:
    """Would the service move if a preferred node came back (or because one is up)? Only ordered domains say."""
    domain = spec.domain
    online = ledger.members
    if domain is None or not domain.ordered or record.owner not in domain.priorities:
        return ""
    prio = domain.priorities[record.owner]
    better = sorted((p, n) for n, p in domain.priorities.items() if p < prio)
    up = [n for _, n in better if n in online]
    if up:
        target, _ = best_target(
            spec, online, services_on=ledger.running_map(), exclusive_services=ledger.exclusive(),
            running_on=record.owner,
        )  # fmt: skip
        if target and target != record.owner and score(spec, target, online, running_on=record.owner) > mine:
            return f"; it will move to {ledger.name(target)}, preferred and up"
        if domain.nofailback:
            return f"; {ledger.name(up[0])} is preferred and up, but nofailback is set: it stays"
        return ""
    if not better:
        return ""
    first = ledger.name(better[0][1])
    if domain.nofailback:
        return f" ({first} is preferred; if it came back, nofailback is set: it stays)"
    return f"; it would move to {first} if {first} came back"


def _stopped(ledger: ServiceLedger, record: Record, spec: ServiceSpec, facts: dict[str, object]) -> str:
    """A stopped, enabled service: what placement says now, and what the last round said."""
    name = record.name
    online = ledger.members
    allowed = [n for n in sorted(online) if score(spec, n, online) > ILLEGAL]
    facts["allowed"] = _names(ledger, allowed)
    failed = _FAILED_ON.search(record.reason)
    if failed:
        facts["start_failed_on"] = failed.group(1).split(", ")
        scope = "its restricted domain" if spec.domain is not None and spec.domain.restricted else "placement"
        where = _join(facts["start_failed_on"])  # type: ignore[arg-type]
        return (
            f"{name} is stopped: its start failed on {where}, the nodes {scope} allows; it waits for "
            f"`clusvcadm -e {name}` or a membership change"
        )
    if record.held or record.reason.startswith("stopped on "):
        # `clusvcadm -s`: held stopped (the coordinator knows it; elsewhere, an enabled record left stopped after
        # its stop says so, since decisions would otherwise have started it again).
        facts["held"] = True
        return (
            f"{name} is stopped by the administrator ({record.reason or '`clusvcadm -s`'}): it stays stopped until "
            f"`clusvcadm -e {name}` or a membership change"
        )
    target, why = best_target(
        spec, online, services_on=ledger.running_map(), exclusive_services=ledger.exclusive(), minimum=BEST
    )
    if target is None:
        domain = spec.domain
        if domain is not None and domain.restricted and not set(domain.priorities) & online:
            members = _join(_names(ledger, domain.priorities))
            return f"{name} is stopped: no member of its restricted domain {domain.name} ({members}) is up"
        if spec.exclusive and allowed:
            return (
                f"{name} is stopped: it is exclusive and every node it may use ({_join(_names(ledger, allowed))}) "
                "runs other services"
            )
        return f"{name} is stopped: {why}"
    facts["would_start_on"] = ledger.name(target)
    held = f" ({record.reason})" if record.reason else ""
    return f"{name} is stopped{held}; placement would start it on {ledger.name(target)}: {why}"


# ------------------------------------------------------------------------------------------------ quorum


def explain_quorum(
    status: MembershipStatus, *, qdisk_votes: int = 0, when: Callable[[float], str] = _plain_when, now: float = 0.0
) -> Explanation:
    """Why this node's view is (not) quorate: the votes that count, the quorum, and who is missing."""
    q = status.quorum
    members = [n for n in status.nodes if n.member]
    absent = [n for n in status.nodes if not n.member]
    parts = [f"{n.name.split('.', 1)[0]} {n.votes}" for n in members]
    parts.append(f"quorum disk {qdisk_votes}")
    facts: dict[str, object] = {
        "quorate": q.quorate,
        "total_votes": q.total_votes,
        "expected_votes": q.expected_votes,
        "quorum": q.quorum,
        "qdisk_votes": qdisk_votes,
        "member_votes": {n.name: n.votes for n in members},
        "absent": [n.name for n in absent],
        "reason": q.reason,
        "view": status.view.seq,
        "policy": q.policy,
    }
    policy = f"; {q.policy}" if q.policy else ""
    votes = "vote" if q.total_votes == 1 else "votes"
    if q.quorate:
        sentence = (
            f"quorate: {q.total_votes} {votes} of {q.expected_votes} expected, quorum {q.quorum} ({', '.join(parts)})"
            f"{policy}"
        )
        return Explanation("quorum", sentence, facts)
    sentence = f"not quorate: {q.total_votes} {votes}, quorum needs {q.quorum}{policy}"
    if absent:
        heard = [n for n in absent if n.last_heard_age is not None]
        names = _join([n.name.split(".", 1)[0] for n in absent])
        verb = "is" if len(absent) == 1 else "are"
        if heard:
            last = max(now - (n.last_heard_age or 0.0) for n in heard)
            sentence += f"; {names} {verb} not heard since {when(last)}"
        else:
            sentence += f"; {names} {verb} not heard since this node started"
    return Explanation("quorum", sentence, facts)


# ------------------------------------------------------------------------------------------------ nodes


def explain_node(
    status: MembershipStatus,
    fencing: Fencing,
    nodeid: int,
    *,
    fence_methods: FenceMethods | None = None,
    when: Callable[[float], str] = _plain_when,
    now: float = 0.0,
) -> Explanation:
    """Where node `nodeid` stands: a member since which view, or gone and being (or having been) fenced."""
    entry = next((n for n in status.nodes if n.nodeid == nodeid), None)
    if entry is None:
        raise UnknownName(f"unknown node id {nodeid} (nodes: {', '.join(n.name for n in status.nodes)})")
    name = entry.name
    victim = fencing.victims.get(nodeid)
    last = next((h for h in reversed(fencing.history) if h.nodeid == nodeid and h.ok), None)
    facts: dict[str, object] = {
        "node": name,
        "nodeid": nodeid,
        "member": entry.member,
        "heard": entry.heard,
        "votes": entry.votes,
        "joined_view": entry.joined_seq if entry.member else None,
        "last_heard_age": entry.last_heard_age,
        "fence": None if victim is None else _victim_facts(victim),
        "confirmed": nodeid in fencing.confirmed,
        "left_clean": nodeid in fencing.left_clean,
    }
    if entry.member:
        local = " (this node)" if nodeid == status.local_id else ""
        return Explanation(name, f"{name}{local} is a member since view {entry.joined_seq}", facts)
    left = (
        f"left at {when(now - entry.last_heard_age)}" if entry.last_heard_age is not None else "is not a member"
    )
    if victim is not None:
        by = fencing.coordinator_id
        who = _node_name(status, by) if by else "nobody yet (no quorate coordinator)"
        tried = (fence_methods or {}).get(nodeid, ())
        if victim.phase is Phase.MANUAL:
            return Explanation(name, f"{name} {left} and needs `fence_ack_manual {name}`", facts)
        method = f" with method {_join([m for m, _ in tried])}" if tried else ""
        if victim.phase is Phase.FENCING:
            return Explanation(
                name, f"{name} {left} and is being fenced by {who}{method} (attempt {victim.attempts + 1})", facts
            )
        return Explanation(name, f"{name} {left} and will be fenced by {who}: {victim.phase.value}", facts)
    if last is not None:
        facts["fenced_by"] = last.method
        sentence = f"{name} {left}; it was fenced at {when(last.at)} by {_node_name(status, last.by)} ({last.method})"
        return Explanation(name, sentence, facts)
    if nodeid in fencing.confirmed:
        return Explanation(name, f"{name} {left}; its fence is confirmed", facts)
    if nodeid in fencing.left_clean:
        return Explanation(name, f"{name} {left} cleanly: no fence is needed", facts)
    return Explanation(name, f"{name} {left}; no fence is pending for it", facts)


def _victim_facts(victim: Victim) -> dict[str, object]:
    return {"state": victim.phase.value, "attempts": victim.attempts, "detail": victim.detail, "reason": victim.reason}


def _node_name(status: MembershipStatus, nodeid: int) -> str:
    return next((n.name for n in status.nodes if n.nodeid == nodeid), f"node {nodeid}")
