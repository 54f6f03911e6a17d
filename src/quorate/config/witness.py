"""``<witness>``: a quorum witness on a third machine (a quorate extension), read and checked.

Theory of operation: the schema checks the shapes (a host, a port, a positive ``votes``, ``algorithm`` one of
ffsplit and lms, ``lease`` a number of seconds); this module adds what a grammar cannot say and turns the element
into the model's `Witness` (`quorate.config.build.witness`):

* a quorum disk and a witness in one file are refused: both would be "the quorum device", and their two
  arbiters could lend their votes to two different partitions;
* ``tie_breaker`` is ``lowest``, ``highest`` or the nodeid of a configured node;
* ``ffsplit`` lends exactly one vote (more could make the smaller half of a split quorate with it); ``lms``
  lends one less than the number of nodes unless ``votes`` says otherwise;
* the lease is between 1 and 300 seconds and at least the token: a node asks five times per lease, and a
  lease shorter than the token would expire between the views of an ordinary failure;
* ``two_node`` next to a witness is read as "the witness breaks ties": the quorum is computed from the votes
  (each node's and the witness's), so only the half holding the witness's vote is quorate and fences, and the
  other stops its services and waits (rule W-5). A note says so.

Expected votes with a witness are the nodes' votes plus the witness's (or ``expected_votes`` when that is
larger), so that the witness's vote is what makes a half of the nodes a majority.
"""

from __future__ import annotations

from lxml import etree

from quorate.config import build
from quorate.config.build import DEFAULT_WITNESS_LEASE, lease_of
from quorate.config.problems import Problems

LEASE_RANGE = (1.0, 300.0)


def check_witness(root: etree._Element, problems: Problems) -> None:
    element = build.child(root, "witness")
    if element is None:
        return
    qdisk = build.child(root, "quorumd")
    if qdisk is not None:
        problems.error(
            element,
            f"a quorum witness and a quorum disk (<quorumd> on line {qdisk.sourceline}) are both configured; a "
            "cluster has one quorum device",
            hint="keep <witness> for clusters without shared storage, or <quorumd>, not both",
        )
    if not element.get("host", "").strip():
        problems.error(element, "the witness needs host=", attribute="host", hint="the address of the witness")
    ids = build.node_ids(root)
    tie = element.get("tie_breaker")
    if tie is not None and tie not in ("lowest", "highest"):
        if not tie.isdigit():
            problems.error(
                element,
                f"tie_breaker {tie!r} is neither 'lowest', 'highest' nor a nodeid",
                attribute="tie_breaker",
                hint="lowest gives a tie to the half with the lowest nodeid",
            )
        elif int(tie) not in ids:
            problems.error(
                element,
                f"tie_breaker {tie} is not the nodeid of a configured node (nodeids: {', '.join(map(str, ids))})",
                attribute="tie_breaker",
            )
    votes = build.get_int(element, "votes")
    if element.get("algorithm", "ffsplit") == "ffsplit" and votes is not None and votes != 1:
        problems.error(
            element,
            f"votes {votes} with algorithm ffsplit: the witness lends exactly one vote to the larger half",
            attribute="votes",
            hint='remove votes=, or use algorithm="lms" for a witness that keeps the last node standing',
        )
    lease = lease_of(element)
    token = build.token_ms(root) / 1000.0
    low, high = LEASE_RANGE
    if lease is not None and not low <= lease <= high:
        problems.error(element, f"lease {lease:g} s is outside {low:g}-{high:g} s", attribute="lease")
    elif lease is not None and lease < token:
        problems.error(
            element,
            f"lease {lease:g} s is shorter than the token ({token:g} s): the vote would lapse during an ordinary "
            "view change",
            attribute="lease",
            hint=f'use lease="{max(token * 2, DEFAULT_WITNESS_LEASE):g}" or more',
        )
    cman = build.child(root, "cman")
    if build.get_bool(cman, "two_node", False):
        problems.ignored(
            cman,
            "two_node is set together with a witness: the witness breaks ties instead, so only the half holding "
            "its vote is quorate and fences; the other stops its services and waits",
            attribute="two_node",
            hint='two_node="0" says the same',
        )
