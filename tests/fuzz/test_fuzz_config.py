"""cluster.conf built from the schema's own vocabulary, with hostile values: ConfigError or a sound config.

The trees follow the grammar (known elements under their known parents, their own attributes), so most
examples get past the schema walk into the semantic checks; values include line breaks, tabs, DEL, C1 controls,
leading dashes and quotes. A configuration that loads must carry none of the names or fence values the loader
promises to refuse.
"""

from __future__ import annotations

import unicodedata

from fuzzing import FUZZ, bounded
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from quorate.config import ClusterConfig, ConfigError, parse_config
from quorate.config.schema import vocabulary

VOCAB = vocabulary()
MAX_DEPTH = 5

HOSTILE = [
    "a", "b", "c", "web", "d", "sw", "fence_netns", "1", "2", "0", "10.0.0.1", "/mnt/x", "vg", "lv",
    "c\naction=on", "x\ty", "x\r", "del\x7f", "c1\x85", "-ay", "--config=x", 'a"b', "", " ", "s" * 300,
]  # fmt: skip


def xml_safe(text: str) -> str:
    """XML 1.0 carries tab, line feed and carriage return among the C0 controls, and no surrogate."""
    return "".join(ch for ch in text if ch in "\t\n\r" or (ord(ch) >= 0x20 and ch not in "\ufffe\uffff"))


VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=-3, max_value=70000).map(str),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10).map(xml_safe),
)


@st.composite
def element(draw: st.DrawFn, key: str, depth: int = 0) -> etree._Element:
    spec = VOCAB.spec(key)
    node = etree.Element(spec.name or "cluster")
    for attr in draw(st.lists(st.sampled_from(sorted(spec.attrs)), max_size=4, unique=True)) if spec.attrs else []:
        node.set(attr, draw(VALUES))
    children = sorted(spec.children.values(), key=lambda child: child.name)
    if children and depth < MAX_DEPTH:
        for child in draw(st.lists(st.sampled_from(children), max_size=3)):
            node.append(draw(element(child.key, depth + 1)))
    return node


ROOTS = sorted(child.key for child in VOCAB.start.children.values())


def has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def check_sound(cfg: ClusterConfig) -> None:
    names = [n.name for n in cfg.nodes] + [d.name for d in cfg.fencedevices] + [s.name for s in cfg.rm.services]
    assert not any(has_control(name) for name in names), names
    for device in cfg.fencedevices:
        assert not any("\n" in v or "\r" in v for _, v in device.attrs), device
    for node in cfg.nodes:
        for method in node.fence:
            for ref in method.devices:
                assert not any("\n" in v or "\r" in v for _, v in ref.attrs), ref


@FUZZ
@given(st.sampled_from(ROOTS).flatmap(element))
def test_generated_trees_load_or_are_refused_with_located_problems(root: etree._Element) -> None:
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    try:
        cfg = bounded(lambda: parse_config(data, "fuzz.conf"))
    except ConfigError as exc:
        assert exc.errors, "a refusal names at least one error"
        for problem in exc.problems:
            assert problem.file == "fuzz.conf" and problem.path.startswith("/") and problem.line >= 0
            assert "internal error" not in problem.message, problem
        return
    check_sound(cfg)


TEMPLATE = """<?xml version="1.0"?>
<cluster name="magi" config_version="1">
  <clusternodes>
    <clusternode name="{n1}" nodeid="1"><fence><method name="1"><device name="sw" port="{port}"/></method></fence>
    </clusternode>
    <clusternode name="{n2}" nodeid="2"/>
  </clusternodes>
  <fencedevices><fencedevice name="sw" agent="fence_netns" passwd="{passwd}"/></fencedevices>
  <rm>
    <failoverdomains><failoverdomain name="{domain}"><failoverdomainnode name="{n2}"/></failoverdomain>
    </failoverdomains>
    <service name="{service}" domain="{domain}"><lvm name="{res}" vg_name="{vg}" lv_name="{lv}"/></service>
  </rm>
</cluster>
"""
SLOTS = ("n1", "n2", "port", "passwd", "domain", "service", "res", "vg", "lv")
DEFAULTS = {"n1": "a", "n2": "b", "port": "1", "passwd": "pw", "domain": "d", "service": "web", "res": "l",
            "vg": "vg", "lv": "lv"}  # fmt: skip


def attribute_text(value: str) -> str:
    """The value as it must be written inside a double-quoted XML attribute to read back unchanged."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    return escaped.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


@FUZZ
@given(st.dictionaries(st.sampled_from(SLOTS), VALUES, min_size=1, max_size=2))
def test_a_valid_file_with_hostile_values_loads_only_when_they_are_harmless(changes: dict[str, str]) -> None:
    """One or two slots of a valid file get a drawn value, so a harmless value still loads."""
    values = {**DEFAULTS, **changes}
    data = TEMPLATE.format(**{slot: attribute_text(value) for slot, value in values.items()}).encode()
    try:
        cfg = bounded(lambda: parse_config(data, "fuzz.conf"))
    except ConfigError as exc:
        assert exc.errors and all("internal error" not in p.message for p in exc.problems)
        return
    check_sound(cfg)
    for slot in ("vg", "lv"):
        assert not values[slot].strip().startswith("-"), values
