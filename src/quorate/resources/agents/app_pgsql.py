"""``<postgres-8>`` → ``ocf:heartbeat:pgsql`` (Debian's PostgreSQL), with rgmanager's attribute names.

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    config_file          config (Debian's cluster file, see below; /var/lib/pgsql/data/postgresql.conf)
    postmaster_user      pgdba (postgres; the same)
    postmaster_options   -D DIR (or --pgdata=DIR) is pgdata, the other words are start_opt
                         (none; -D /var/lib/pgsql/data)
    startup_wait         the start timeout (the agent's own, 120 s; 10 s)
    shutdown_wait        the stop timeout: shutdown_wait + 10 s (the agent's own, 120 s)
    name, service_name   passed as is, unused
    (none)               pgctl: /usr/lib/postgresql/<newest version>/bin/pg_ctl, or /usr/bin/pg_ctl when
                         no version is installed that way

Debian keeps one cluster per version: data in ``/var/lib/postgresql/<version>/main``, configuration in
``/etc/postgresql/<version>/main/postgresql.conf``. When the element names neither a data directory nor a
file, the newest installed version's ``main`` cluster is used; when it names a data directory only, the
agent's default applies (``postgresql.conf`` inside it). Stop the Debian service of that cluster and keep it
from starting at boot (``systemctl disable postgresql``): the cluster must be the only one starting it.

Differences an administrator sees: rgmanager generated a copy of the file whose ``listen_addresses`` named
the service's ``<ip>`` addresses; here the server listens where the file says. Status is the agent's
monitor, an SQL query (``monitor_sql``, default ``select now();``) at every depth.
"""

from __future__ import annotations

import os
import re
import shlex

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host, MappingProblem, lenient_seconds, no_words, seconds, value

PG_CTL_PATTERN = "/usr/lib/postgresql/*/bin/pg_ctl"
FALLBACK_PG_CTL = "/usr/bin/pg_ctl"


def newest_version(host: Host) -> str | None:
    """The highest PostgreSQL major version with a ``pg_ctl`` installed the Debian way."""
    versions = []
    for path in host.matching(PG_CTL_PATTERN):
        version = path.split("/")[4]
        if re.fullmatch(r"\d+(\.\d+)?", version):
            versions.append((tuple(int(part) for part in version.split(".")), version))
    return max(versions)[1] if versions else None


def split_options(text: str) -> tuple[str | None, str]:
    """(data directory, the remaining options) from postmaster's command-line options."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise MappingProblem(f"postmaster_options cannot be read as words: {exc}") from None
    datadir: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-D" and i + 1 < len(words):
            datadir, i = words[i + 1], i + 2
            continue
        if word.startswith("--pgdata="):
            datadir = word.split("=", 1)[1]
        elif word.startswith("-D") and len(word) > 2:
            datadir = word[2:]
        else:
            rest.append(word)
        i += 1
    return datadir, shlex.join(rest)


def parameters(res: Node, host: Host) -> dict[str, str]:
    seconds(res, "startup_wait")
    seconds(res, "shutdown_wait")
    datadir, start_opt = split_options(value(res, "postmaster_options") or "")
    version = newest_version(host)
    params = {
        "pgdba": value(res, "postmaster_user") or "postgres",
        "pgctl": f"/usr/lib/postgresql/{version}/bin/pg_ctl" if version else FALLBACK_PG_CTL,
    }
    config = value(res, "config_file")
    if datadir is None and config is None and version is not None:
        datadir = f"/var/lib/postgresql/{version}/main"
        config = f"/etc/postgresql/{version}/main/postgresql.conf"
    if datadir is not None:
        params["pgdata"] = no_words(res, "postmaster_options", os.path.normpath(datadir))
    if config is not None:
        params["config"] = no_words(res, "config_file", config)
    if start_opt:
        params["start_opt"] = start_opt
    return params


def start_timeout(res: Node) -> int | None:
    return lenient_seconds(res, "startup_wait")


MAPPING = AppMapping(
    "postgres-8",
    "pgsql",
    parameters,
    reads=frozenset({"config_file", "postmaster_user", "postmaster_options", "startup_wait", "shutdown_wait"}),
    start_timeout=start_timeout,
)
