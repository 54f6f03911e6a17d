"""Random damage to the article's file: the loader answers with a ConfigError or a config, never a crash.

Two properties beyond "no crash": the schema walk never misses what libxml2's RelaxNG validator would catch
(no "does not match the schema" backstop problem appears), and no check trips over its own feet (no
"internal error" problem).
"""

from __future__ import annotations

import copy

from config_samples import ARTICLE_2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from quorate.config import ClusterConfig, ConfigError, parse_config
from quorate.config.schema import vocabulary

ARTICLE = ARTICLE_2.read_bytes()
CLEAN = ARTICLE.decode().replace("\u00a0", " ").encode()
TAGS = sorted({spec.name for spec in vocabulary().specs.values() if spec.name} | {"bogus", "vm"})
ATTRIBUTES = sorted(
    {name for spec in vocabulary().specs.values() for name in spec.attrs} | {"ref", "option", "port", "junk"}
)
VALUES = st.one_of(
    st.integers(min_value=-3, max_value=70000).map(str),
    st.sampled_from(
        [
            "",
            "yes",
            "true",
            "1h",
            "10x",
            "service:test",
            "test",
            "ring01",
            "RING01",
            "manual",
            "tes_lv",
            "test_fs",
            "test_svc",
            "balthasar.localdomain",
            "casper",
            "224.0.0.1",
            "10.0.0.1/24",
            "/mnt/magi/test",
            "mnt",
            "*",
            "non-critical",
            "\u00a0",
        ]
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=8),
)


def _check(data: bytes) -> None:
    try:
        cfg = parse_config(data)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError always carries problems"
        assert any(p.severity == "error" for p in exc.problems)
        for problem in exc.problems:
            assert "internal error" not in problem.message, problem
            assert "does not match the schema" not in problem.message, problem
            assert problem.path.startswith("/") and problem.line >= 0
            str(problem)
        return
    assert isinstance(cfg, ClusterConfig)
    assert [n.nodeid for n in cfg.nodes] == sorted(n.nodeid for n in cfg.nodes)
    assert all(w.severity != "error" for w in cfg.warnings)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_byte_mutations(data: st.DataObject) -> None:
    raw = bytearray(ARTICLE)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if action == "delete":
            length = data.draw(st.integers(1, 40))
            del raw[position : position + length]
        elif action == "insert":
            snippet = data.draw(st.sampled_from(['"', "<", ">", "/>", "=", "&", "<!--", "\u00a0", "x", "\n", "</rm>"]))
            raw[position:position] = snippet.encode()
        else:
            length = data.draw(st.integers(1, 80))
            raw[position:position] = raw[position : position + length]
    _check(bytes(raw))


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_tree_mutations(data: st.DataObject) -> None:
    root = etree.fromstring(CLEAN)
    for _ in range(data.draw(st.integers(1, 5))):
        elements = _elements(root)
        target = data.draw(st.sampled_from(elements))
        action = data.draw(st.sampled_from(["set", "delete-attr", "remove", "duplicate", "move", "rename", "add"]))
        if action == "set":
            target.set(data.draw(st.sampled_from(ATTRIBUTES)), data.draw(VALUES))
        elif action == "delete-attr" and len(target.attrib):
            del target.attrib[data.draw(st.sampled_from(sorted(target.attrib)))]
        elif action == "remove" and target is not root:
            parent = target.getparent()
            assert parent is not None
            parent.remove(target)
        elif action == "duplicate" and target is not root:
            target.addnext(copy.deepcopy(target))
        elif action == "move" and target is not root:
            destinations = [e for e in elements if e is not target and target not in e.iterancestors()]
            destination = data.draw(st.sampled_from(destinations))
            if target not in destination.iterancestors():
                destination.append(target)
        elif action == "rename":
            target.tag = data.draw(st.sampled_from(TAGS))
        elif action == "add":
            etree.SubElement(target, data.draw(st.sampled_from(TAGS)), name=data.draw(VALUES))
    _check(etree.tostring(root))


def test_unchanged_article_passes_the_same_checks() -> None:
    _check(ARTICLE)
    _check(CLEAN)
