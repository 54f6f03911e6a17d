"""``<postgres-8>``, ``<tomcat-5/6>``, ``<named>``, ``<openldap>``, the SAP types and ``<samba>``/``<smb>``:
the environment (or unit) each would run with; nothing is started."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from app_helpers import agent, ctx, fake_host, node_of, plan, reskeys

from quorate.resources.agents import SambaAgent, app_named, app_openldap, app_pgsql, app_sap, app_tomcat

PG = fake_host(present=["/usr/lib/postgresql/13/bin/pg_ctl", "/usr/lib/postgresql/15/bin/pg_ctl"])


def test_postgres_defaults_to_the_newest_debian_cluster() -> None:
    call = plan(agent(app_pgsql.MAPPING, PG), node_of("postgres-8", service="db", name="pg"))
    assert call.program.path.endswith("/resource.d/heartbeat/pgsql")
    assert reskeys(call) == {
        "name": "pg",
        "service_name": "db",
        "pgdba": "postgres",
        "pgctl": "/usr/lib/postgresql/15/bin/pg_ctl",
        "pgdata": "/var/lib/postgresql/15/main",
        "config": "/etc/postgresql/15/main/postgresql.conf",
    }


def test_postgres_postmaster_options_split_into_data_directory_and_start_options() -> None:
    node = node_of(
        "postgres-8",
        name="pg",
        postmaster_user="pgadmin",
        postmaster_options="-D /srv/pg/data/ -p 5433 -c 'work_mem=64MB'",
        startup_wait="60",
    )
    pg = agent(app_pgsql.MAPPING, PG)
    params = reskeys(plan(pg, node))
    assert (params["pgdba"], params["pgdata"]) == ("pgadmin", "/srv/pg/data")
    assert params["start_opt"] == "-p 5433 -c work_mem=64MB"
    assert "config" not in params  # the agent's default: postgresql.conf in the data directory
    assert next(a.timeout for a in asyncio.run(pg.actions(node)) if a.name == "start") == 60
    joined = reskeys(plan(pg, node_of("postgres-8", name="pg", postmaster_options="--pgdata=/srv/pg")))
    assert (joined["pgdata"], "start_opt" in joined) == ("/srv/pg", False)
    bare = reskeys(plan(agent(app_pgsql.MAPPING, fake_host()), node_of("postgres-8", name="pg")))
    assert bare["pgctl"] == "/usr/bin/pg_ctl" and "pgdata" not in bare


TOMCAT6_CONF = 'JAVA_HOME="/usr/lib/jvm/java-17"\nexport CATALINA_HOME=/opt/tomcat\nTOMCAT_USER=web\n# JAVA_OPTS=x\n'


def test_tomcat_6_reads_its_configuration_file() -> None:
    host = fake_host({"/etc/tomcat6/tomcat6.conf": TOMCAT6_CONF})
    call = plan(agent(app_tomcat.MAPPINGS[1], host), node_of("tomcat-6", name="tc", shutdown_wait="45"))
    params = reskeys(call)
    assert call.program.path.endswith("/resource.d/heartbeat/tomcat")
    assert (params["java_home"], params["catalina_home"]) == ("/usr/lib/jvm/java-17", "/opt/tomcat")
    assert (params["tomcat_user"], params["max_stop_time"]) == ("web", "45")
    assert "java_opts" not in params


def test_tomcat_5_attributes_and_debians_packages() -> None:
    host = fake_host(
        present=["/usr/share/tomcat9", "/usr/share/tomcat10", "/var/lib/tomcat10", "/usr/lib/jvm/default-java"]
    )
    node = node_of("tomcat-5", name="tc", catalina_options="-Xmx1g", tomcat_user="tc5")
    params = reskeys(plan(agent(app_tomcat.MAPPINGS[0], host), node))
    assert params["catalina_home"] == "/usr/share/tomcat10"
    assert params["catalina_base"] == "/var/lib/tomcat10"
    assert params["java_home"] == "/usr/lib/jvm/default-java"
    assert (params["catalina_opts"], params["tomcat_user"]) == ("-Xmx1g", "tc5")


def test_tomcat_without_a_home_is_refused_at_start_and_says_where_to_set_it() -> None:
    tomcat = agent(app_tomcat.MAPPINGS[1], fake_host())
    started = asyncio.run(tomcat.start(node_of("tomcat-6", name="tc"), ctx()))
    assert (started.ok, started.rc) == (False, 6)
    assert started.message == (
        "tomcat-6:tc: catalina_home is unknown: set CATALINA_HOME in /etc/tomcat6/tomcat6.conf or catalina_home "
        "on the element"
    )
    given = node_of("tomcat-6", name="tc", catalina_home="/opt/tc", java_home="/opt/jdk")
    assert reskeys(plan(tomcat, given))["catalina_home"] == "/opt/tc"


def test_named_runs_debians_bind() -> None:
    node = node_of("named", name="dns", named_options="-4", named_working_dir="/var/named", shutdown_wait="5")
    named = agent(app_named.MAPPING)
    params = reskeys(plan(named, node))
    assert (params["named_config"], params["named_user"], params["named_options"]) == (
        "/etc/bind/named.conf",
        "bind",
        "-4",
    )
    assert params["named_working_dir"] == "/var/named"  # passed as rgmanager did; the agent ignores it
    assert next(a.timeout for a in asyncio.run(named.actions(node)) if a.name == "stop") == 15


def test_openldap_runs_slapd_as_debian_does() -> None:
    node = node_of(
        "openldap", name="ldap", url_list="ldap://10.0.0.7/ ldapi:///", slapd_options="-4", shutdown_wait="8"
    )
    params = reskeys(plan(agent(app_openldap.MAPPING), node))
    assert params["config"] == "/etc/ldap/slapd.d"
    assert (params["services"], params["parameters"]) == ("ldap://10.0.0.7/ ldapi:///", "-4")
    assert (params["user"], params["group"], params["stop_escalate"]) == ("openldap", "openldap", "8")


def test_sap_types_pass_their_parameters_unchanged() -> None:
    node = node_of("SAPInstance", InstanceName="HA1_ASCS00_sapha1as", START_PROFILE="/sapmnt/HA1/profile/x")
    call = plan(agent(app_sap.MAPPINGS[0]), node)
    assert call.program.path.endswith("/resource.d/heartbeat/SAPInstance")
    assert reskeys(call) == {"InstanceName": "HA1_ASCS00_sapha1as", "START_PROFILE": "/sapmnt/HA1/profile/x"}
    assert call.env["OCF_RESOURCE_INSTANCE"] == "HA1_ASCS00_sapha1as"
    database = plan(agent(app_sap.MAPPINGS[1]), node_of("SAPDatabase", SID="HA1", DBTYPE="HDB"))
    assert reskeys(database) == {"SID": "HA1", "DBTYPE": "HDB"}


def test_samba_and_smb_manage_smbd_through_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls"
    (bindir / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {log}\n[ "$1" = is-active ] && echo active\nexit 0\n')
    (bindir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    samba, smb = SambaAgent("samba", booted=lambda: True), SambaAgent("smb", booted=lambda: True)
    assert asyncio.run(samba.start(node_of("samba", name="files", config_file="/etc/samba/smb.conf.files"), ctx())).ok
    status = asyncio.run(smb.status(node_of("smb", name="files", workgroup="MAGI"), 0, ctx()))
    assert (status.ok, status.message) == (True, "smbd.service is active")
    assert asyncio.run(samba.stop(node_of("samba", name="files"), ctx())).ok
    assert log.read_text().splitlines() == ["start smbd.service", "is-active smbd.service", "stop smbd.service"]
    unbooted = asyncio.run(SambaAgent("samba", booted=lambda: False).start(node_of("samba", name="files"), ctx()))
    assert (unbooted.rc, unbooted.message.endswith("cannot start smbd.service")) == (5, True)
