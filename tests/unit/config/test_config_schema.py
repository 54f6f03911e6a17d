"""The shipped RelaxNG schema: valid RelaxNG, in agreement with the walker, and its errors are located."""

from __future__ import annotations

from config_samples import BASE
from lxml import etree

from quorate.config.problems import Problems
from quorate.config.schema import relaxng, relaxng_backstop, schema_tree, vocabulary


def test_schema_accepts_the_valid_sample() -> None:
    assert relaxng().validate(etree.fromstring(BASE.encode()).getroottree())


def test_vocabulary_knows_every_section_of_the_spec() -> None:
    names = {spec.name for spec in vocabulary().specs.values()}
    for name in [
        "cluster",
        "cman",
        "multicast",
        "totem",
        "quorumd",
        "heuristic",
        "clusternodes",
        "clusternode",
        "fence",
        "method",
        "device",
        "unfence",
        "altname",
        "fencedevices",
        "fencedevice",
        "fence_daemon",
        "rm",
        "failoverdomains",
        "failoverdomain",
        "failoverdomainnode",
        "resources",
        "service",
        "fs",
        "clusterfs",
        "netfs",
        "lvm",
        "script",
        "ip",
        "nfsexport",
        "nfsclient",
        "action",
        "logging",
    ]:
        assert name in names, name


def test_tolerated_names_are_marked_ignored() -> None:
    ignored = {spec.name for spec in vocabulary().specs.values() if spec.ignored is not None}
    assert {"logging", "dlm", "gfs_controld", "group", "fence_xvmd", "clvmd"} <= ignored
    assert "vm" not in ignored  # virtual machines are validated against the vm agent's parameters
    cman = next(s for s in vocabulary().specs.values() if s.name == "cman")
    assert cman.attrs["upgrading"].ignored is not None
    assert cman.attrs["two_node"].ignored is None


def test_schema_file_is_plain_relaxng_with_annotations() -> None:
    root = schema_tree().getroot()
    assert root.tag == "{http://relaxng.org/ns/structure/1.0}grammar"
    assert root.nsmap["q"] == "urn:quorate:schema:annotations"


def test_backstop_maps_libxml2_errors_to_located_problems() -> None:
    tree = etree.fromstring(
        b'<cluster name="a" config_version="1">\n<clusternodes>\n<clusternode name="n" nodeid="x"/>\n'
        b"</clusternodes>\n</cluster>"
    ).getroottree()
    problems = Problems("c.conf")
    relaxng_backstop(tree, problems)
    assert problems.has_errors
    first = problems.items[0]
    assert (first.file, first.line) == ("c.conf", 3)
    assert first.path == "/cluster/clusternodes/clusternode[1]"
    assert first.message.startswith("does not match the schema: ")
