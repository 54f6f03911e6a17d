"""Semantic checks: the rules of cluster.conf that a grammar cannot express.

Theory of operation: these checks run on the parsed tree right after the schema walk, whether or not the walk
found errors, so that one run reports everything. They therefore read values leniently (through the readers of
`quorate.config.build`) and skip what they cannot read: a malformed value has already been reported by the
schema walk and must not cause a cascade of follow-up errors.

Severity policy: an **error** is something the original daemons refuse (cman, fenced, qdiskd, rgmanager would
not start or would drop the entry) or that would make quorate act on a different configuration than the one
the administrator wrote. A **warning** is something that loads but is likely a mistake or a known trap (a
setting read as "off" because it is not a number, qdisk timings that RHEL 6's qdiskd would refuse while RHEL 5's
accepted them, an expected_votes low enough for two halves to be quorate). An **ignored** notice is a setting
quorate accepts but does not act on (most come from the schema's annotations; the ones here depend on other
values). The rgmanager part lives in `quorate.config.validate_rm`.

Files as administrators wrote them for older releases load where the original loaded them, with a warning
where quorate has to decide something the file leaves open: a RHEL 4 node without ``nodeid`` gets the id
`quorate.config.derive.assign_node_ids` gives it, a ``fence_pcmk`` method (fencing handed to pacemaker, which
quorate does not run) is reported as unable to fence its node, ``two_node`` next to a quorum disk is honoured
as cman honoured it, and an ``expected_votes`` below the nodes' votes is raised as cman raised it.
"""

from __future__ import annotations

import difflib
import ipaddress

from lxml import etree

from quorate.config import build, derive
from quorate.config.derive import XML_SPACE
from quorate.config.names import check_lvm_names, check_names
from quorate.config.problems import Problems, is_element
from quorate.config.validate_policies import check_policies
from quorate.config.validate_rm import MAX_SUGGEST_CHOICES, check_rm, listing
from quorate.config.witness import check_witness

# Boolean attributes and whether they also take yes/no (rgmanager) or only numbers (atoi, spec C-1).
BOOLEANS: dict[str, tuple[tuple[str, ...], bool]] = {
    "cman": (("two_node", "wait_for_all", "last_man_standing", "auto_tie_breaker"), False),
    "quorumd": (("reboot", "allow_kill", "master_wins", "paranoid", "io_timeout", "stop_cman"), False),
    "fence_daemon": (("clean_start", "skip_undefined"), False),
    "failoverdomain": (("ordered", "restricted", "nofailback"), True),
    "service": (("autostart", "exclusive"), True),
}

#: The largest cluster quorate is built and measured for (RHCS stopped at 16 nodes, corosync at 32): every node
#: sends its heartbeat to every other, so traffic and per-token work grow with the square of the node count.
SUPPORTED_NODES = 32


def check_semantics(root: etree._Element, problems: Problems) -> None:
    if root.tag != "cluster":
        return
    _check_values(root, problems)
    check_names(root, problems)
    check_lvm_names(root, problems)
    _check_cluster(root, problems)
    _check_nodes(root, problems)
    _check_fencing(root, problems)
    _check_votes(root, problems)
    _check_totem(root, problems)
    _check_quorumd(root, problems)
    check_witness(root, problems)
    check_policies(root, problems)
    check_rm(root, problems)


def suggest(word: str, choices: list[str]) -> str | None:
    if len(choices) > MAX_SUGGEST_CHOICES:  # comparing every mistake with thousands of names is quadratic
        return None
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


