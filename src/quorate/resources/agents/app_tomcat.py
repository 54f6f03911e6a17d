"""``<tomcat-5>`` and ``<tomcat-6>`` → ``ocf:heartbeat:tomcat``, with rgmanager's attribute names.

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    config_file          read for JAVA_HOME, CATALINA_HOME, CATALINA_BASE, CATALINA_PID, CATALINA_TMPDIR,
                         TOMCAT_USER, JAVA_OPTS and CATALINA_OPTS, which set the parameters of those names in
                         lower case (/etc/tomcat6/tomcat6.conf, /etc/tomcat5/tomcat5.conf; the same)
    tomcat_user          tomcat_user (tomcat-5; the file's TOMCAT_USER, else tomcat; the same)
    catalina_options     catalina_opts (tomcat-5; the file's CATALINA_OPTS)
    catalina_base        catalina_base (tomcat-5; the file's, else the OCF agent's: catalina_home)
    shutdown_wait        max_stop_time, and the stop timeout: shutdown_wait + 10 s (the agent's own,
                         120 s; 30 s)
    name, service_name   passed as is, unused

Debian's agent needs ``java_home`` and ``catalina_home``. What the file and the element leave unset comes
from Debian's packages when installed: the newest ``/usr/share/tomcat<N>`` (with ``/var/lib/tomcat<N>`` as
``catalina_base``) and ``/usr/lib/jvm/default-java``. If either is still unknown, the start is refused and
says where to set it. The file is read as ``NAME=value`` lines (quotes removed, no shell expansion).

Differences an administrator sees: status asks ``statusurl`` (default ``http://127.0.0.1:8080``) for a page
instead of checking a pid file; set ``statusurl`` on the element when Tomcat listens elsewhere. rgmanager's
tomcat-6 generated a copy of ``server.xml`` bound to the service's addresses; here ``server.xml`` is used as is.
"""

from __future__ import annotations

import re

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host, MappingProblem, no_words, seconds, value

RGMANAGER_CONFIG = {"tomcat-5": "/etc/tomcat5/tomcat5.conf", "tomcat-6": "/etc/tomcat6/tomcat6.conf"}
FROM_FILE = (
    "JAVA_HOME",
    "CATALINA_HOME",
    "CATALINA_BASE",
    "CATALINA_PID",
    "CATALINA_TMPDIR",
    "TOMCAT_USER",
    "JAVA_OPTS",
    "CATALINA_OPTS",
)
DEBIAN_JAVA = "/usr/lib/jvm/default-java"
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$")


def read_assignments(text: str) -> dict[str, str]:
    """``NAME=value`` lines of a shell environment file; quotes removed, nothing expanded."""
    found = {}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if match is None:
            continue
        setting = match.group(2).strip()
        if len(setting) >= 2 and setting[0] == setting[-1] and setting[0] in "'\"":
            setting = setting[1:-1]
        found[match.group(1)] = setting
    return found


def newest_tomcat(host: Host) -> str | None:
    """The highest N with ``/usr/share/tomcat<N>`` installed."""
    numbers = [path[len("/usr/share/tomcat") :] for path in host.matching("/usr/share/tomcat*")]
    versions = sorted(int(n) for n in numbers if n.isdigit())
    return str(versions[-1]) if versions else None


def parameters(res: Node, host: Host) -> dict[str, str]:
    wait = seconds(res, "shutdown_wait")
    config = value(res, "config_file") or RGMANAGER_CONFIG.get(res.type, "")
    text = host.read(config) if config else None
    from_file = read_assignments(text) if text is not None else {}
    params = {name.lower(): from_file[name] for name in FROM_FILE if from_file.get(name)}
    for attr, param in (("tomcat_user", "tomcat_user"), ("catalina_options", "catalina_opts")):
        if value(res, attr):
            params[param] = value(res, attr) or ""
    if value(res, "catalina_base"):
        params["catalina_base"] = value(res, "catalina_base") or ""
    params.setdefault("tomcat_user", "tomcat")
    if "catalina_home" not in params and "catalina_home" not in res.attrs:
        version = newest_tomcat(host)
        if version is not None:
            params["catalina_home"] = f"/usr/share/tomcat{version}"
            if "catalina_base" not in params and host.exists(f"/var/lib/tomcat{version}"):
                params["catalina_base"] = f"/var/lib/tomcat{version}"
    if "java_home" not in params and "java_home" not in res.attrs and host.exists(DEBIAN_JAVA):
        params["java_home"] = DEBIAN_JAVA
    where = f"in {config} or " if config else ""
    for needed, variable in (("catalina_home", "CATALINA_HOME"), ("java_home", "JAVA_HOME")):
        if needed not in params and not value(res, needed):
            raise MappingProblem(f"{needed} is unknown: set {variable} {where}{needed} on the element")
    for path in ("catalina_home", "java_home", "catalina_base"):
        if path in params:
            no_words(res, path, params[path])
    if wait is not None:
        params["max_stop_time"] = str(wait)
    return params


READS = frozenset({"config_file", "tomcat_user", "catalina_options", "catalina_base", "shutdown_wait"})
MAPPINGS = (
    AppMapping("tomcat-5", "tomcat", parameters, reads=READS),
    AppMapping("tomcat-6", "tomcat", parameters, reads=READS),
)
