"""The REST API (JSON), oVirt's endpoints for what seed 001 and 002 need."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from hosted_engine.client.switchover import parse_when
from hosted_engine.deploy import keys
from hosted_engine.errors import HostApiError
from hosted_engine.files.text import is_printable_line
from hosted_engine.hostd.contract import EditValue, HostApi, SwitchoverChange, VmDefinitionView
from hosted_engine.manager.add_host import AddHost, AddHostConflict, AddHostError, Deploy, Target
from hosted_engine.manager.deps import State, current_user, state
from hosted_engine.manager.errors import from_host, one_line
from hosted_engine.manager.hosts import HostView

router = APIRouter(prefix="/api")
User = Annotated[str, Depends(current_user)]
St = Annotated[State, Depends(state)]

ENGINE_HERE = (
    "Unable to enter local maintenance mode: the engine VM is running on the "
    "current host, please migrate it before entering local maintenance mode."
)
NEXT_START = "The change applies at the engine VM's next start."
_EDIT_KEY = re.compile(
    r"^(memSize|minAllocatedMem|sockets|coresPerSocket|threadsPerCore|maxVCpus"
    r"|nic\d{1,2}\.(macAddr|network|model|linkActive))$"
)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


async def _host(st: State, host_id: int) -> HostView:
    row = st.hosts.row(host_id)
    if row is None:
        raise HTTPException(404, f"host {host_id} not found")
    return await st.hosts.view(row)


@router.get("/hosts")
async def list_hosts(user: User, st: St) -> list[dict[str, Any]]:
    return [v.to_json() for v in await st.hosts.views(cached=True)]


@router.get("/hosts/{host_id}")
async def get_host(host_id: int, user: User, st: St) -> dict[str, Any]:
    return (await _host(st, host_id)).to_json()


async def _host_maintenance(st: State, user: str, host_id: int, enabled: bool) -> dict[str, Any]:
    view = await _host(st, host_id)
    action = "deactivate" if enabled else "activate"
    target = f"host {view.row.name}"
    if view.status is None:
        st.db.audit(user, action, target, "refused: not responding")
        raise HTTPException(503, f"host {view.row.name} is not responding")
    if enabled and view.status.engine_vm_here:
        st.db.audit(user, action, target, "refused: engine VM runs there")
        raise HTTPException(409, ENGINE_HERE)
    try:
        await st.hosts.call(view.row, lambda api: api.set_local_maintenance(enabled))
    except HostApiError as err:
        st.hosts.forget_round()
        st.db.audit(user, action, target, f"failed: {one_line(str(err))}")
        raise from_host(err) from None
    st.hosts.forget_round()
    st.db.set_host_status(host_id, "maintenance" if enabled else "up")
    st.db.audit(user, action, target, "ok")
    word = "enabled" if enabled else "disabled"
    st.db.add_event("maintenance", user, f"local maintenance {word} on {view.row.name}")
    return (await _host(st, host_id)).to_json()


@router.post("/hosts/{host_id}/deactivate")
async def deactivate(
    host_id: int,
    user: User,
    st: St,
    response: Response,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    """Local maintenance. ``{"move_engine": true}`` on the engine's host moves the engine
    first (what oVirt does by migrating the VM away): 202, and the host enters
    maintenance once the engine is healthy elsewhere."""
    move = (body or {}).get("move_engine", False)
    if not isinstance(move, bool):
        raise HTTPException(422, "move_engine must be true or false")
    if move:
        view = await _host(st, host_id)
        if view.status is not None and view.status.engine_vm_here:
            response.status_code = 202
            return await _move_engine_then_maintenance(st, user, view)
    return await _host_maintenance(st, user, host_id, True)


async def _move_engine_then_maintenance(st: State, user: str, view: HostView) -> dict[str, Any]:
    """The engine's host does both steps: this manager runs in the VM that moves."""
    target = f"host {view.row.name}"
    note = f"local maintenance of host {view.row.name}"
    try:
        moving = await st.hosts.call(
            view.row, lambda api: api.move_engine_then_maintenance(note, user)
        )
    except HostApiError as err:
        st.db.audit(user, "deactivate", target, f"refused: {one_line(str(err))}")
        raise from_host(err) from None
    finally:
        st.hosts.forget_round()
    request = moving.request
    st.db.set_host_status(view.row.id, "maintenance")
    st.db.audit(user, "deactivate", target, f"after the {request.describe()}")
    st.db.add_event("switchover", user, request.describe())
    st.db.add_event(
        "maintenance", user, f"local maintenance on {view.row.name} once the engine moved"
    )
    return {"moving_engine": True, **request.to_json()}