def _check_values(root: etree._Element, problems: Problems) -> None:
    for element in root.iter():
        if not is_element(element):
            continue
        for name, value in element.attrib.items():
            if "\u00a0" in str(value):
                problems.warning(
                    element,
                    "the value contains a non-breaking space (U+00A0), which is not an ordinary space",
                    attribute=str(name),
                    hint="retype the value; copies from web pages often carry these",
                )
        spec = BOOLEANS.get(str(element.tag))
        if spec is None:
            continue
        names, words = spec
        for flag in names:
            text = element.get(flag)
            if text is None:
                continue
            parsed, ok = derive.read_bool(text, words=words)
            if not ok:
                valid = "1 or 0 (yes or no also work here)" if words else "1 or 0"
                problems.warning(
                    element,
                    f"{flag}={text!r} is not a number and is read as {'on' if parsed else 'off'}",
                    attribute=flag,
                    hint=f"write {valid}",
                )


def _check_cluster(root: etree._Element, problems: Problems) -> None:
    name = root.get("name")
    if name is None:
        return
    if not name.strip(XML_SPACE):
        problems.error(root, "the cluster name is empty", attribute="name", hint="give the cluster a short name")
    elif len(name.encode("utf-8")) > 15:
        problems.error(
            root,
            f"the cluster name {name!r} is {len(name.encode('utf-8'))} bytes long; at most 15 are allowed",
            attribute="name",
            hint="cman keeps the name in 16 bytes including the terminating NUL",
        )


def _check_nodes(root: etree._Element, problems: Problems) -> None:
    container = build.child(root, "clusternodes")
    nodes = build.children(container, "clusternode")
    if container is not None and not nodes:
        problems.error(container, "no <clusternode> is defined", hint="a cluster needs at least one node")
    if container is not None and len(nodes) > SUPPORTED_NODES:
        problems.warning(
            container,
            f"{len(nodes)} nodes are defined; quorate supports at most {SUPPORTED_NODES}: each node exchanges "
            "heartbeats with every other, so larger clusters are untested and may miss their token timeouts",
            hint=f"split the nodes into clusters of {SUPPORTED_NODES} or fewer",
        )
    names: dict[str, etree._Element] = {}
    shorts: dict[str, etree._Element] = {}
    ids: dict[int, etree._Element] = {}
    for node, effective in zip(nodes, build.node_ids(root), strict=True):
        if node.get("nodeid") is None:
            _missing_nodeid_warning(node, effective, problems)
        for altname in build.children(node, "altname"):
            problems.ignored(
                altname,
                "accepted but not used by quorate: heartbeats go only to the address of the node's name, so a "
                "second ring is recorded (quorate config show) but carries no traffic",
                attribute="name",
                hint="bond the cluster interfaces to survive the loss of one network",
            )
        name = node.get("name")
        if name is not None:
            if not name.strip(XML_SPACE):
                problems.error(node, "the node name is empty", attribute="name", hint="use the node's host name")
            elif name in names:
                problems.error(
                    node,
                    f"node name {name!r} is already used by {problems.where(names[name])}",
                    attribute="name",
                    hint="every clusternode needs its own name",
                )
            else:
                names[name] = node
                short = name.split(".", 1)[0]
                if short in shorts:
                    problems.warning(
                        node,
                        f"{name!r} and {shorts[short].get('name')!r} share the short name {short!r}",
                        attribute="name",
                        hint="a host whose own name is the short one cannot tell which entry is its own",
                    )
                shorts.setdefault(short, node)
        nodeid = build.get_int(node, "nodeid")
        if nodeid is not None and nodeid > 0:
            if nodeid in ids:
                problems.error(
                    node,
                    f"nodeid {nodeid} is already used by {problems.where(ids[nodeid])}",
                    attribute="nodeid",
                    hint="node ids must be unique; the next free one is " + str(max(ids) + 1),
                )
            else:
                ids[nodeid] = node
        for altname in build.children(node, "altname"):
            mcast = altname.get("mcast")
            if mcast is not None:
                _check_multicast(altname, "mcast", mcast, problems)


