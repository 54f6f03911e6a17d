"""Values cluster.conf leaves implicit, computed the way the original daemons compute them.

Theory of operation: every default that depends on other settings (cluster id, multicast address, totem
consensus, the quorum disk's derived cycle counts) is a small pure function here, so the model builder, the
semantic checks and any other part of quorate that needs "what would cman use" share one definition. Where the
original has a quirk that is visible to administrators (the mod-255 multicast byte, signed characters in the
cluster-id hash) the quirk is kept on purpose: `cman_tool status` output and multicast traffic of a migrated
cluster must match what the old stack printed and used.

Value readers (`read_bool`, `read_time`) follow the original's lenient parsing rules (spec C-1, C-35), and
report through a return flag whether the text was well formed so the caller can warn instead of silently
guessing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# The quorum-disk cycle counts are the core's own rules: the daemon and the configuration derive them alike.
from quorate.core.qdisk_config import qdisk_master_wait as qdisk_master_wait
from quorate.core.qdisk_config import qdisk_tko_up as qdisk_tko_up

# rgmanager's time suffixes (spec C-35): a bare number is seconds.
_TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TIME_PATTERN = re.compile(r"(?:[0-9]+[smhd])+|[0-9]+")
_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")  # C isspace(), not Unicode's notion of space
# XML's whitespace (S production). Python's str.strip() also removes U+00A0 and friends, which XML does not.
XML_SPACE = " \t\r\n"


def cluster_id_from_name(name: str) -> int:
    """cman's hash (spec C-4): shift left, add the byte, keep 16 bits.

    The original adds C ``char`` values, which are signed on x86, so bytes above 127 count as negative numbers;
    reproducing that keeps the id (and the multicast address derived from it) equal to what a RHEL node with
    the same non-ASCII cluster name computes.
    """
    value = 0
    for byte in name.encode("utf-8"):
        signed = byte - 256 if byte > 127 else byte
        value = (value << 1) + signed
    return value & 0xFFFF


def assign_node_ids(given: Sequence[int | None]) -> list[int]:
    """Node ids for a file in which some (or all) ``<clusternode>`` elements have no ``nodeid`` (RHEL 4 files).

    ``given`` holds each node's id in file order, None where the file has none; the result keeps every given
    id and gives each missing one the lowest id no other node uses, in file order.

    Why this rule: RHEL 4's cman gave a node without an id, when it joined, one more than the highest id the
    cluster knew, so the numbers depended on the order in which the nodes joined and could differ from one
    start of the cluster to the next. quorate needs ids that every node computes alike from the file alone,
    so it takes the ids cman gave when the nodes joined one after another in file order: 1, 2, 3... for a
    file without any id, the lowest free ones when some ids are given. ``ccs_tool addnodeids`` writes these
    same ids into the file (RHEL 5 and later refuse a node without ``nodeid``), so following the advice of the
    warning changes nothing in a running cluster.
    """
    used = {nodeid for nodeid in given if nodeid is not None}
    result: list[int] = []
    candidate = 1
    for nodeid in given:
        if nodeid is None:
            while candidate in used:
                candidate += 1
            nodeid = candidate
            used.add(candidate)
        result.append(nodeid)
    return result


def derived_multicast(cluster_id: int, *, ipv6: bool = False) -> str:
    """The multicast address cman picks when ``<multicast addr>`` is absent (spec C-5).

    The low byte is ``id mod 255``, not ``mod 256``: an accident of the original kept so that a cluster
    moved to quorate keeps using (and printing) the same group, e.g. 239.192.6.41 for id 1571.
    """
    if ipv6:
        return f"ff15::{cluster_id:x}"
    return f"239.192.{cluster_id >> 8}.{cluster_id % 255}"


def default_consensus_ms(token_ms: int, node_count: int) -> int:
    """Totem consensus when not set (T-1, as later RHEL 5 and RHEL 6 compute it):
    small clusters detect a failure fast, larger ones leave the token a margin before reforming."""
    if node_count <= 2:
        return min(max(token_ms // 5, 200), 2000)
    return token_ms + 2000


def qdisk_tko_default(token_ms: int, interval: int) -> int:
    """[R6] rule: fit the disk timeout into the token, ((token/1000) - interval) / 2.

    Chosen over the [R5] fixed 10 because 10 cycles of 1 s equal the default 10 s token, which violates
    "token at least twice the disk timeout" (spec T-2). The result is raised to 3, the floor the [R5]
    daemon enforced, so an interval close to the token cannot produce a non-positive tko; the timing check
    then reports the mismatch.
    """
    return max((token_ms // 1000 - interval) // 2, 3)


def qdisk_votes_default(node_votes: list[int]) -> int | None:
    """[R6] automatic qdisk votes: one less than the number of nodes, only if every node has one vote.

    Returns None when the rule does not apply (some node has another vote count): qdiskd refuses to start
    then, and so does the validator. The [R5] behaviour (0 votes, a disk that never helps quorum) is not
    copied because it silently defeats the reason for having a quorum disk.
    """
    if not node_votes or any(v != 1 for v in node_votes):
        return None
    return len(node_votes) - 1


def qdisk_min_score(explicit: int, heuristic_scores: list[int]) -> int:
    """0 means automatic: floor(sum/2) + 1, the code's formula (the man page's differs for even sums)."""
    if explicit > 0:
        return explicit
    if not heuristic_scores:
        return 0
    return sum(heuristic_scores) // 2 + 1


def qdisk_master_transition_ms(interval: int, tko: int, master_wait: int, upgrade_wait: int) -> int:
    """Worst case before a new qdisk master grants votes (spec D-31, T-3), in milliseconds."""
    return interval * (tko + master_wait + upgrade_wait) * 1000


def atoi(text: str) -> tuple[int, bool]:
    """C ``atoi``: leading integer or 0. The flag says whether the whole text was an integer."""
    match = _ATOI.match(text)
    if match is None:
        return 0, False
    return int(match.group(1)), match.end() == len(text.rstrip(" \t\n\v\f\r"))


def read_bool(text: str, *, words: bool = False) -> tuple[bool, bool]:
    """Boolean attributes are read with atoi (spec C-1); rgmanager's also take yes/no (``words``).

    Returns (value, well_formed). "true" is *off* for the cman side, as in the original; the flag lets the
    caller warn about that trap instead of pretending to understand the administrator.
    """
    lowered = text.strip(XML_SPACE).lower()
    if words and lowered in ("yes", "on", "true"):
        return True, True
    if words and lowered in ("no", "off", "false"):
        return False, True
    value, ok = atoi(text)
    return value != 0, ok


def read_time(text: str) -> int | None:
    """Seconds from "30", "10m", "1h30m"; None when the text is not a duration."""
    text = text.strip(XML_SPACE)
    if not TIME_PATTERN.fullmatch(text):
        return None
    if text.isdigit():
        return int(text)
    return sum(int(num) * _TIME_UNITS[unit] for num, unit in re.findall(r"([0-9]+)([smhd])", text))
