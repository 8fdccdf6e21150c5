"""Who is asking: HTTP Basic for the API (as oVirt's API accepts), a signed session
cookie for the UI, a CSRF token bound to the session, and a rate limit on failures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from collections import deque
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hosted_engine.manager.db import Database

ADMIN_USER = "admin"
PASSWORD_FILE = "admin-password"
SESSION_COOKIE = "he_session"
SESSION_TTL = 12 * 3600.0

_hasher = PasswordHasher()
# verified against when the user does not exist, so both cases cost the same time
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def ensure_admin(db: Database, data_dir: Path) -> None:
    """First start: make ``admin`` with a generated password the lab owner reads from
    ``DATA_DIR/admin-password`` (0600). The password is never logged."""
    if db.user_hash(ADMIN_USER) is not None:
        return
    password = secrets.token_urlsafe(18)
    path = data_dir / PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    os.chmod(path, 0o600)
    db.add_user(ADMIN_USER, _hasher.hash(password))


# API clients send Basic credentials on every call; an argon2 check costs tens of ms, so a
# success is remembered for a minute, keyed by a digest that changes with the stored hash
_VERIFIED: dict[str, float] = {}
_VERIFIED_TTL = 60.0


def check_password(db: Database, user: str, password: str) -> bool:
    stored = db.user_hash(user)
    digest = hashlib.sha256(f"{user}\0{password}\0{stored}".encode()).hexdigest()
    now = time.monotonic()
    if stored is not None and _VERIFIED.get(digest, 0.0) > now:
        return True
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if stored is None:
        return False
    if len(_VERIFIED) > 1000:
        _VERIFIED.clear()
    _VERIFIED[digest] = now + _VERIFIED_TTL
    return True


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


class Sessions:
    """Stateless signed cookies: ``user|expiry|nonce|mac``. The key is in the DB, so a
    cookie made by one engine VM is good on the next one after a failover."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def make(self, user: str, now: float | None = None) -> str:
        expiry = int((now or time.time()) + SESSION_TTL)
        payload = f"{user}|{expiry}|{secrets.token_hex(8)}"
        return f"{payload}|{self._mac(payload)}"

    def user(self, cookie: str | None, now: float | None = None) -> str | None:
        if not cookie or cookie.count("|") != 3:
            return None
        payload, _, mac = cookie.rpartition("|")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        user, expiry, _nonce = payload.split("|")
        if not expiry.isdigit() or int(expiry) < (now or time.time()):
            return None
        return user

    def csrf(self, cookie: str) -> str:
        return self._mac("csrf|" + cookie)

    def check_csrf(self, cookie: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(cookie), token or "")


class RateLimiter:
    """At most ``limit`` failed logins per ``window`` seconds per (user, client)."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, user: str, client: str) -> bool:
        return len(self._recent((user, client), time.monotonic())) >= self.limit

    def failed(self, user: str, client: str) -> None:
        if len(self._failures) > 10000:
            self._failures.clear()
        self._recent((user, client), time.monotonic()).append(time.monotonic())

    def succeeded(self, user: str, client: str) -> None:
        self._failures.pop((user, client), None)