def _missing_nodeid_warning(node: etree._Element, effective: int, problems: Problems) -> None:
    problems.warning(
        node,
        f"node {node.get('name')!r} has no nodeid; quorate gives it id {effective}, the lowest id no other node "
        "uses, in file order: the id RHEL 4's cman gave it when the nodes joined in file order (cman numbered "
        "such nodes as they joined)",
        attribute="nodeid",
        hint="write the ids into the file with 'ccs_tool addnodeids', which gives these same ids; RHEL 5 and "
        "later refuse a node without a nodeid",
    )


def _check_fencing(root: etree._Element, problems: Problems) -> None:
    devices: dict[str, etree._Element] = {}
    for device in build.children(build.child(root, "fencedevices"), "fencedevice"):
        name = device.get("name")
        if name is None:
            continue
        if name in devices:
            problems.error(
                device,
                f"fencedevice name {name!r} is already used by {problems.where(devices[name])}",
                attribute="name",
                hint="fence device names must be unique",
            )
        else:
            devices[name] = device
        if device.get("option") is not None:
            _option_warning(device, problems)
    known = sorted(devices)
    for node in build.children(build.child(root, "clusternodes"), "clusternode"):
        fence = build.child(node, "fence")
        methods = build.children(fence, "method")
        if not methods:
            problems.warning(
                node,
                f"node {node.get('name')!r} has no fence method, so it cannot be fenced",
                hint="if it fails, fencing cannot succeed and its services are not recovered; add a <method> "
                "with a <device> inside <fence>",
            )
        _check_pacemaker_redirect(node, methods, devices, problems)
        seen: dict[str, etree._Element] = {}
        for method in methods:
            label = method.get("name")
            if label is not None and label in seen:
                problems.error(
                    method,
                    f"method name {label!r} is already used in this node by {problems.where(seen[label])}",
                    attribute="name",
                    hint="give each method of a node its own name",
                )
            elif label is not None:
                seen[label] = method
            refs = build.children(method, "device")
            if not refs:
                problems.warning(method, "this fence method has no <device> and can never succeed")
            for ref in refs:
                _check_device_ref(ref, devices, known, problems)
        for ref in build.children(build.child(node, "unfence"), "device"):
            _check_device_ref(ref, devices, known, problems)


PACEMAKER_REDIRECT = "fence_pcmk"


def _check_pacemaker_redirect(
    node: etree._Element, methods: list[etree._Element], devices: dict[str, etree._Element], problems: Problems
) -> None:
    """fence_pcmk (cman + pacemaker clusters) asks pacemaker to fence; quorate is not pacemaker, so the method
    can never succeed here. The node can still be fenced if another method uses a real device."""

    def redirects(method: etree._Element) -> bool:
        agents = [
            (devices[name].get("agent") or "").strip(XML_SPACE)
            for ref in build.children(method, "device")
            if (name := ref.get("name")) is not None and name in devices
        ]
        return PACEMAKER_REDIRECT in agents

    redirecting = [m for m in methods if redirects(m)]
    if not redirecting:
        return
    name = node.get("name")
    usable = [m for m in methods if m not in redirecting and build.children(m, "device")]
    for method in redirecting:
        if usable:
            problems.warning(
                method,
                f"method {method.get('name')!r} of node {name!r} hands fencing to pacemaker (fence_pcmk), which "
                "quorate does not run: this method always fails and quorate goes on with the next one",
                hint="remove this method; the node's other methods do the fencing",
            )
        else:
            problems.warning(
                method,
                f"node {name!r} cannot be fenced by quorate: its fencing is handed to pacemaker (fence_pcmk), "
                "which quorate does not run, so a fence of this node never succeeds and its services are not "
                "recovered",
                hint="replace the method by one that uses the node's real fence device: the agent and parameters "
                "of its pacemaker stonith resource, such as fence_ipmilan",
            )


def _option_warning(element: etree._Element, problems: Problems) -> None:
    problems.warning(
        element,
        "'option' is the deprecated name of 'action'; current fence agents ignore it and use their default action",
        attribute="option",
        hint=f"write action={element.get('option')!r}",
    )