@router.post("/hosts/{host_id}/activate")
async def activate(host_id: int, user: User, st: St) -> dict[str, Any]:
    return await _host_maintenance(st, user, host_id, False)


async def _engine_vm(st: State, vm_id: str) -> VmDefinitionView:
    try:
        view = await st.hosts.on_any(lambda api: api.vm_definition())
    except HostApiError as err:
        raise from_host(err) from None
    if vm_id not in (str(view.definition.get("vmId")), "engine", "HostedEngine"):
        raise HTTPException(404, f"VM {vm_id[:64]} not found")
    return view


@router.post("/vms/{vm_id}/maintenance")
async def global_maintenance(
    vm_id: str, user: User, st: St, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    enabled = body.get("maintenance_enabled")
    if not isinstance(enabled, bool):
        raise HTTPException(422, "maintenance_enabled must be true or false")
    await _engine_vm(st, vm_id)
    try:
        await st.hosts.on_any(lambda api: api.set_global_maintenance(enabled))
    except HostApiError as err:
        st.db.audit(user, "global maintenance", "cluster", f"failed: {err}")
        raise from_host(err) from None
    finally:
        st.hosts.forget_round()
    word = "enabled" if enabled else "disabled"
    st.db.audit(user, "global maintenance", "cluster", word)
    st.db.add_event("maintenance", user, f"global maintenance {word}")
    return {"maintenance_enabled": enabled}


@router.get("/vms/{vm_id}")
async def get_vm(vm_id: str, user: User, st: St, response: Response) -> dict[str, Any]:
    view = await _engine_vm(st, vm_id)
    response.headers["ETag"] = f'"{view.etag}"'
    return {**view.definition, "source": view.source}


def _edits(body: Mapping[str, Any]) -> dict[str, EditValue]:
    changes: dict[str, EditValue] = {}
    for key, value in body.items():
        if key in ("vmId", "vmName", "source"):
            continue  # identity and provenance are shown, never edited
        if not _EDIT_KEY.match(key):
            raise HTTPException(422, f"{key[:64]}: not an editable field of the engine VM")
        if not isinstance(value, str | int | bool) or value == "":
            raise HTTPException(422, f"{key}: a value must be a non-empty string, number or bool")
        changes[key] = value
    if not changes:
        raise HTTPException(422, "nothing to change")
    return changes


@router.put("/vms/{vm_id}")
async def put_vm(
    vm_id: str,
    user: User,
    st: St,
    response: Response,
    body: Annotated[dict[str, Any], Body()],
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    if not if_match:
        raise HTTPException(428, "If-Match with the ETag of GET /api/vms/{id} is required")
    changes = _edits(body)
    current = await _engine_vm(st, vm_id)
    etag = if_match.strip().removeprefix("W/").strip('"')

    async def update(api: HostApi) -> VmDefinitionView:
        return await api.update_vm_definition(changes, etag)

    target = f"VM {current.definition.get('vmName', vm_id)}"
    try:
        view = await st.hosts.on_any(update)
    except HostApiError as err:
        st.db.audit(user, "edit", target, f"failed: {one_line(str(err))}")
        raise from_host(err) from None
    await st.hosts.refresh_all()
    text = ", ".join(f"{k}={v}" for k, v in sorted(changes.items()))
    st.db.audit(user, "edit", target, "ok: " + text)
    st.db.add_event("edit", user, f"engine VM edited: {text}")
    response.headers["ETag"] = f'"{view.etag}"'
    return {**view.definition, "source": view.source, "notice": NEXT_START}


@router.get("/events")
async def events(user: User, st: St, limit: int = 200) -> list[dict[str, Any]]:
    if not 1 <= limit <= 1000:
        raise HTTPException(422, "limit must be between 1 and 1000")
    return st.db.events(limit)


@router.get("/history")
async def history(user: User, st: St, limit: int = 200) -> list[dict[str, Any]]:
    """The engine VM's starts and stops (``hosted-engine --history``), newest first."""
    if not 1 <= limit <= 1000:
        raise HTTPException(422, "limit must be between 1 and 1000")
    try:
        return [e.to_json() for e in await st.hosts.history(limit)]
    except HostApiError as err:
        raise from_host(err) from None


@router.post("/switchover")
async def switchover(
    user: User, st: St, response: Response, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Move the engine on purpose: 200 once it is healthy on the target, 202 when
    scheduled, 412 with the reason when refused (``hosted-engine --switchover``)."""
    to_host, note, when = body.get("to_host"), body.get("note", ""), body.get("scheduled_at")
    if to_host is not None and (isinstance(to_host, bool) or not isinstance(to_host, int)):
        raise HTTPException(422, "to_host must be a host id")
    if not isinstance(note, str) or (when is not None and not isinstance(when, str)):
        raise HTTPException(422, "note and scheduled_at (ISO 8601) must be strings")
    scheduled = None if when is None else _epoch(when)
    change = SwitchoverChange(to_host, note, scheduled, by=user)
    try:
        view = await st.hosts.on_any(lambda api: api.switchover(change))
    except HostApiError as err:
        st.db.audit(user, "switchover", "engine VM", f"refused: {one_line(str(err))}")
        raise from_host(err) from None
    request = view.request
    st.db.audit(user, "switchover", "engine VM", request.describe())
    st.db.add_event("switchover", user, request.describe())
    if scheduled is not None:
        response.status_code = 202
        return {"scheduled": True, **request.to_json()}
    await _until_engine_on(st, request.to_host, request.deadline)
    return {"done": True, **request.to_json()}


async def _until_engine_on(st: State, host_id: int, deadline: float) -> None:
    while time.time() < deadline:
        st.hosts.forget_round()
        for v in await st.hosts.views():
            status = v.status
            if v.row.id != host_id or status is None or not status.engine_vm_here:
                continue
            if (status.engine_status or {}).get("health") == "good":
                return
        await asyncio.sleep(0.5)
    raise HTTPException(504, f"the engine is not healthy on host {host_id} yet")


@router.delete("/switchover")
async def cancel_switchover(user: User, st: St) -> dict[str, Any]:
    try:
        view = await st.hosts.on_any(lambda api: api.cancel_switchover())
    except HostApiError as err:
        raise from_host(err) from None
    st.db.audit(user, "switchover", "engine VM", f"cancelled: {view.request.describe()}")
    return {"cancelled": True, **view.request.to_json()}


def _epoch(text: str) -> float:
    try:
        return parse_when(text, naive_is_utc=True)
    except ValueError:
        raise HTTPException(422, "scheduled_at must be an ISO 8601 time") from None


def _check_names(config_type: str, key: str) -> None:
    if not _NAME.match(config_type) or not _NAME.match(key):
        raise HTTPException(422, "type and key are short names of letters, digits, '_.-'")


@router.get("/shared-config/{config_type}/{key}")
async def get_shared(config_type: str, key: str, user: User, st: St) -> dict[str, Any]:
    _check_names(config_type, key)
    try:
        value = await st.hosts.on_any(lambda api: api.get_shared_config(config_type, key))
    except HostApiError as err:
        raise from_host(err) from None
    return value.to_json()


@router.put("/shared-config/{config_type}/{key}")
async def put_shared(
    config_type: str, key: str, user: User, st: St, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    _check_names(config_type, key)
    value = body.get("value")
    if not isinstance(value, str):
        raise HTTPException(422, "value must be a string")
    try:
        done = await st.hosts.on_any(lambda api: api.set_shared_config(config_type, key, value))
    except HostApiError as err:
        st.db.audit(user, "set shared config", f"{config_type}/{key}", f"failed: {err}")
        raise from_host(err) from None
    await st.hosts.refresh_all()
    st.db.audit(user, "set shared config", f"{config_type}/{key}", "ok")
    st.db.add_event("edit", user, f"shared configuration {config_type}/{key} changed")
    return done.to_json()


def _protected(user: str, st: State, what: str, request: Request) -> None:
    """Seed 001: what the hosted engine stands on cannot be removed from here."""
    st.db.audit(user, "delete", what, "refused: protected")
    raise HTTPException(409, f"Cannot remove {what}: it is used by the hosted engine")


@router.delete("/vms/{vm_id}")
async def delete_vm(vm_id: str, user: User, st: St, request: Request) -> None:
    await _engine_vm(st, vm_id)
    _protected(user, st, "the hosted engine VM", request)


@router.delete("/storagedomains/{sd_id}")
async def delete_sd(sd_id: str, user: User, st: St, request: Request) -> None:
    _protected(user, st, "the hosted engine storage domain", request)


@router.delete("/disks/{disk_id}")
async def delete_disk(disk_id: str, user: User, st: St, request: Request) -> None:
    if not disk_id.startswith("OVF_STORE"):
        raise HTTPException(404, f"disk {disk_id[:64]} not found")
    _protected(user, st, "the OVF_STORE disk", request)


# --- Add host (issue 10): hosted_engine.manager.add_host does the work ---------------------


def _add_host(request: Request) -> AddHost:
    found = getattr(request.app.state, "add_host", None)
    if found is None:
        raise HTTPException(
            503, "Add host is not configured on this manager (start it with --ssh-key)"
        )
    assert isinstance(found, AddHost)
    return found


def _int_field(body: Mapping[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise HTTPException(422, f"{name} must be a port number 1..65535, got {value!r}")
    return value


_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def _target(body: Mapping[str, Any], name: str | None = None, address: str | None = None) -> Target:
    name = body.get("name", name)
    address = body.get("address", address)
    user_name = body.get("ssh_user", "root")
    fingerprint = body.get("host_key_fingerprint")
    if not isinstance(name, str) or not _NAME.match(name):
        raise HTTPException(422, "name: 1-64 letters, digits, '.', '_' or '-' is required")
    if not isinstance(address, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,253}", address):
        raise HTTPException(422, "address: a host name or IP address is required")
    if not isinstance(user_name, str) or not _NAME.match(user_name):
        raise HTTPException(422, "ssh_user must be a user name")
    if fingerprint is not None and not (
        isinstance(fingerprint, str) and _FINGERPRINT.fullmatch(fingerprint)
    ):
        raise HTTPException(422, "host_key_fingerprint must look like SHA256:<43 characters>")
    return Target(name, address, _int_field(body, "ssh_port", 22), user_name, fingerprint)


def _config(body: Mapping[str, Any]) -> dict[str, str]:
    """``hosted_engine_config``: known names, each a string or a whole number, each one
    line of printable text: it becomes a line of hosted-engine.conf, whose writer on the
    host refuses anything else (files/keyvalue.py), and a token of the machine dialog.
    Refused here, the run is not started only to fail on the host."""
    config = body.get("hosted_engine_config", {})
    if not isinstance(config, dict):
        raise HTTPException(422, "hosted_engine_config must be an object of name: value")
    unknown = [k for k in config if k not in keys.CONFIG_NAMES]
    if unknown:
        raise HTTPException(422, f"hosted_engine_config: unknown entries {unknown[:5]}")
    text: dict[str, str] = {}
    for name, value in config.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise HTTPException(
                422, f"hosted_engine_config.{name} must be a string or a whole number"
            )
        if isinstance(value, str) and not is_printable_line(value):
            raise HTTPException(
                422,
                f"hosted_engine_config.{name} must be one line of printable text (no line "
                "break, NUL, U+2028/U+2029/U+0085 or other control character)",
            )
        text[name] = str(value)
    return text


def _refuse_conflict(ah: AddHost, action: str, target: Target, host_id: int) -> None:
    if (why := ah.conflict(action, target, host_id)) is not None:
        raise HTTPException(409, why)


def _start(
    ah: AddHost, target: Target, action: str, args: list[str], host_id: int, port: int
) -> Deploy:
    try:
        return ah.start(target, action, args, host_id, port)
    except AddHostConflict as err:  # one started while the fingerprint was fetched
        raise HTTPException(409, str(err)) from None


async def _confirmed(ah: AddHost, target: Target) -> Response | None:
    """409 with the host's fingerprint unless the admin confirmed exactly that one."""
    try:
        found = await ah.fingerprint(target)
    except AddHostError as err:
        raise HTTPException(502, str(err)) from None
    if target.fingerprint is None:
        return JSONResponse({"host_key_fingerprint": found}, 409)
    if found != target.fingerprint:
        raise HTTPException(
            409,
            f"{target.address}'s SSH key is {found}, not the given {target.fingerprint}: "
            "check the address, then confirm the new fingerprint",
        )
    return None


@router.post("/hosts", status_code=202, response_model=None)
async def add_host(
    request: Request, user: User, st: St, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any] | Response:
    """oVirt's add host with ``deploy_hosted_engine``; 409 first, to confirm the SSH key.
    Every refusal comes before anything is done on the host or written here."""
    ah = _add_host(request)
    target = _target(body)
    if body.get("deploy_hosted_engine", True) is not True:
        raise HTTPException(422, "deploy_hosted_engine must be true: hosts here are HA hosts")
    config = _config(body)
    host_id = keys.whole_number(config.get("host_id", ""))
    if host_id is None or not 0 < host_id <= 2000:
        raise HTTPException(422, "hosted_engine_config.host_id: a host id 1..2000 is required")
    hostd_port = _int_field(body, "hostd_port", keys.HOSTD_PORT)
    _refuse_conflict(ah, "deploy", target, host_id)
    try:
        ah.ca()  # no CA: say so before anything is done on the host
    except AddHostError as err:
        raise HTTPException(503, str(err)) from None
    if (unconfirmed := await _confirmed(ah, target)) is not None:
        return unconfirmed
    args = ah.arguments("deploy", config, hostd_port)
    deploy = _start(ah, target, "deploy", args, host_id, hostd_port)
    st.db.audit(user, "add host", target.name, "started")
    return {"deploy_id": deploy.id, "events": f"/api/hosts/deploys/{deploy.id}"}


@router.get("/hosts/deploys/{deploy_id}")
async def get_deploy(
    deploy_id: str, request: Request, user: User, after: int = 0
) -> dict[str, Any]:
    deploy = _add_host(request).deploys.get(deploy_id)
    if deploy is None:
        raise HTTPException(404, f"deploy {deploy_id[:64]} not found")
    return deploy.view(max(after, 0))


@router.post("/hosts/{host_id}/undeploy", status_code=202, response_model=None)
async def undeploy(
    host_id: int,
    request: Request,
    user: User,
    st: St,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any] | Response:
    """``HOSTED_ENGINE/action=remove`` on the host (oVirt's ``undeploy_hosted_engine``);
    the group itself refuses the last host. Complete removes the host from the registry.
    The body may give ``ssh_port``, ``ssh_user`` and ``host_key_fingerprint``; name and
    address are the registry's."""
    ah = _add_host(request)
    row = st.hosts.row(host_id)
    if row is None:
        raise HTTPException(404, f"host {host_id} not found")
    known = ah.targets.get(host_id)
    given = {k: v for k, v in (body or {}).items() if k not in ("name", "address")}
    if given.pop("undeploy_hosted_engine", True) is not True:
        raise HTTPException(422, "undeploy_hosted_engine must be true (or left out)")
    if known is not None:
        given.setdefault("ssh_port", known.ssh_port)
        given.setdefault("ssh_user", known.ssh_user)
        given.setdefault("host_key_fingerprint", known.fingerprint)
    target = _target(given, row.name, row.address)
    _refuse_conflict(ah, "remove", target, host_id)
    if (unconfirmed := await _confirmed(ah, target)) is not None:
        return unconfirmed
    args = ah.arguments("remove", {"host_id": str(host_id)}, row.port)
    deploy = _start(ah, target, "remove", args, host_id, row.port)
    st.db.audit(user, "undeploy host", target.name, "started")
    return {"deploy_id": deploy.id, "events": f"/api/hosts/deploys/{deploy.id}"}
