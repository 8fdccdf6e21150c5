"""Request-scoped pieces shared by the API and the UI: who the caller is, the CSRF check."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

from hosted_engine.manager import auth
from hosted_engine.manager.db import Database
from hosted_engine.manager.hosts import Hosts

UNSAFE = {"POST", "PUT", "DELETE", "PATCH"}


@dataclass
class State:
    db: Database
    hosts: Hosts
    sessions: auth.Sessions
    limiter: auth.RateLimiter


def state(request: Request) -> State:
    found: State = request.app.state.manager
    return found


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def login_attempt(st: State, request: Request, user: str, password: str) -> bool:
    """One login: rate-limited per (user, client), recorded as an event either way."""
    client = client_of(request)
    if st.limiter.blocked(user, client):
        raise HTTPException(429, "too many failed logins; try again in a minute")
    if auth.check_password(st.db, user, password):
        st.limiter.succeeded(user, client)
        return True
    st.limiter.failed(user, client)
    st.db.add_event("login", user[:64], f"failed login from {client}")
    return False


def current_user(request: Request) -> str:
    """HTTP Basic (the API's way) or the UI's session cookie; unsafe methods with a
    cookie need the session's CSRF token in ``X-CSRF-Token`` (or a form's field)."""
    st = state(request)
    basic = auth.parse_basic(request.headers.get("authorization"))
    if basic is not None:
        if login_attempt(st, request, *basic):
            return basic[0]
        raise HTTPException(401, "bad user name or password", {"WWW-Authenticate": "Basic"})
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    user = st.sessions.user(cookie)
    if user is None or cookie is None:
        raise HTTPException(401, "authentication required", {"WWW-Authenticate": "Basic"})
    if request.method in UNSAFE and not st.sessions.check_csrf(
        cookie, request.headers.get("x-csrf-token")
    ):
        raise HTTPException(403, "missing or wrong CSRF token")
    return user