def _check_device_ref(
    ref: etree._Element, devices: dict[str, etree._Element], known: list[str], problems: Problems
) -> None:
    name = ref.get("name")
    if name is None:
        return
    target = devices.get(name)
    if target is None:
        listed = listing(known, "none is defined")
        problems.error(
            ref,
            f"no <fencedevice name={name!r}> exists; fence devices: {listed}",
            attribute="name",
            hint=suggest(name, known) or "add it under <fencedevices>",
        )
        return
    if ref.get("option") is not None:
        _option_warning(ref, problems)
    for attr in sorted({str(a) for a in ref.attrib} & {str(a) for a in target.attrib} - {"name"}):
        problems.warning(
            ref,
            f"{attr} is set here and on <fencedevice name={name!r}>; the agent receives both and the "
            "fencedevice's value wins",
            attribute=attr,
            hint="set per-node values such as port only on the node's <device>",
        )


def _check_votes(root: etree._Element, problems: Problems) -> None:
    cman = build.child(root, "cman")
    node_elements = build.children(build.child(root, "clusternodes"), "clusternode")
    votes = build.node_votes(root)
    node_total = sum(votes)
    qdisk = build.child(root, "quorumd")
    qdisk_votes = build.quorumd(qdisk, build.token_ms(root), votes).votes if qdisk is not None else 0
    expected = build.get_int(cman, "expected_votes")
    two_node = build.get_bool(cman, "two_node", False)
    multicast = build.child(cman, "multicast")
    if multicast is not None and multicast.get("addr") is not None:
        _check_multicast(multicast, "addr", multicast.get("addr", ""), problems)
    if two_node and cman is not None:
        if len(node_elements) != 2:
            problems.error(
                cman,
                f"two_node is set but {len(node_elements)} nodes are defined",
                attribute="two_node",
                hint="two_node=1 is only for exactly two nodes; set two_node=0",
            )
        for node, vote in zip(node_elements, votes, strict=True):
            if vote != 1:
                problems.error(
                    node,
                    f"two_node is set, so this node must have 1 vote, not {vote}",
                    attribute="votes",
                    hint="set votes=1 or two_node=0",
                )
        if expected is not None and expected != 1:
            problems.warning(
                cman,
                f"with two_node, expected_votes should be 1, not {expected}",
                attribute="expected_votes",
                hint="set expected_votes=1",
            )
        if qdisk is not None:
            problems.warning(
                cman,
                "two_node is set together with a quorum disk: quorate honours two_node, as cman did (with two "
                "nodes the quorum is 1, so each node alone is quorate and the fence race decides), and the "
                "disk's votes never decide whether a node is quorate",
                attribute="two_node",
                hint="let the disk break ties instead: two_node=0 and expected_votes=3",
            )
    if cman is None or expected is None or expected <= 0 or two_node or not node_elements:
        return
    reachable = node_total + qdisk_votes
    quorum = expected // 2 + 1
    split = 2 * quorum <= reachable
    if expected < node_total:
        parts = f"{node_total} from nodes" + (f" and {qdisk_votes} from the quorum disk" if qdisk_votes else "")
        problems.warning(
            cman,
            f"expected_votes {expected} is below the {node_total} votes of the nodes: cman raised expected votes "
            "to the votes of the members present once these were more, and quorate computes the quorum the same "
            f"way, so {expected} lowers the quorum only while fewer votes are present"
            + (
                f"; with quorum {quorum} of {reachable} votes ({parts}), two halves that start separated could "
                "both become quorate"
                if split
                else ""
            ),
            attribute="expected_votes",
            hint=f"set expected_votes to {node_total + qdisk_votes}, or remove it: the default is the sum of the "
            "nodes' votes",
        )
        return
    if quorum > reachable:
        problems.error(
            cman,
            f"expected_votes {expected} needs {quorum} votes for quorum, but the nodes"
            f"{' and quorum disk' if qdisk_votes else ''} have only {reachable}",
            attribute="expected_votes",
            hint=f"the cluster could never be quorate; set expected_votes to {reachable} or less",
        )
    elif split:
        parts = f"{node_total} from nodes" + (f" and {qdisk_votes} from the quorum disk" if qdisk_votes else "")
        problems.warning(
            cman,
            f"expected_votes {expected} gives a quorum of {quorum}, but the cluster has {reachable} votes ({parts}): "
            "two halves that start separated could both become quorate",
            attribute="expected_votes",
            hint=f"set expected_votes to {reachable}",
        )


