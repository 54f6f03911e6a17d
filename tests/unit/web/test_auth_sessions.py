"""The login brake, the session store and the certificate, driven by their own clocks and directories."""

from __future__ import annotations

import grp
import os
import pwd
import ssl
from pathlib import Path

from quorate.web.auth import Throttle, system_group_member
from quorate.web.sessions import SessionStore
from quorate.web.tls import ensure_self_signed, fingerprint, server_context


def test_failures_are_free_then_the_wait_doubles_up_to_the_ceiling() -> None:
    throttle = Throttle(free=2, base=1.0, ceiling=5.0)
    waits = [throttle.failed("192.0.2.7", 100.0 + i * 10) for i in range(6)]
    assert waits == [0.0, 0.0, 1.0, 2.0, 4.0, 5.0]
    assert throttle.wait("192.0.2.7", 150.0) == 5.0 and throttle.wait("192.0.2.7", 153.0) == 2.0
    assert throttle.wait("192.0.2.8", 150.0) == 0.0  # another address is not slowed down


def test_success_or_a_quiet_quarter_hour_forgets_an_address() -> None:
    throttle = Throttle(free=0, base=1.0)
    throttle.failed("a", 0.0)
    throttle.succeeded("a")
    assert throttle.failures("a") == 0 and throttle.wait("a", 0.0) == 0.0
    throttle.failed("b", 0.0)
    throttle.failed("b", 1.0)
    assert throttle.wait("b", 899.0) == 0.0 and throttle.failures("b") == 2
    assert throttle.wait("b", 901.0) == 0.0 and throttle.failures("b") == 0


def test_a_long_lockout_is_not_forgotten_before_it_ends() -> None:
    throttle = Throttle(free=0, base=2000.0, ceiling=2000.0, forget_after=900.0)
    throttle.failed("a", 0.0)
    assert throttle.wait("a", 1000.0) == 1000.0


def test_sessions_expire_when_idle_and_after_their_lifetime() -> None:
    store = SessionStore(idle=60.0, lifetime=100.0)
    s = store.open("alice", 0.0)
    assert store.find(s.token, 50.0) is s
    assert store.find(s.token, 105.0, touch=False) is None  # lifetime over although active
    t = store.open("alice", 200.0)
    assert store.find(t.token, 259.0, touch=False) is t
    assert store.find(t.token, 261.0) is None  # the look-up without touch did not extend it
    assert store.find("made-up", 0.0) is None and store.find(None, 0.0) is None


def test_each_session_has_its_own_random_tokens_and_csrf_is_checked_exactly() -> None:
    store = SessionStore()
    a, b = store.open("alice", 0.0), store.open("alice", 0.0)
    assert len({a.token, b.token, a.csrf, b.csrf}) == 4 and len(a.token) >= 40
    assert a.csrf_matches(a.csrf) and not a.csrf_matches(b.csrf) and not a.csrf_matches(None)
    store.close(a.token)
    assert store.find(a.token, 1.0) is None and store.find(b.token, 1.0) is b


def test_group_membership_counts_primary_and_supplementary_groups() -> None:
    me = pwd.getpwuid(os.getuid())
    primary = grp.getgrgid(me.pw_gid).gr_name
    assert system_group_member(me.pw_name, primary)
    assert not system_group_member(me.pw_name, "no-such-group-quorate")
    assert not system_group_member("no-such-user-quorate", primary)


def test_a_self_signed_certificate_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    cert, key, made = ensure_self_signed(tmp_path / "web", "node1.example")
    assert made and (key.stat().st_mode & 0o777) == 0o600
    again = ensure_self_signed(tmp_path / "web", "node1.example")
    assert again == (cert, key, False)
    assert len(fingerprint(cert).split(":")) == 32
    assert isinstance(server_context(cert, key), ssl.SSLContext)
