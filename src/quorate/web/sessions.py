"""Server-side login sessions: a random token in a cookie, a CSRF token bound to it, and two expiries.

Theory of operation: the browser holds only an opaque random token (``Secure; HttpOnly; SameSite=Strict``); the
user's name and rights stay in this process, so a restart logs everyone out and a stolen page cannot read the
token. A session ends after ``idle`` seconds without a request the user made (the live event stream does not
count, or an open tab would never expire) and in any case ``lifetime`` seconds after the login. Each session has
its own CSRF token, embedded in every form; a POST must carry it back, compared in constant time. Time is a
``now`` argument.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

COOKIE = "quorate_session"


@dataclass(slots=True)
class Session:
    token: str
    user: str
    csrf: str
    created: float
    last_seen: float

    def csrf_matches(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(self.csrf.encode(), offered.encode())


@dataclass
class SessionStore:
    idle: float = 1800.0
    lifetime: float = 12 * 3600.0
    _sessions: dict[str, Session] = field(default_factory=dict)

    def open(self, user: str, now: float) -> Session:
        self._sweep(now)
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        self._sessions[session.token] = session
        return session

    def find(self, token: str | None, now: float, *, touch: bool = True) -> Session | None:
        """The live session of ``token`` (None if unknown or expired); ``touch`` counts this as user activity."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if self._expired(session, now):
            del self._sessions[token]
            return None
        if touch:
            session.last_seen = now
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen >= self.idle or now - session.created >= self.lifetime

    def _sweep(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[token]
