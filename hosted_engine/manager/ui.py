"""The web UI: server-rendered pages; a little JS polls /ui/hosts.json so a failover
shows without a reload. Forms carry the session's CSRF token."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hosted_engine.errors import HostApiError
from hosted_engine.manager import auth
from hosted_engine.manager.deps import State, login_attempt, state
from hosted_engine.manager.hosts import HostView
from hosted_engine.storage.history import HistoryEntry

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
St = Annotated[State, Depends(state)]


def ha_wording(view: HostView) -> str:
    """oVirt's words for a host's hosted-engine HA state (seed 002)."""
    if view.status is None:
        return "Not Active"
    ha = view.status.ha
    if ha.local_maintenance:
        return "Local Maintenance Enabled"
    if ha.global_maintenance:
        return "Global Maintenance Enabled"
    if ha.configured and ha.active:
        return f"Hosted Engine HA: Active (Score: {ha.score})"
    return "Not Active"


def host_rows(views: list[HostView], undeploy: bool = False) -> dict[str, Any]:
    """The hosts as the page shows them; ``undeploy``: the manager can run Undeploy (it
    goes over SSH, so a host that does not answer its API may still be undeployed)."""
    rows = []
    glob = any(v.status and v.status.ha.global_maintenance for v in views)
    for v in views:
        data = v.to_json()
        data["ha_wording"] = ha_wording(v)
        maint = v.row.status == "maintenance"
        data["actions"] = {
            "maintenance": v.responsive and not maint and not data["engine_vm_here"],
            "maintenance_move": v.responsive and not maint and data["engine_vm_here"],
            "activate": v.responsive and (maint or v.out_of_sync),
            "enable_global": v.responsive and not glob,
            "disable_global": v.responsive and glob,
            "undeploy": undeploy,
        }
        rows.append(data)
    return {"hosts": rows, "global_maintenance": glob}


def _can_undeploy(request: Request) -> bool:
    return getattr(request.app.state, "add_host", None) is not None


def _session(request: Request, st: State) -> tuple[str, str] | None:
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    user = st.sessions.user(cookie)
    return (user, st.sessions.csrf(cookie)) if user and cookie else None


def _page(request: Request, st: State, name: str, **extra: Any) -> Response:
    found = _session(request, st)
    if found is None:
        return RedirectResponse("/login", 303)
    user, csrf = found
    context = {"user": user, "csrf": csrf, **extra}
    return templates.TemplateResponse(request, name, context)


@router.get("/", include_in_schema=False)
async def root() -> Response:
    return RedirectResponse("/hosts", 303)


@router.get("/login", include_in_schema=False, response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login", include_in_schema=False)
async def login(
    request: Request, st: St, username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    try:
        ok = login_attempt(st, request, username, password)
    except HTTPException as err:
        return templates.TemplateResponse(
            request, "login.html", {"error": err.detail}, status_code=429
        )
    if not ok:
        return templates.TemplateResponse(
            request, "login.html", {"error": "Bad user name or password"}, status_code=401
        )
    st.db.add_event("login", username, "logged in to the web UI")
    st.db.audit(username, "login", "web UI", "ok")
    response = RedirectResponse("/hosts", 303)
    response.set_cookie(
        auth.SESSION_COOKIE,
        st.sessions.make(username),
        httponly=True,
        samesite="strict",
        max_age=int(auth.SESSION_TTL),
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout() -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


@router.get("/hosts", include_in_schema=False)
async def hosts_page(request: Request, st: St) -> Response:
    if _session(request, st) is None:
        return RedirectResponse("/login", 303)
    rows = host_rows(await st.hosts.views(cached=True), _can_undeploy(request))
    return _page(request, st, "hosts.html", **rows)


@router.get("/ui/hosts.json", include_in_schema=False)
async def hosts_json(request: Request, st: St) -> Response:
    if _session(request, st) is None:
        raise HTTPException(401, "authentication required")
    from fastapi.responses import JSONResponse

    return JSONResponse(host_rows(await st.hosts.views(cached=True), _can_undeploy(request)))


@router.get("/vm", include_in_schema=False)
async def vm_page(request: Request, st: St) -> Response:
    return _page(request, st, "vm.html")


@router.get("/shared-config", include_in_schema=False)
async def shared_page(request: Request, st: St) -> Response:
    return _page(request, st, "shared.html")


@router.get("/events", include_in_schema=False)
async def events_page(request: Request, st: St) -> Response:
    if _session(request, st) is None:
        return RedirectResponse("/login", 303)
    history: list[HistoryEntry] = []
    history_error = None
    try:
        history = await st.hosts.history(200)
    except HostApiError as err:
        history_error = f"The history cannot be read now: {err}"
    return _page(
        request,
        st,
        "events.html",
        events=st.db.events(200),
        history=history,
        history_error=history_error,
    )


@router.get("/hosts/add", include_in_schema=False)
async def add_host_page(request: Request, st: St) -> Response:
    """oVirt's "New Host" dialog as a page; the JS drives /api/hosts and its deploy events."""
    return _page(request, st, "add_host.html")