def _check_multicast(element: etree._Element, attr: str, value: str, problems: Problems) -> None:
    try:
        address = ipaddress.ip_address(value.strip(XML_SPACE))
    except ValueError:
        problems.error(
            element,
            f"{value!r} is not an IP address",
            attribute=attr,
            hint="use a multicast group such as 239.192.0.1",
        )
        return
    if not address.is_multicast:
        problems.error(
            element,
            f"{value} is not a multicast address",
            attribute=attr,
            hint="IPv4 multicast is 224.0.0.0/4 (use 239.x.y.z), IPv6 is ff00::/8",
        )
    elif isinstance(address, ipaddress.IPv4Address) and address in ipaddress.IPv4Network("224.0.0.0/24"):
        problems.warning(
            element,
            f"{value} is in 224.0.0.0/24, the link-local block reserved for routing protocols and all-hosts",
            attribute=attr,
            hint="use an administratively scoped group such as 239.192.x.y",
        )


def _check_totem(root: etree._Element, problems: Problems) -> None:
    totem = build.child(root, "totem")
    if totem is not None and build.get_int(totem, "consensus") is not None:
        problems.ignored(
            totem,
            "accepted but not used by quorate: a new view does not wait for a totem consensus; a proposal that "
            "is not acknowledged within half the token (at least four heartbeats) is made again without the "
            "nodes that did not answer",
            attribute="consensus",
            hint="tune token; quorate config show still prints the consensus cman would have used",
        )
    token = build.get_int(totem, "token")
    if totem is not None and token is not None and not 5000 <= token <= 300000:
        problems.warning(
            totem,
            f"token {token} ms is outside the 5000-300000 ms range supported for cman clusters",
            attribute="token",
            hint="a shorter token evicts nodes on short pauses; a longer one delays recovery",
        )


def _check_quorumd(root: etree._Element, problems: Problems) -> None:
    qdisk = build.child(root, "quorumd")
    if qdisk is None:
        return
    if not qdisk.get("label") and not qdisk.get("device"):
        problems.error(
            qdisk,
            "the quorum disk needs label= or device=",
            hint="label= (as given to mkqdisk -l) finds the disk on every node",
        )
    elif qdisk.get("label") and qdisk.get("device"):
        problems.warning(qdisk, "both label and device are set; the label wins", attribute="device")
    nodes = build.children(build.child(root, "clusternodes"), "clusternode")
    votes = build.node_votes(root)
    if len(nodes) > 16:
        problems.error(qdisk, f"a quorum disk serves at most 16 nodes, and {len(nodes)} are defined")
    for node, nodeid in zip(nodes, build.node_ids(root), strict=True):
        if nodeid > 16:
            problems.error(
                node,
                f"nodeid {nodeid} has no slot on the quorum disk",
                attribute="nodeid",
                hint="with a quorum disk, node ids must be 1 to 16",
            )
    odd = [(n, v) for n, v in zip(nodes, votes, strict=True) if v != 1]
    explicit_votes = build.get_int(qdisk, "votes")
    for node, vote in odd:
        if explicit_votes is None:
            problems.error(
                node,
                f"this node has {vote} votes; automatic quorum disk votes need every node at 1 vote",
                attribute="votes",
                hint="set every node's votes to 1, or set votes= on <quorumd>",
            )
        else:
            problems.warning(
                node, f"this node has {vote} votes; a quorum disk expects 1 vote per node", attribute="votes"
            )
    _check_quorumd_values(qdisk, problems)
    _check_quorumd_timing(root, qdisk, votes, problems)


