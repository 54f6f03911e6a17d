"""``<apache>`` → ``ocf:heartbeat:apache`` (Debian's apache2), with rgmanager's attribute names.

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    name                 options: -D<name>, for <IfDefine name> sections, as rgmanager passed it (required)
    server_root          options: -d <server_root>; also the base of a relative config_file and the
                         agent's working directory (/etc/apache2; /etc/httpd)
    config_file          configfile: absolute as given, else <server_root>/<config_file>
                         (apache2.conf; conf/httpd.conf)
    httpd                httpd (/usr/sbin/apache2, else /usr/sbin/httpd; the same two, other order)
    httpd_options        options, after -D and -d (none)
    shutdown_wait        the stop timeout: shutdown_wait + 10 s (the agent's own, 60 s; 20 s)
    service_name         passed as is, unused (inherited from the service)
    (none)               envfiles: <server_root>/envvars if present, else /etc/apache2/envvars (apache2 only)

Listen addresses: rgmanager's agent generated a copy of the configuration whose ``Listen`` lines named the
service's ``<ip>`` addresses. quorate runs the administrator's file unchanged: write the service address in
it (``Listen 10.0.0.50:80``). The service's ``<ip>`` is a typed child and starts before the untyped
``<apache>``, so the address exists when Apache binds it. Debian's agent also reads that ``Listen`` line for
its health check: status fetches the file's ``server-status`` location, or the home page, from that address.

Status: depth 0 is the agent's monitor (process alive, page fetched); depth 10 runs its extended check
(level 10) only when the element sets ``testurl`` or ``testconffile`` (OCF parameters, passed through), and
otherwise the same check as depth 0. The agent runs in ``server_root`` so that the relative ``Include`` lines
of the file resolve for its parser as they do for Apache.

Stop: as rgmanager's agent did, SIGTERM to this service's Apache (the process started with ``-f <configfile>``),
which ends it at once, watched every 50 ms for up to ``shutdown_wait`` (20 s when not set); then the agent's stop,
which finds it gone and removes what is left (or, if Apache is still there, tries its graceful stop and SIGKILL).
Debian's agent alone would first ask for a graceful stop (SIGWINCH) and check once a second, which made a relocation
about a second longer. There is no generated copy of the file under ``/etc/cluster/apache``.
"""

from __future__ import annotations

import os

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host, MappingProblem, no_words, seconds, value

DEBIAN_SERVER_ROOT = "/etc/apache2"
DEBIAN_CONFIG = "apache2.conf"
HTTPD_CANDIDATES = ("/usr/sbin/apache2", "/usr/sbin/httpd")
DEBIAN_ENVVARS = "/etc/apache2/envvars"


def server_root(res: Node) -> str:
    return value(res, "server_root") or DEBIAN_SERVER_ROOT


def parameters(res: Node, host: Host) -> dict[str, str]:
    name = value(res, "name")
    if name is None:
        raise MappingProblem("no name (rgmanager passed it as -D<name> for <IfDefine>)")
    root = no_words(res, "server_root", server_root(res))
    config = value(res, "config_file") or DEBIAN_CONFIG
    configfile = no_words(res, "config_file", config if config.startswith("/") else os.path.join(root, config))
    httpd = value(res, "httpd") or host.first(HTTPD_CANDIDATES, HTTPD_CANDIDATES[0])
    options = [f"-D{no_words(res, 'name', name)}", "-d", root]
    extra = value(res, "httpd_options")
    if extra:
        options.append(extra)
    seconds(res, "shutdown_wait")  # refuse a malformed value at start rather than ignore it
    params = {"configfile": configfile, "httpd": httpd, "options": " ".join(options)}
    if os.path.basename(httpd).startswith("apache2"):
        params["envfiles"] = host.first([os.path.join(root, "envvars")], DEBIAN_ENVVARS)
    return params


def check_level(res: Node, depth: int) -> int:
    return 10 if depth >= 10 and (value(res, "testurl") or value(res, "testconffile")) else 0


def own_process(params: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Debian's agent starts ``<httpd> ... -f <configfile>``: that command line names this service's Apache."""
    return params["httpd"], (("-f", params["configfile"]),)


MAPPING = AppMapping(
    "apache",
    "apache",
    parameters,
    own_process=own_process,
    reads=frozenset({"name", "server_root", "config_file", "httpd", "httpd_options", "shutdown_wait"}),
    check_level=check_level,
    workdir=server_root,
)
