"""``<openldap>`` → ``ocf:heartbeat:slapd`` (Debian's slapd), with rgmanager's attribute names.

    rgmanager attribute  OCF parameter: value (default here; rgmanager's default)
    config_file          config, a slapd.conf file or a cn=config directory
                         (/etc/ldap/slapd.d; /etc/openldap/slapd.conf)
    url_list             services (ldap:///; the same)
    slapd_options        parameters (none)
    shutdown_wait        stop_escalate (seconds before SIGKILL), and the stop timeout: shutdown_wait + 10 s
                         (the agent's own: 15 s and 20 s)
    name, service_name   passed as is, unused
    (none)               user and group: openldap, as Debian's package runs slapd

Differences an administrator sees: rgmanager generated the ``-h`` URL list from the service's ``<ip>``
addresses when ``url_list`` named none; here slapd serves exactly ``url_list``. Debian's agent kills slapd
(SIGKILL) after ``stop_escalate`` seconds instead of failing the stop.
"""

from __future__ import annotations

from quorate.config.rgtree import Node
from quorate.resources.agents.app import AppMapping, Host, no_words, seconds, value

DEBIAN_CONFIG = "/etc/ldap/slapd.d"


def parameters(res: Node, host: Host) -> dict[str, str]:
    params = {
        "config": no_words(res, "config_file", value(res, "config_file") or DEBIAN_CONFIG),
        "services": value(res, "url_list") or "ldap:///",
        "user": "openldap",
        "group": "openldap",
    }
    options = value(res, "slapd_options")
    if options:
        params["parameters"] = options
    wait = seconds(res, "shutdown_wait")
    if wait is not None:
        params["stop_escalate"] = str(wait)
    return params


MAPPING = AppMapping(
    "openldap",
    "slapd",
    parameters,
    reads=frozenset({"config_file", "url_list", "slapd_options", "shutdown_wait"}),
)