def _check_quorumd_values(qdisk: etree._Element, problems: Problems) -> None:
    for attr, floor, becomes in (("interval", 1, "1"), ("upgrade_wait", 1, "1"), ("votes", 0, "0")):
        value = build.get_int(qdisk, attr)
        if value is not None and value < floor:
            problems.warning(qdisk, f"{attr} {value} is below {floor} and is used as {becomes}", attribute=attr)
    tko = build.get_int(qdisk, "tko")
    if tko is not None and tko <= 0:
        problems.warning(qdisk, f"tko {tko} is not positive; the derived default is used", attribute="tko")
    elif tko is not None and tko < 4:
        problems.warning(
            qdisk,
            f"tko {tko} declares a node dead after very few missed cycles",
            attribute="tko",
            hint="use at least 4 so that one slow write does not evict a node",
        )
    heuristics = build.children(qdisk, "heuristic")
    for extra in heuristics[10:]:
        problems.warning(extra, "only the first 10 heuristics are used; this one is ignored")
    for h in heuristics[:10]:
        for attr, default in (("score", 1), ("interval", 2), ("tko", 1)):
            value = build.get_int(h, attr)
            if value is not None and value <= 0:
                problems.warning(h, f"{attr} {value} is not positive and is used as {default}", attribute=attr)
    if heuristics and qdisk.get("master_wins") is not None and build.get_bool(qdisk, "master_wins", False):
        problems.warning(
            qdisk,
            "master_wins is ignored when heuristics are defined",
            attribute="master_wins",
            hint="remove master_wins, or the heuristics",
        )
    scores = [build.heuristic(h).score for h in heuristics[:10]]
    min_score = build.get_int(qdisk, "min_score")
    if min_score is not None and min_score > 0 and scores and min_score > sum(scores):
        problems.error(
            qdisk,
            f"min_score {min_score} is more than all heuristics together can score ({sum(scores)})",
            attribute="min_score",
            hint="no node could ever count as fit; lower min_score",
        )


def _check_quorumd_timing(root: etree._Element, qdisk: etree._Element, votes: list[int], problems: Problems) -> None:
    token = build.token_ms(root)
    q = build.quorumd(qdisk, token, votes)
    transition = derive.qdisk_master_transition_ms(q.interval, q.tko, q.master_wait, q.upgrade_wait)
    totem = build.child(root, "totem")
    anchor = totem if totem is not None and totem.get("token") is not None else qdisk
    if token < 10000:
        problems.warning(
            anchor,
            f"a totem token of {token} ms is too short to use with a quorum disk",
            attribute="token" if anchor is totem else None,
            hint="RHEL 6's qdiskd refuses to start below 10000 ms",
        )
    if transition >= token:
        minimum = transition + q.interval * 1000
        problems.warning(
            qdisk,
            f"quorum disk timings are too slow for the {token} ms totem token: electing a new master can take "
            f"{transition // 1000} s (interval {q.interval} x (tko {q.tko} + master_wait {q.master_wait} + "
            f"upgrade_wait {q.upgrade_wait})), so cman evicts nodes before the disk decides",
            attribute="interval",
            hint=f"RHEL 6's qdiskd refuses this; set totem token to {minimum} ms or more, or lower interval/tko",
        )
    elif token < 2 * q.timeout_s * 1000:
        problems.warning(
            qdisk,
            f"the totem token ({token} ms) should be at least twice the quorum disk timeout "
            f"(interval {q.interval} x tko {q.tko} = {q.timeout_s} s)",
            attribute="tko",
            hint=f"set totem token to {2 * q.timeout_s * 1000} ms or more, or lower interval/tko",
        )
