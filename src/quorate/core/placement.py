"""Where a service may run and which node is best: rgmanager's failover-domain scores (spec rhcs.md 5.5).

Pure functions of the service's configuration, the online nodes and who runs what. Scores are rgmanager's:
ILLEGAL < GOOD < BETTER < BEST. Automatic starts need BEST; an administrator's enable needs GOOD (R-44);
restricted domains are never violated. Ties between equally good targets go to the highest node id, as
rgmanager's `best_target_node` did (R-43, a quirk kept so that placements match the original).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from quorate.core.service_vocabulary import Answer

ILLEGAL, GOOD, BETTER, BEST = 0, 1, 2, 3
SCORE_NAMES = {ILLEGAL: "ILLEGAL", GOOD: "GOOD", BETTER: "BETTER", BEST: "BEST"}


@dataclass(frozen=True, slots=True)
class DomainSpec:
    name: str
    ordered: bool
    restricted: bool
    nofailback: bool
    priorities: Mapping[int, int]  # node id -> priority (lower is preferred); 0 for every node when unordered


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    autostart: bool = True
    domain: DomainSpec | None = None
    recovery: str = "restart"
    exclusive: bool = False
    max_restarts: int = 0
    restart_expire_time: float = 0.0
    depend: str | None = None
    status_interval: float = 10.0
    extra: Mapping[str, str] = field(default_factory=dict)


def score(spec: ServiceSpec, node: int, online: frozenset[int], *, running_on: int = 0) -> int:
    """R-40: how much `node` wants `spec`. `running_on` is the live owner when the service runs (for nofailback)."""
    if node not in online:
        return ILLEGAL
    domain = spec.domain
    if domain is None:
        return BEST
    members_online = {n for n in domain.priorities if n in online}
    if node not in domain.priorities:
        if not members_online:
            return ILLEGAL if domain.restricted else BEST
        return ILLEGAL if domain.restricted else GOOD
    prio_min = min(domain.priorities[n] if domain.ordered else 0 for n in members_online)
    mine = domain.priorities[node] if domain.ordered else 0
    if mine != prio_min:
        if domain.nofailback and running_on == node:
            return BEST
        return BETTER if domain.ordered else BEST
    if domain.nofailback and running_on and running_on != node and running_on in online:
        return BETTER
    return BEST


def best_target(
    spec: ServiceSpec,
    online: frozenset[int],
    *,
    exclude: frozenset[int] = frozenset(),
    services_on: Mapping[int, frozenset[str]] | None = None,
    exclusive_services: frozenset[str] = frozenset(),
    running_on: int = 0,
    minimum: int = BEST,
) -> tuple[int | None, str]:
    """R-43: the node to start `spec` on, or None, with the reason in one sentence."""
    services_on = services_on or {}
    best: tuple[int, int] | None = None
    refused: list[str] = []
    for node in sorted(online - exclude):
        s = score(spec, node, online, running_on=running_on)
        there = services_on.get(node, frozenset()) - {spec.name}
        if s == ILLEGAL:
            continue
        if spec.exclusive:
            if there:
                refused.append(f"node {node} runs other services (exclusive)")
                continue
            s += 2
        elif there & exclusive_services:
            refused.append(f"node {node} runs an exclusive service")
            continue
        if s < minimum + (2 if spec.exclusive else 0):
            continue
        if best is None or s >= best[0]:  # >=: ties go to the highest node id (R-43 quirk)
            best = (s, node)
    if best is None:
        if spec.domain is not None and spec.domain.restricted and not (set(spec.domain.priorities) & online):
            return None, f"no member of its restricted failover domain {spec.domain.name} is online"
        why = "; ".join(refused) if refused else "no online node is allowed by its failover domain"
        return None, why
    return best[1], f"best node by failover domain ({SCORE_NAMES[min(best[0], BEST)]})"


def can_run(
    spec: ServiceSpec,
    node: int,
    online: frozenset[int],
    *,
    services_on: Mapping[int, frozenset[str]] | None = None,
    exclusive_services: frozenset[str] = frozenset(),
    minimum: int = GOOD,
) -> Answer | None:
    """Whether an administrator may put `spec` on `node` (R-44, R-45); None if yes, else rgmanager's refusal."""
    if node not in online:
        return Answer.NODE_DEAD
    if score(spec, node, online) < minimum:
        return Answer.NOT_RUNNABLE
    there = (services_on or {}).get(node, frozenset()) - {spec.name}
    if spec.exclusive and there:
        return Answer.EXCLUSIVE
    if there & exclusive_services:
        return Answer.EXCLUSIVE
    return None
