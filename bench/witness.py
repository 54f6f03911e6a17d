"""Quorum-witness benchmark (any user): how fast a split of two nodes is decided, and what a busy witness costs.

    .venv/bin/python bench/witness.py [--runs 20] [--clusters 100] [--seconds 60]

1. *Partition to decision*, in the whole-stack simulator (virtual time, the daemon's node core unchanged): two
   nodes and a witness (ffsplit, lease 4 s, token 1 s), the link between the nodes cut; the figures are the time
   from the cut until the side the witness chose is quorate again, and until the other side is fenced.
2. *Witness CPU*: the witness daemon's request path (`WitnessService.handle`: authenticate, decode, decide, seal
   the answer) serving ``--clusters`` clusters of three nodes, each node asking every fifth of a 10 s lease, as
   real ciphertexts sealed by the nodes' codecs. The figure is the process CPU per request and what that makes at
   the real request rate, as a share of one core. The UDP system calls are not included.

``--compare`` also measures the split with the witness's earlier rule (the winning half waited one asking
interval for the other to report), for the before/after figures.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from quorate.core.messages import ViewId
from quorate.core.witness_protocol import Algorithm, WitnessAsk, encode
from quorate.core.witness_server import ClusterArbiter
from quorate.node.wire import WireCodec
from quorate.node.witness_link import WITNESS_NODEID, witness_key
from quorate.sim.witness_sim import WitnessSim
from quorate.witness.clusters import add_cluster, load_clusters
from quorate.witness.service import WitnessService

LEASE = 10.0


def decision(seed: int) -> tuple[float, float]:
    """(cut -> winner quorate again, cut -> loser fenced), in seconds of virtual time."""
    sim = WitnessSim(random.Random(seed), 2, lease=4.0, token=1.0)
    hosts = sim.world.hosts
    sim.witness.start()
    for host in hosts.values():
        host.power_on()
    sim.run_until(12.0)
    cut = sim.kernel.t
    sim.split()
    quorate_again = fenced = None
    while sim.kernel.t < cut + 30.0 and (quorate_again is None or fenced is None):
        sim.run_until(sim.kernel.t + 0.01)
        live = [h for h in hosts.values() if h.core is not None and h.powered]
        if quorate_again is None and any(
            h.core is not None and h.core.quorate and len(h.core.membership.members) == 1 for h in live
        ):
            quorate_again = sim.kernel.t - cut
        if fenced is None and sim.world.switch.cuts:
            fenced = sim.world.switch.cuts[0][0] - cut
    return quorate_again or float("nan"), fenced or float("nan")


def earlier_rule(req: WitnessAsk, members: frozenset[int], holder: frozenset[int]) -> str:
    """The rule before the tie-breaker's half kept the vote at once: only a strict majority of the holder."""
    return "a majority" if 2 * len(members & holder) > len(holder) else ""


def witness_cpu(clusters: int, seconds: float) -> tuple[float, int]:
    """(CPU seconds per request, requests handled) for ``seconds`` of traffic from ``clusters`` 3-node clusters."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        nodes: list[tuple[str, int, int, WireCodec]] = []
        for index in range(clusters):
            name = f"c{index}"
            key = directory / f"{name}.src"
            key.write_bytes(os.urandom(64))
            key.chmod(0o600)
            add_cluster(directory / "witness.d", name, key, cluster_id=index)
            derived = witness_key(key.read_bytes())
            nodes += [(name, index, n, WireCodec(derived, index, n, 1, {WITNESS_NODEID})) for n in (1, 2, 3)]
        service = WitnessService(load_clusters(directory / "witness.d"), epoch=1, max_lease=LEASE, now=0.0)
        interval = LEASE / 5
        rounds = int(seconds / interval)
        sealed = []
        for r in range(rounds):
            for name, ident, node, codec in nodes:
                ask = WitnessAsk(
                    name, ident, node, 1, r + 1, ViewId(1, 1), (1, 2, 3), 3, r > 0, LEASE, Algorithm.FFSPLIT, "lowest"
                )
                sealed.append((r * interval + LEASE, codec.seal(encode(ask))))
        start = time.process_time()
        for now, datagram in sealed:
            service.handle(datagram, ("192.0.2.1", 5406), now)
        spent = time.process_time() - start
        assert service.answered == len(sealed), service.refused
        return spent / len(sealed), len(sealed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--compare", action="store_true", help="also measure the split with the earlier rule")
    args = parser.parse_args()
    current = ClusterArbiter.__dict__["_keeps"]
    rules = [("", current)]
    if args.compare:
        rules.insert(0, ("earlier rule: ", staticmethod(earlier_rule)))
    for name, rule in rules:
        setattr(ClusterArbiter, "_keeps", rule)  # noqa: B010 (the bench swaps the rule under measure)
        results = [decision(seed) for seed in range(args.runs)]
        for label, values in (("quorate again", [r[0] for r in results]), ("loser fenced", [r[1] for r in results])):
            print(
                f"{name}split of 2 nodes (token 1 s, lease 4 s) -> {label:<13} median "
                f"{statistics.median(values) * 1000:6.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f}, "
                f"n={len(values)}, simulated time)"
            )
    setattr(ClusterArbiter, "_keeps", current)  # noqa: B010
    per_request, count = witness_cpu(args.clusters, args.seconds)
    rate = args.clusters * 3 / (LEASE / 5)
    print(
        f"witness serving {args.clusters} clusters of 3 nodes: {per_request * 1e6:.0f} us CPU per request "
        f"({count} requests); at {rate:.0f} requests/s that is {per_request * rate * 100:.1f} % of a core"
    )


if __name__ == "__main__":
    main()
