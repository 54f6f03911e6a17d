"""``<cman last_man_standing auto_tie_breaker>``: votequorum's quorum policies, checked where the schema cannot.

Theory of operation: the schema checks shapes (booleans, a positive window in milliseconds); this module checks
what only the whole file can say, each problem at the `<cman>` line and attribute it is about (rules Q-13..Q-15):

* ``auto_tie_breaker_node`` is ``lowest``, ``highest`` or node ids separated by spaces, each a configured node;
* ``last_man_standing`` needs ``wait_for_all="1"``: a node it left behind is fenced and restarts knowing nothing,
  and only wait_for_all keeps such nodes from forming a quorum on the old, larger count;
* the window is at least the token: a shorter one would act on views still settling;
* neither policy goes with ``two_node`` (two_node already makes each half quorate; a policy that picks one half
  contradicts it), nor with a quorum disk or a witness (a second arbiter of ties could side with the other half:
  the witness's own ``algorithm="lms"`` is the witness's way of keeping a last node);
* a window or a tie-breaker node without its policy does nothing, which a warning says.
"""

from __future__ import annotations

from lxml import etree

from quorate.config import build
from quorate.config.problems import Problems


def check_policies(root: etree._Element, problems: Problems) -> None:
    cman = build.child(root, "cman")
    if cman is None:
        return
    lms = build.get_bool(cman, "last_man_standing", False)
    atb = build.get_bool(cman, "auto_tie_breaker", False)
    _check_tie_breaker(root, cman, problems, atb=atb)
    window = build.get_int(cman, "last_man_standing_window")
    if window is not None and not lms:
        problems.warning(
            cman,
            "last_man_standing_window does nothing without last_man_standing",
            attribute="last_man_standing_window",
            hint='add last_man_standing="1" or remove the window',
        )
    token_ms = build.token_ms(root)
    if lms and window is not None and window < token_ms:
        problems.error(
            cman,
            f"last_man_standing_window {window} ms is shorter than the token ({token_ms} ms): expected votes would "
            "be lowered on a view that is still settling",
            attribute="last_man_standing_window",
            hint=f'use last_man_standing_window="{max(token_ms * 2, 10000)}"',
        )
    if lms and not build.get_bool(cman, "wait_for_all", False):
        problems.error(
            cman,
            "last_man_standing needs wait_for_all: the nodes it leaves behind are fenced and restart knowing "
            "nothing of the lowered count, so without wait_for_all they could form a quorum of their own",
            attribute="last_man_standing",
            hint='add wait_for_all="1"',
        )
    for name, on in (("last_man_standing", lms), ("auto_tie_breaker", atb)):
        if on:
            _check_combination(root, cman, name, problems)


def _check_tie_breaker(root: etree._Element, cman: etree._Element, problems: Problems, *, atb: bool) -> None:
    value = cman.get("auto_tie_breaker_node")
    if value is None:
        return
    if not atb:
        problems.warning(
            cman,
            "auto_tie_breaker_node does nothing without auto_tie_breaker",
            attribute="auto_tie_breaker_node",
            hint='add auto_tie_breaker="1" or remove auto_tie_breaker_node',
        )
    words = value.split()
    if words in (["lowest"], ["highest"]):
        return
    ids = build.node_ids(root)
    if not words or not all(w.isdigit() for w in words):
        problems.error(
            cman,
            f"auto_tie_breaker_node {value!r} is neither 'lowest', 'highest' nor node ids separated by spaces",
            attribute="auto_tie_breaker_node",
            hint='"lowest" gives an exact split to the half with the lowest node id',
        )
        return
    unknown = [w for w in words if int(w) not in ids]
    if unknown:
        problems.error(
            cman,
            f"auto_tie_breaker_node names {', '.join(unknown)}, not the nodeid of a configured node "
            f"(nodeids: {', '.join(map(str, ids))})",
            attribute="auto_tie_breaker_node",
        )


def _check_combination(root: etree._Element, cman: etree._Element, name: str, problems: Problems) -> None:
    if build.get_bool(cman, "two_node", False):
        problems.error(
            cman,
            f"{name} and two_node are both set: two_node makes each half of a split quorate, {name} picks one",
            attribute=name,
            hint=f'keep one: two_node="0" (with {name}) or {name}="0"',
        )
    for tag, what in (("quorumd", "a quorum disk"), ("witness", "a quorum witness")):
        device = build.child(root, tag)
        if device is None:
            continue
        hint = f"remove {name} and let <{tag}> break ties"
        if tag == "witness" and name == "last_man_standing":
            hint = 'remove last_man_standing and use <witness algorithm="lms">, which keeps the last node'
        problems.error(
            cman,
            f"{name} is set together with {what} (<{tag}> on line {device.sourceline}): two arbiters of a split "
            "could side with different halves",
            attribute=name,
            hint=hint,
        )
