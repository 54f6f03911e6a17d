"""Names and fence values that must be plain text: no control characters, no line breaks, bounded length.

Theory of operation: names do not stay inside quorate. A node name is written on a fence agent's stdin as a
``nodename=`` line, service and domain names travel in bounded cluster datagrams and appear in every status
line, and every ``<fencedevice>`` or per-node ``<device>`` attribute becomes a ``key=value`` line of the agent's
input. XML lets a value carry a line break (``&#10;``), a tab or DEL, so ``name="c&#10;action=on"`` would
reach an agent as two lines and turn an ``off`` into an ``on``. The file is therefore refused at load time:
names may hold no control character at all (C0, DEL and C1) and must fit in `NAME_MAX_BYTES`; fence
attribute values may hold no line break or NUL (a tab or other oddity in a password stays allowed, since
the agent reads whole lines). The fence runner refuses such values again before writing them, so a
configuration built by hand in a program cannot slip past this check either.
"""

from __future__ import annotations

import re
import unicodedata

from lxml import etree

from quorate.config import build
from quorate.config.problems import Problems, is_element

# Bound on a name's UTF-8 size: a host name is at most 253 bytes, and names travel inside datagrams of a few
# kilobytes together with many others, so one overlong name must not crowd out a whole inventory.
NAME_MAX_BYTES = 255
LINE_BREAKS = ("\n", "\r", "\0")


def control_characters(text: str) -> list[str]:
    """The control characters in `text`, spelled as U+XXXX, in order of first appearance."""
    found: list[str] = []
    for char in text:
        if unicodedata.category(char) == "Cc":
            spelled = f"U+{ord(char):04X}"
            if spelled not in found:
                found.append(spelled)
    return found


def name_problem(value: str) -> str | None:
    """Why `value` cannot be a node, device, domain, service or resource name, or None if it can."""
    bad = control_characters(value)
    if bad:
        return f"the name {value!r} contains control characters ({', '.join(bad)})"
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > NAME_MAX_BYTES:
        return f"the name is {size} bytes long; at most {NAME_MAX_BYTES} are allowed"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"the name {value!r} cannot be encoded as UTF-8"
    return None


def check_names(root: etree._Element, problems: Problems) -> None:
    _check_name(root, "cluster", problems)
    nodes = build.children(build.child(root, "clusternodes"), "clusternode")
    for node in nodes:
        _check_name(node, "node", problems)
        for container in ("fence", "unfence"):
            fence = build.child(node, container)
            refs = [ref for method in build.children(fence, "method") for ref in build.children(method, "device")]
            for ref in refs + build.children(fence, "device"):
                _check_fence_values(ref, problems)
    for device in build.children(build.child(root, "fencedevices"), "fencedevice"):
        _check_name(device, "fence device", problems)
        _check_fence_values(device, problems)
    rm = build.child(root, "rm")
    if rm is None:
        return
    for domain in build.children(build.child(rm, "failoverdomains"), "failoverdomain"):
        _check_name(domain, "failover domain", problems)
    for element in rm.iter():
        if not is_element(element) or element is rm or element.tag in ("failoverdomains", "failoverdomain"):
            continue
        if element.tag == "failoverdomainnode":
            _check_name(element, "failover domain node", problems)
        elif element.tag in ("service", "vm"):
            _check_name(element, str(element.tag), problems)
        else:
            _check_name(element, "resource", problems)


def _check_name(element: etree._Element, what: str, problems: Problems) -> None:
    value = element.get("name")
    if value is None:
        return
    why = name_problem(value)
    if why is not None:
        problems.error(
            element,
            f"{what} name refused: {why}",
            attribute="name",
            hint="names reach fence agents, status lines and cluster messages; use letters, digits, '.', '-', '_'",
        )


def _check_fence_values(element: etree._Element, problems: Problems) -> None:
    for attr, raw in element.attrib.items():
        value = str(raw)
        if any(mark in value for mark in LINE_BREAKS):
            problems.error(
                element,
                f"the value {value!r} contains a line break or NUL, which would add lines to the fence agent's "
                "input (one name=value per line)",
                attribute=str(attr),
                hint="write the value on one line",
            )


# LVM's own rules (lvm(8)): VG and LV names use letters, digits and "+_.-" and cannot begin with a hyphen;
# tags, which the lvm resource writes with the node's name, use letters, digits and "_+.-/=!:&#".
LVM_NAME = re.compile(r"[A-Za-z0-9+_.][A-Za-z0-9+_.-]*")
LVM_TAG = re.compile(r"[A-Za-z0-9_+.\-/=!:&#]+")


def lvm_name_problem(value: str) -> str | None:
    """Why `value` cannot be given to LVM as a VG or LV name (it would be read as an option, say)."""
    if value.startswith("-"):
        return f"{value!r} begins with '-', so LVM would read it as an option"
    if not LVM_NAME.fullmatch(value) or value in (".", ".."):
        return f"{value!r} is not a valid LVM name (letters, digits and '+_.-' only)"
    return None


def check_lvm_names(root: etree._Element, problems: Problems) -> None:
    """The ``lvm`` resource passes vg_name and lv_name to LVM commands and the node's name as a tag inside
    LVM's --config text: all three must be what LVM accepts, or they would change the command."""
    rm = build.child(root, "rm")
    lvms = [e for e in rm.iter("lvm") if e.get("ref") is None] if rm is not None else []
    for element in lvms:
        for attr in ("vg_name", "lv_name"):
            value = element.get(attr)
            why = lvm_name_problem(value) if value else None
            if why is not None:
                problems.error(element, why, attribute=attr, hint="write the volume group's or volume's name")
    if not lvms:
        return
    for node in build.children(build.child(root, "clusternodes"), "clusternode"):
        name = node.get("name")
        if name and not LVM_TAG.fullmatch(name):
            problems.error(
                node,
                f"node name {name!r} cannot be an LVM tag, which the lvm resource uses to mark the node owning a "
                "volume group",
                attribute="name",
                hint="with lvm resources, node names may use letters, digits and '_+.-/=!:&#' only",
            )
