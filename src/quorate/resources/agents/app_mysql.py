"""``<mysql>`` → ``ocf:heartbeat:mysql``, which runs Debian's MariaDB, with rgmanager's attribute names.

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    config_file          config (/etc/mysql/my.cnf; /etc/my.cnf)
    listen_address       additional_parameters: --bind-address=<address> (the file's bind-address; the
                         service's first IP)
    mysqld_options       additional_parameters, after the address; a --user= in it is also user (none)
    startup_wait         the start timeout (the agent's own, 120 s; 30 s)
    shutdown_wait        the stop timeout: shutdown_wait + 10 s (the agent's own, 120 s; 20 s)
    name, service_name   passed as is, unused
    (none)               datadir, pid, socket, log: from the file, else Debian's (see below)
    (none)               binary: /usr/bin/mariadbd-safe, else /usr/bin/mysqld_safe
    (none)               client_binary: /usr/bin/mariadb, else /usr/bin/mysql
    (none)               user: mysql (the OCF agent's group default, mysql, applies)

Why the files are derived: Debian's agent always starts the server with ``--datadir``, ``--pid-file``,
``--socket`` and ``--log-error`` on its command line, which beat the configuration file. So the mapping reads
the file (``!include`` and ``!includedir`` followed, groups ``[mysqld]``, ``[server]``, ``[mariadb]``,
``[mariadbd]`` and ``[client-server]``, later values winning, as the server reads them; version-suffixed groups
are not read) and passes what it says; what it does not say gets Debian's paths: ``/var/lib/mysql``,
``/run/mysqld/mysqld.pid``, ``/run/mysqld/mysqld.sock``, ``/var/log/mysql/error.log``. Relative paths are
relative to the data directory, as for the server. Any OCF parameter written on the element wins.

Differences an administrator sees: without ``listen_address`` rgmanager bound the server to the service's
first ``<ip>``; here the server listens where the file says (Debian's file says 127.0.0.1: set
``listen_address`` or ``bind-address`` for clients on the network). A stop sends SIGTERM and, when the server
is still up 5 s before the stop timeout, SIGKILL (rgmanager failed the stop instead). Status at depth 10 runs
the agent's deeper check: a ``SELECT COUNT(*)`` from ``mysql.user`` as ``root`` over the socket, which
Debian's MariaDB lets the system's root do (``test_user``, ``test_passwd``, ``test_table`` change it).
"""

from __future__ import annotations

import os
import shlex

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host, MappingProblem, lenient_seconds, no_words, seconds, value

DEBIAN_CONFIG = "/etc/mysql/my.cnf"
DEBIAN_PATHS = {
    "datadir": "/var/lib/mysql",
    "pid": "/run/mysqld/mysqld.pid",
    "socket": "/run/mysqld/mysqld.sock",
    "log": "/var/log/mysql/error.log",
}
# Option in the file → OCF parameter.
FROM_FILE = {"datadir": "datadir", "pid_file": "pid", "socket": "socket", "log_error": "log"}
SERVER_GROUPS = frozenset({"mysqld", "server", "mariadb", "mariadbd", "client-server"})
SERVER_BINARIES = ("/usr/bin/mariadbd-safe", "/usr/bin/mysqld_safe")
CLIENT_BINARIES = ("/usr/bin/mariadb", "/usr/bin/mysql")
MAX_INCLUDE_DEPTH = 10


def read_options(host: Host, path: str, groups: frozenset[str] = SERVER_GROUPS) -> dict[str, str]:
    """The options a MariaDB server takes from an option file: ``-`` and ``_`` are one in names, the last
    value wins, missing or unreadable files add nothing (the OCF agent then says what is missing)."""
    found: dict[str, str] = {}
    _read_into(host, path, groups, found, 0)
    return found


def _read_into(host: Host, path: str, groups: frozenset[str], found: dict[str, str], depth: int) -> None:
    text = host.read(path) if depth <= MAX_INCLUDE_DEPTH else None
    if text is None:
        return
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("!includedir"):
            folder = line[len("!includedir") :].strip()
            for name in sorted(host.matching(os.path.join(folder, "*.cnf"))):
                _read_into(host, name, groups, found, depth + 1)
            continue
        if line.startswith("!include"):
            _read_into(host, line[len("!include") :].strip(), groups, found, depth + 1)
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip().lower()
            continue
        if group not in groups:
            continue
        key, _, rest = line.partition("=")
        setting = rest.split("#", 1)[0].strip()
        if len(setting) >= 2 and setting[0] == setting[-1] and setting[0] in "'\"":
            setting = setting[1:-1]
        found[key.strip().replace("-", "_").lower()] = setting


def user_in(options: str) -> str | None:
    """``--user=NAME`` or ``-u NAME`` in mysqld's options (rgmanager read it there for the pid directory)."""
    words = shlex.split(options)
    for i, word in enumerate(words):
        if word.startswith("--user="):
            return word.split("=", 1)[1] or None
        if word == "-u" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("-u") and len(word) > 2:
            return word[2:]
    return None


def parameters(res: Node, host: Host) -> dict[str, str]:
    config = no_words(res, "config_file", value(res, "config_file") or DEBIAN_CONFIG)
    seconds(res, "startup_wait")
    seconds(res, "shutdown_wait")
    options = read_options(host, config)
    params = {"config": config, **DEBIAN_PATHS}
    for option, param in FROM_FILE.items():
        if options.get(option):
            params[param] = options[option]
    for param in ("pid", "socket", "log"):
        if not params[param].startswith("/"):
            params[param] = os.path.join(params["datadir"], params[param])
    extra = []
    address = value(res, "listen_address")
    if address:
        extra.append(f"--bind-address={no_words(res, 'listen_address', address)}")
    mysqld_options = value(res, "mysqld_options")
    if mysqld_options:
        try:
            user = user_in(mysqld_options)
        except ValueError as exc:
            raise MappingProblem(f"mysqld_options cannot be read as words: {exc}") from None
        extra.append(mysqld_options)
    else:
        user = None
    params["additional_parameters"] = " ".join(extra)
    params["user"] = user or options.get("user") or "mysql"
    params["binary"] = host.first(SERVER_BINARIES, SERVER_BINARIES[1])
    params["client_binary"] = host.first(CLIENT_BINARIES, "mysql")
    return params


def start_timeout(res: Node) -> int | None:
    return lenient_seconds(res, "startup_wait")


def check_level(res: Node, depth: int) -> int:
    return 10 if depth >= 10 else 0


MAPPING = AppMapping(
    "mysql",
    "mysql",
    parameters,
    reads=frozenset({"config_file", "listen_address", "mysqld_options", "startup_wait", "shutdown_wait"}),
    start_timeout=start_timeout,
    check_level=check_level,
)
