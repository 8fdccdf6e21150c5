"""What a host says of itself, and how maintenance changes map onto the client's modes.

Blocking: the app runs these in a thread pool. Built only on the public client API.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hosted_engine.client import HAClient, MaintenanceMode, Switchover
from hosted_engine.errors import HostApiError, HostedEngineError
from hosted_engine.hostd.contract import CONFLICT, HaStatus, HostStatus
from hosted_engine.storage.metadata import state_from_extra
from hosted_engine.vm.base import VmState

_RUNNING = (VmState.UP, VmState.POWERING_UP)
log = logging.getLogger("hosted_engine.hostd")


def maintenance_mode(kind: str, enabled: bool, *, local: bool, global_: bool) -> MaintenanceMode:
    """The client mode that changes only ``kind`` (``local``/``global``).

    ``set_maintenance`` writes every flag at once (``none`` clears both, as oVirt's CLI
    does), so turning one off must name the other when it is on. There is no mode with
    both on: turning one on turns the other off, as ``--set-maintenance`` does.
    """
    if kind not in ("local", "global"):
        raise ValueError(f"unknown maintenance kind {kind!r}")
    if enabled:
        return MaintenanceMode.LOCAL if kind == "local" else MaintenanceMode.GLOBAL
    other_on = global_ if kind == "local" else local
    if not other_on:
        return MaintenanceMode.NONE
    return MaintenanceMode.GLOBAL if kind == "local" else MaintenanceMode.LOCAL


def _health(client: HAClient) -> dict[str, Any] | None:
    try:
        return client.broker_health()
    except HostedEngineError:  # no broker: liveness cannot be judged
        return None


def host_status(client: HAClient, *, fresh: bool = True) -> HostStatus:
    """This host's record as its broker sees it. ``fresh``: the global flag is read from
    storage itself (one small read): the broker's copy is as old as its last scan, and
    whoever has just changed it, here or on another host, must see the change."""
    config = client.config
    if not client.is_deployed():
        ha = HaStatus(False, False, 0, False, False)
        return HostStatus(config.host_id, config.hostname, ha, None, False, None, None, True)
    cluster = client.get_status()
    record = cluster.hosts.get(config.host_id)
    health = _health(client) if cluster.source == "broker" else None
    live = record is not None and record.get("live-data") is True
    agent = health is not None and bool(health.get("agent_alive"))
    local = client.local_maintenance()
    here = client.local_vm_status().state in _RUNNING
    global_ = client.get_status(direct=True).global_maintenance if fresh else None
    age = None if health is None else health.get("last_write_age")
    score = record.get("score", 0) if record is not None else 0
    engine = record.get("engine-status") if record is not None else None
    ha = HaStatus(
        configured=True,
        active=live and agent,
        score=score if isinstance(score, int) and not isinstance(score, bool) else 0,
        global_maintenance=cluster.global_maintenance if global_ is None else global_,
        local_maintenance=local,
    )
    return HostStatus(
        host_id=config.host_id,
        hostname=str(record.get("hostname", config.hostname)) if record else config.hostname,
        ha=ha,
        state=state_from_extra(str(record.get("extra", ""))) if record is not None else None,
        engine_vm_here=here,
        engine_status=engine if isinstance(engine, dict) else None,
        data_age=float(age) if isinstance(age, int | float) else None,
        stale=not live,
    )


def set_maintenance(client: HAClient, kind: str, enabled: bool) -> HostStatus:
    """Change one kind of maintenance on this host, keeping the other as it was."""
    deployed = client.is_deployed()
    global_ = client.get_status(direct=True).global_maintenance if deployed else False
    mode = maintenance_mode(kind, enabled, local=client.local_maintenance(), global_=global_)
    client.set_maintenance(mode)
    return host_status(client)


def move_engine_then_maintenance(client: HAClient, note: str, by: str | None) -> Switchover:
    """Ask for the switchover now (a refusal comes back at once); enter local maintenance
    in the background once the engine is healthy elsewhere. The host does the second
    step because whoever asked (the manager) runs in the engine VM that is moving."""
    request = client.move_engine_away(by, note)
    if request is None:
        raise HostApiError(CONFLICT, "The engine VM does not run on this host")
    threading.Thread(
        target=_maintenance_after, args=(client, request), name="move-engine", daemon=True
    ).start()
    return request


def _maintenance_after(client: HAClient, request: Switchover) -> None:
    try:
        client.wait_switchover(request)
        set_maintenance(client, "local", True)
    except HostedEngineError as e:
        log.error("local maintenance after the %s: not entered: %s", request.describe(), e)
        return
    log.info("local maintenance entered after the %s", request.describe())
