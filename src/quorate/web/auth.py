"""Who may use the console: a system password checked by PAM, membership of one group, and a brake on guessing.

Theory of operation: PAM is the one boundary with the outside here, so it hides behind `PasswordCheck` (the unit
tests replace it; the process uses `pam_check`, python-pam onto libpam with a PAM service of its own,
``quorate-web``, shipped in packaging/pam.d). A correct password is not enough: the user must also be a member
of the console's group (``haclient`` by default, as on RHCS and pacemaker clusters), primary or supplementary,
because the console can stop services and acknowledge fences.

`Throttle` slows password guessing per client address: a few failures are free (typing mistakes), then each
further failure doubles the wait before that address may try again, up to a ceiling; while an address waits its
attempts are refused without asking PAM at all. A success, or a quiet period, forgets the address. Time is a
``now`` argument so that the tests drive it.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field

PasswordCheck = Callable[[str, str], bool]
"""``check(user, password) -> True`` when the password is right; may block (PAM delays failures)."""

GroupCheck = Callable[[str, str], bool]
"""``member(user, group) -> True`` when the user belongs to the group."""


def pam_check(service: str) -> PasswordCheck:
    """A password check through PAM service ``service`` (a file in /etc/pam.d; PAM uses ``other`` if missing)."""
    import pam  # type: ignore[import-untyped]

    def check(user: str, password: str) -> bool:
        # One authenticator per call: python-pam keeps the last result on the object, and calls run in threads.
        return bool(pam.PamAuthenticator().authenticate(user, password, service=service, resetcreds=False))

    return check


def system_group_member(user: str, group: str) -> bool:
    """True when ``user`` is in ``group`` through /etc/group or as its primary group (False if either is unknown)."""
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return False
    if user in entry.gr_mem:
        return True
    try:
        return pwd.getpwnam(user).pw_gid == entry.gr_gid
    except KeyError:
        return False


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    blocked_until: float


@dataclass
class Throttle:
    """Per-address brake on failed logins: ``free`` failures, then waits of base, 2*base... up to ``ceiling``."""

    free: int = 3
    base: float = 2.0
    ceiling: float = 300.0
    forget_after: float = 900.0
    _by_address: dict[str, _Failures] = field(default_factory=dict)

    def wait(self, address: str, now: float) -> float:
        """Seconds before ``address`` may try a password again (0: now)."""
        entry = self._by_address.get(address)
        if entry is None:
            return 0.0
        if now - entry.last >= max(self.forget_after, entry.blocked_until - entry.last):
            del self._by_address[address]
            return 0.0
        return max(0.0, entry.blocked_until - now)

    def failed(self, address: str, now: float) -> float:
        """Counts a failure; returns the wait it imposes on the address (0 while failures are still free)."""
        self.wait(address, now)  # forgets a stale record first
        entry = self._by_address.setdefault(address, _Failures(0, now, now))
        entry.count += 1
        entry.last = now
        over = entry.count - self.free
        delay = 0.0 if over <= 0 else min(self.ceiling, self.base * 2 ** (over - 1))
        entry.blocked_until = now + delay
        return delay

    def succeeded(self, address: str) -> None:
        self._by_address.pop(address, None)

    def failures(self, address: str) -> int:
        entry = self._by_address.get(address)
        return 0 if entry is None else entry.count
