"""A HostApi fake for the manager's tests: one shared cluster state, per-host flags."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hosted_engine.errors import HostApiError
from hosted_engine.hostd.contract import (
    PRECONDITION_FAILED,
    UNREACHABLE,
    EditValue,
    HaStatus,
    HistoryView,
    HostStatus,
    RefreshResult,
    SharedConfigValue,
    SwitchoverChange,
    SwitchoverView,
    VmDefinitionView,
)
from hosted_engine.manager.db import HostRow
from hosted_engine.storage.history import HistoryEntry
from hosted_engine.storage.switchover import Switchover


@dataclass
class Cluster:
    engine_host: int = 1
    global_maintenance: bool = False
    local: dict[int, bool] = field(default_factory=dict)
    dead: set[int] = field(default_factory=set)  # answer UNREACHABLE at once
    hanging: set[int] = field(default_factory=set)  # never answer
    hung_at: dict[int, float] = field(default_factory=dict)  # when a hanging call began
    definition: dict[str, Any] = field(
        default_factory=lambda: {
            "vmId": "vm-1",
            "vmName": "HostedEngine",
            "memSize": 4096,
            "sockets": 2,
            "coresPerSocket": 1,
            "threadsPerCore": 1,
            "nics": [{"macAddr": "00:16:3e:00:00:01", "network": "ovirtmgmt"}],
        }
    )
    shared: dict[tuple[str, str], str] = field(default_factory=lambda: {("he_shared", "a"): "1"})
    calls: list[tuple[int, str]] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    pending: Switchover | None = None

    def etag(self) -> str:
        return hashlib.sha256(json.dumps(self.definition, sort_keys=True).encode()).hexdigest()[:16]


class FakeHostApi:
    def __init__(self, cluster: Cluster, row: HostRow) -> None:
        self.cluster = cluster
        self.row = row

    async def _enter(self, what: str) -> None:
        self.cluster.calls.append((self.row.id, what))
        if self.row.id in self.cluster.hanging:
            self.cluster.hung_at.setdefault(self.row.id, time.monotonic())
            await asyncio.Event().wait()
        if self.row.id in self.cluster.dead:
            raise HostApiError(UNREACHABLE, f"{self.row.name}: connection refused")

    def _status(self) -> HostStatus:
        c, i = self.cluster, self.row.id
        here = c.engine_host == i
        ha = HaStatus(True, True, 3400, c.global_maintenance, c.local.get(i, False))
        state = (
            "LocalMaintenance" if ha.local_maintenance else ("EngineUp" if here else "EngineDown")
        )
        engine = {"vm": "up", "health": "good"} if here else {"vm": "down", "health": "bad"}
        return HostStatus(i, self.row.name, ha, state, here, engine, 1.5, False)

    async def status(self) -> HostStatus:
        await self._enter("status")
        return self._status()

    async def set_local_maintenance(self, enabled: bool) -> HostStatus:
        await self._enter("local")
        self.cluster.local[self.row.id] = enabled
        return self._status()

    async def set_global_maintenance(self, enabled: bool) -> HostStatus:
        await self._enter("global")
        self.cluster.global_maintenance = enabled
        return self._status()

    async def vm_definition(self) -> VmDefinitionView:
        await self._enter("vm")
        return VmDefinitionView(dict(self.cluster.definition), self.cluster.etag(), "ovf")

    async def update_vm_definition(
        self, changes: Mapping[str, EditValue], if_match: str
    ) -> VmDefinitionView:
        await self._enter("edit")
        if if_match != self.cluster.etag():
            raise HostApiError(412, "the OVF changed since it was read")
        if "memSize" in changes and int(changes["memSize"]) < 1024:
            raise HostApiError(422, "Invalid value for memSize: at least 1024")
        self.cluster.definition.update(changes)
        return await self.vm_definition()

    async def get_shared_config(self, config_type: str, key: str) -> SharedConfigValue:
        await self._enter("get")
        if (config_type, key) not in self.cluster.shared:
            raise HostApiError(404, f"Could not find {key} in {config_type}")
        return SharedConfigValue(key, self.cluster.shared[(config_type, key)], config_type)

    async def set_shared_config(self, config_type: str, key: str, value: str) -> SharedConfigValue:
        await self._enter("set")
        if (config_type, key) not in self.cluster.shared:
            raise HostApiError(404, f"Could not find {key} in {config_type}")
        self.cluster.shared[(config_type, key)] = value
        return SharedConfigValue(key, value, config_type)

    async def refresh_config(self) -> RefreshResult:
        await self._enter("refresh")
        return RefreshResult(True)

    async def history(self) -> HistoryView:
        await self._enter("history")
        return HistoryView(tuple(self.cluster.history))

    async def switchover(self, change: SwitchoverChange) -> SwitchoverView:
        """Done at once unless scheduled; a target that is the engine's host is refused."""
        await self._enter("switchover")
        target = change.to_host or next(h for h in (1, 2, 3) if h != self.cluster.engine_host)
        if target == self.cluster.engine_host or self.cluster.pending is not None:
            raise HostApiError(PRECONDITION_FAILED, "Switchover refused: no")
        request = Switchover(target, change.by, change.note, 1.0, change.scheduled_at, 1e12, "x")
        if change.scheduled_at is None:
            self.cluster.engine_host = target
        else:
            self.cluster.pending = request
        return SwitchoverView(request)

    async def move_engine_then_maintenance(self, note: str, by: str) -> SwitchoverView:
        """The switchover done at once, then this host's local maintenance."""
        if self.cluster.engine_host != self.row.id:
            raise HostApiError(409, "The engine VM does not run on this host")
        view = await self.switchover(SwitchoverChange(None, note, None, by))
        self.cluster.local[self.row.id] = True
        return view

    async def cancel_switchover(self) -> SwitchoverView:
        await self._enter("cancel")
        if self.cluster.pending is None:
            raise HostApiError(404, "No switchover is pending")
        request, self.cluster.pending = self.cluster.pending, None
        return SwitchoverView(request)

    async def aclose(self) -> None:
        self.cluster.calls.append((self.row.id, "aclose"))
