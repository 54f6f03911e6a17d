"""The clusters a witness serves: one small file per cluster in /etc/quorate/witness.d, written by `add-cluster`.

Theory of operation: a witness serves a cluster only if it holds that cluster's key (the same key file as the
nodes, from which the witness link's key is derived), so registering a cluster is copying its key next to a
file naming it. Each file is ``NAME.conf`` with ``key = value`` lines::

    name = pair
    cluster_id = 1234
    keyfile = /etc/quorate/witness.d/pair.key
    max_nodeid = 255

``cluster_id`` defaults to the id cman derives from the name, ``max_nodeid`` (the highest node id accepted from
this cluster) to 255. A file the witness cannot use stops it with the file, the line and what is wrong: a
witness that silently skipped a cluster would leave that cluster without its tie-breaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from quorate.config.derive import cluster_id_from_name
from quorate.node.keys import load_key
from quorate.system.files import write_atomically

DEFAULT_DIR: Final = Path("/etc/quorate/witness.d")
DEFAULT_MAX_NODEID: Final = 255
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")
_KEYS: Final = ("name", "cluster_id", "keyfile", "max_nodeid")


class ClusterFileError(Exception):
    """A cluster file the witness cannot use; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class ServedCluster:
    name: str
    cluster_id: int
    keyfile: Path
    max_nodeid: int = DEFAULT_MAX_NODEID

    def key(self) -> bytes:
        return load_key(self.keyfile)


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ClusterFileError(
            f"cluster name {name!r}: use 1 to 15 letters, digits, '.', '_' or '-' (the name in cluster.conf)"
        )


def read_cluster(path: Path) -> ServedCluster:
    values: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or key not in _KEYS:
            raise ClusterFileError(f"{path}:{number}: expected one of {', '.join(_KEYS)} = value, got {raw.strip()!r}")
        values[key] = (value, number)
    for required in ("name", "keyfile"):
        if required not in values:
            raise ClusterFileError(f"{path}: {required} = ... is missing")
    name = values["name"][0]
    try:
        check_name(name)
    except ClusterFileError as exc:
        raise ClusterFileError(f"{path}:{values['name'][1]}: {exc}") from None
    numbers: dict[str, int] = {}
    for key, low, high in (("cluster_id", 0, 0xFFFF), ("max_nodeid", 1, 0xFFFFFFF0)):
        if key in values:
            text, number = values[key]
            if not text.isdigit() or not low <= int(text) <= high:
                raise ClusterFileError(f"{path}:{number}: {key} must be a whole number from {low} to {high}")
            numbers[key] = int(text)
    return ServedCluster(
        name=name,
        cluster_id=numbers.get("cluster_id", cluster_id_from_name(name)),
        keyfile=Path(values["keyfile"][0]),
        max_nodeid=numbers.get("max_nodeid", DEFAULT_MAX_NODEID),
    )


def load_clusters(directory: Path) -> list[ServedCluster]:
    """Every ``*.conf`` of ``directory``, sorted by name; two files for one (name, id) are refused."""
    if not directory.is_dir():
        return []
    clusters: dict[tuple[str, int], Path] = {}
    out = []
    for path in sorted(directory.glob("*.conf")):
        cluster = read_cluster(path)
        key = (cluster.name, cluster.cluster_id)
        if key in clusters:
            raise ClusterFileError(
                f"{path}: cluster {cluster.name} (id {cluster.cluster_id}) is also in {clusters[key]}"
            )
        clusters[key] = path
        out.append(cluster)
    return out


def add_cluster(
    directory: Path, name: str, keyfile: Path, *, cluster_id: int | None = None, max_nodeid: int = DEFAULT_MAX_NODEID
) -> Path:
    """Copy the cluster's key into ``directory`` (mode 0600) and write its file; returns the file's path."""
    check_name(name)
    load_key(keyfile)  # refuse a key the witness could not use, now rather than at its next start
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_copy = directory / f"{name}.key"
    if key_copy.resolve() != keyfile.resolve():
        write_atomically(key_copy, keyfile.read_bytes(), mode=0o600)
    ident = cluster_id if cluster_id is not None else cluster_id_from_name(name)
    target = directory / f"{name}.conf"
    text = f"name = {name}\ncluster_id = {ident}\nkeyfile = {key_copy}\nmax_nodeid = {max_nodeid}\n"
    write_atomically(target, text.encode(), mode=0o644)
    return target
