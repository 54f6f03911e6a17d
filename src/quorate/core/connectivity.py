"""From "who hears whom" to "which nodes form a view": the connectivity matrix and the group plan.

Theory of operation:

* Every heartbeat carries the set of nodes its sender hears. Each node therefore holds a possibly stale
  matrix ``hears[a]``. Only *mutual* links count: a view is only ever a set of nodes that all hear each
  other, so a one-way link (a hears b, b does not hear a) keeps them apart instead of making them flap.
* The plan is a deterministic function of the matrix: the best clique of mutually connected nodes first
  (largest, then most votes, then lowest ids), then the best clique of what remains, and so on. Every node
  computes the same plan from the same matrix, and each group's lowest id is its coordinator. Matrices
  differ only while heartbeats are in flight, and a coordinator proposes only what it computes itself; the
  members' acceptance checks keep a view to nodes that really hear each other.
* Clusters are small (cman supports a few dozen nodes), so an exact maximum-clique search with bitsets is
  cheap; results are memoised on the matrix because the plan is recomputed after every input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache


def mutual_adjacency(hears: Mapping[int, frozenset[int]], nodes: Iterable[int]) -> dict[int, frozenset[int]]:
    """Neighbours of each node through links that both ends report."""
    node_set = frozenset(nodes)
    return {
        a: frozenset(b for b in hears.get(a, frozenset()) if b != a and b in node_set and a in hears.get(b, ()))
        for a in node_set
    }


def _key(clique: frozenset[int], votes: Mapping[int, int]) -> tuple[int, int, tuple[int, ...]]:
    # Larger is better, then more votes, then the lexicographically lowest ids (negated for max()).
    ids = tuple(sorted(clique))
    return (len(ids), sum(votes.get(n, 1) for n in ids), tuple(-i for i in ids))


@lru_cache(maxsize=256)
def _best_clique(
    adjacency: tuple[tuple[int, frozenset[int]], ...], votes: tuple[tuple[int, int], ...]
) -> frozenset[int]:
    adj = dict(adjacency)
    vote_map = dict(votes)
    best: frozenset[int] = frozenset()
    best_key: tuple[int, int, tuple[int, ...]] = (0, 0, ())

    def expand(clique: frozenset[int], candidates: frozenset[int], excluded: frozenset[int]) -> None:
        nonlocal best, best_key
        if not candidates and not excluded:
            key = _key(clique, vote_map)
            if key > best_key:
                best, best_key = clique, key
            return
        if len(clique) + len(candidates) < best_key[0]:
            return  # cannot beat the best size
        pivot = max(candidates | excluded, key=lambda n: len(adj[n] & candidates))
        for node in sorted(candidates - adj[pivot]):
            expand(clique | {node}, candidates & adj[node], excluded & adj[node])
            candidates = candidates - {node}
            excluded = excluded | {node}

    expand(frozenset(), frozenset(adj), frozenset())
    return best


def best_clique(adjacency: Mapping[int, frozenset[int]], votes: Mapping[int, int]) -> frozenset[int]:
    """The largest set of mutually connected nodes (ties: more votes, then lowest ids)."""
    if not adjacency:
        return frozenset()
    return _best_clique(tuple(sorted(adjacency.items())), tuple(sorted((n, votes.get(n, 1)) for n in adjacency)))


def plan_groups(
    hears: Mapping[int, frozenset[int]], nodes: Iterable[int], votes: Mapping[int, int]
) -> list[frozenset[int]]:
    """Split the nodes into groups that each could form a view, best group first."""
    remaining = set(nodes)
    adjacency = mutual_adjacency(hears, remaining)
    groups: list[frozenset[int]] = []
    while remaining:
        sub = {a: adjacency[a] & frozenset(remaining) for a in remaining}
        group = best_clique(sub, votes)
        groups.append(group)
        remaining -= group
    return groups


def group_of(node: int, groups: Iterable[frozenset[int]]) -> frozenset[int]:
    for group in groups:
        if node in group:
            return group
    return frozenset({node})
