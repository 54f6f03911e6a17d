"""``<apache>`` → Debian's ocf:heartbeat:apache: the environment each action would get (nothing is started)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app_helpers import agent, ctx, fake_host, node_of, plan, res, reskeys, tree_of

from quorate.config import Action, Resource
from quorate.resources import ResourceRunner
from quorate.resources.agents import app_apache
from quorate.resources.agents.ocf import DEFAULT_OCF_ROOT

DEBIAN = fake_host(present=["/usr/sbin/apache2", "/etc/apache2"])


def test_defaults_are_debians_and_the_service_name_is_inherited() -> None:
    call = plan(agent(app_apache.MAPPING, DEBIAN), node_of("apache", service="shop", name="web"))
    assert call.program.path == f"{DEFAULT_OCF_ROOT}/resource.d/heartbeat/apache"
    assert reskeys(call) == {
        "name": "web",
        "service_name": "shop",
        "configfile": "/etc/apache2/apache2.conf",
        "httpd": "/usr/sbin/apache2",
        "options": "-Dweb -d /etc/apache2",
        "envfiles": "/etc/apache2/envvars",
    }
    assert call.env["OCF_RESOURCE_INSTANCE"] == "web"
    assert (call.env["OCF_RESOURCE_TYPE"], call.env["OCF_RESOURCE_PROVIDER"]) == ("apache", "heartbeat")
    assert call.env["OCF_ROOT"] == DEFAULT_OCF_ROOT
    assert call.cwd == "/etc/apache2"  # the agent parses relative Include lines from there


def test_rgmanager_attributes_map_onto_the_agents_parameters() -> None:
    host = fake_host(present=["/usr/sbin/httpd", "/srv/www", "/srv/www/envvars"])
    node = node_of(
        "apache",
        name="web",
        server_root="/srv/www",
        config_file="conf/httpd.conf",
        httpd="/usr/sbin/httpd",
        httpd_options="-DSSL -e debug",
    )
    params = reskeys(plan(agent(app_apache.MAPPING, host), node))
    assert params["configfile"] == "/srv/www/conf/httpd.conf"  # relative to server_root, as in rgmanager
    assert params["httpd"] == "/usr/sbin/httpd"
    assert params["options"] == "-Dweb -d /srv/www -DSSL -e debug"
    assert "envfiles" not in params  # only Debian's apache2 needs its envvars
    absolute = node_of("apache", name="web", server_root="/srv/www", config_file="/etc/web/site.conf")
    params = reskeys(plan(agent(app_apache.MAPPING, host), absolute))
    assert params["configfile"] == "/etc/web/site.conf"
    assert params["httpd"] == "/usr/sbin/httpd"  # apache2 is not installed on this fake machine
    debian_instance = node_of("apache", name="web", server_root="/srv/www", httpd="/usr/sbin/apache2")
    assert reskeys(plan(agent(app_apache.MAPPING, host), debian_instance))["envfiles"] == "/srv/www/envvars"


def test_ocf_parameters_written_on_the_element_reach_the_agent_and_win() -> None:
    node = node_of(
        "apache",
        name="web",
        statusurl="http://127.0.0.1:8080/server-status",
        envfiles="/etc/apache2-b/envvars",
    )
    params = reskeys(plan(agent(app_apache.MAPPING, DEBIAN), node))
    assert params["statusurl"] == "http://127.0.0.1:8080/server-status"
    assert params["envfiles"] == "/etc/apache2-b/envvars"


def test_shutdown_wait_is_the_stop_timeout_the_agent_sizes_its_waits_from() -> None:
    apache = agent(app_apache.MAPPING, DEBIAN)
    plain = node_of("apache", name="web")
    declared = {a.name: a.timeout for a in asyncio.run(apache.actions(plain)) if a.name != "status"}
    assert declared["start"] > 0 and declared["stop"] > 0  # Debian's agent declares both
    assert plan(apache, plain, "stop").env["OCF_RESKEY_CRM_meta_timeout"] == str(declared["stop"] * 1000)
    waited = node_of("apache", name="web", shutdown_wait="20")
    stop = next(a for a in asyncio.run(apache.actions(waited)) if a.name == "stop")
    assert stop.timeout == 30  # 20 s to stop cleanly, 10 s for the agent's escalation
    assert plan(apache, waited, "stop").env["OCF_RESKEY_CRM_meta_timeout"] == "30000"
    # The budget never exceeds what the runner gives the whole action (__enforce_timeouts).
    assert plan(apache, waited, "stop", timeout=12).env["OCF_RESKEY_CRM_meta_timeout"] == "12000"
    with_action = Resource("apache", (("name", "web"), ("shutdown_wait", "20")), actions=(Action("stop", timeout=45),))
    overridden = tree_of(with_action).root.children[0]
    assert next(a.timeout for a in asyncio.run(apache.actions(overridden)) if a.name == "stop") == 45


def test_status_keeps_rgmanagers_intervals_and_checks_deeper_only_when_told_how() -> None:
    apache = agent(app_apache.MAPPING, DEBIAN)
    plain = node_of("apache", name="web")
    checks = {a.depth: (a.interval, a.timeout) for a in asyncio.run(apache.actions(plain)) if a.name == "status"}
    assert checks == {0: (60, 10), 10: (300, 30)}
    shallow = plan(apache, plain, "monitor", depth=0)
    assert (shallow.env["OCF_CHECK_LEVEL"], shallow.env["OCF_RESKEY_CRM_meta_interval"]) == ("0", "60000")
    assert plan(apache, plain, "monitor", depth=10).env["OCF_CHECK_LEVEL"] == "0"
    told = node_of("apache", name="web", testurl="/index.html", testregex10="Welcome")
    deep = plan(apache, told, "monitor", depth=10)
    assert (deep.env["OCF_CHECK_LEVEL"], deep.env["OCF_RESKEY_testurl"]) == ("10", "/index.html")


def test_a_value_the_agent_cannot_use_is_refused_at_start_and_the_service_rolls_back_cleanly(tmp_path: Path) -> None:
    blank = node_of("apache", name="web", server_root="/srv/my www")
    apache = agent(app_apache.MAPPING, DEBIAN)
    started = asyncio.run(apache.start(blank, ctx()))
    assert (started.ok, started.rc) == (False, 6)
    assert started.message == (
        "apache:web: server_root='/srv/my www' contains blanks, which the OCF agent would split into words"
    )
    stopped = asyncio.run(apache.stop(blank, ctx()))
    assert (stopped.ok, stopped.rc) == (False, 5) and stopped.message.startswith("cannot stop apache:web: ")
    bad_wait = asyncio.run(apache.start(node_of("apache", name="web", shutdown_wait="soon"), ctx()))
    assert (bad_wait.rc, bad_wait.message) == (6, "apache:web: shutdown_wait='soon' is not a whole number of seconds")
    # Through the runner: the start fails, and the stop of the never-started resource counts as done,
    # so nothing is left for fencing to clean up.
    runner = ResourceRunner(node_name="balthasar.localdomain", rsctmp=str(tmp_path / "rsctmp"))
    tree = tree_of(res("apache", name="web", server_root="/srv/my www"))
    outcome = asyncio.run(runner.start_service(tree))
    assert not outcome.ok and outcome.failed is not None and outcome.failed.label == "apache:web"
    assert outcome.message.startswith("Failed to start web: apache:web failed: apache:web: server_root=")
    assert not outcome.resources_left
    assert [s.outcome.ok for s in outcome.rollback] == [True, True]


def test_the_stop_finds_this_services_apache_by_its_configuration_file() -> None:
    apache = agent(app_apache.MAPPING, DEBIAN)
    params = apache.parameters(
        node_of("apache", name="web", server_root="/srv/www", config_file="conf/httpd.conf"), "stop"
    )
    assert isinstance(params, dict)
    assert app_apache.MAPPING.own_process is not None
    assert app_apache.MAPPING.own_process(params) == ("/usr/sbin/apache2", (("-f", "/srv/www/conf/httpd.conf"),))
