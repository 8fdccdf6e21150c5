"""The one contract between a host API (hostd) and the manager: paths, bodies, errors.

Both sides import these dataclasses, so a field is spelled once. Every body is JSON;
``to_json``/``from_json`` are the only (de)serialisers, and ``from_json`` refuses a body
of the wrong shape with :class:`~hosted_engine.errors.HostApiError` (status 502: the
host answered something the manager cannot use), never a KeyError.

Paths (all under :data:`API_PREFIX`; a non-2xx answer's body is :class:`ApiError`):

========  ===============================  =========================================
GET       /status                          :class:`HostStatus`
PUT       /maintenance/local               :class:`MaintenanceChange` -> HostStatus
PUT       /maintenance/global              :class:`MaintenanceChange` -> HostStatus
POST      /maintenance/local/move-engine   :class:`SwitchoverChange` (note, by) ->
                                           :class:`SwitchoverView`, 202: the engine's
                                           host asks for a switchover to the best other
                                           host and enters local maintenance once the
                                           engine is healthy there (it does both: the
                                           manager asking runs in the VM that moves)
GET       /vm-definition                   :class:`VmDefinitionView` (+ ``ETag``)
PUT       /vm-definition                   :class:`VmDefinitionEdit` + ``If-Match``
                                           -> VmDefinitionView (412: changed meanwhile)
GET       /shared-config/{type}/{key}      :class:`SharedConfigValue`
PUT       /shared-config/{type}/{key}      :class:`SharedConfigChange` -> SharedConfigValue
POST      /refresh-config                  :class:`RefreshResult`: the host's caches re-read
                                           now (after an edit made through another host)
GET       /history                         :class:`HistoryView`: the engine's starts and
                                           stops, oldest first (the same on every host)
POST      /switchover                      :class:`SwitchoverChange` -> :class:`SwitchoverView`
                                           (412 with the reason when it is refused)
DELETE    /switchover                      -> :class:`SwitchoverView` of the cancelled one
========  ===============================  =========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from hosted_engine.errors import HostApiError
from hosted_engine.storage.history import HistoryEntry
from hosted_engine.storage.switchover import Switchover

CONTRACT_VERSION = 1
API_PREFIX = "/v1"
# what each status code means on this boundary (the manager passes them on)
ACCEPTED = 202  # asked for, carried out in the background
NOT_FOUND, CONFLICT, PRECONDITION_FAILED, UNPROCESSABLE = 404, 409, 412, 422
BAD_ANSWER, UNREACHABLE = 502, 503

EditValue = str | int | bool
_T = TypeVar("_T")


def _field(data: Mapping[str, Any], key: str, kind: type[_T], what: str) -> _T:
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HostApiError(BAD_ANSWER, f"{what}: {key!r} missing or not a {kind.__name__}")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type[_T], what: str) -> _T | None:
    if data.get(key) is None:
        return None
    return _field(data, key, kind, what)


@dataclass(frozen=True)
class HaStatus:
    """Seed 002's ``haStatus``, as VDSM's getVdsStats reports it to oVirt's engine."""

    configured: bool  # hosted-engine is deployed on this host
    active: bool  # the agent runs and its record is fresh
    score: int
    global_maintenance: bool
    local_maintenance: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HaStatus:
        what = "haStatus"
        return cls(
            _field(data, "configured", bool, what),
            _field(data, "active", bool, what),
            _field(data, "score", int, what),
            _field(data, "global_maintenance", bool, what),
            _field(data, "local_maintenance", bool, what),
        )


@dataclass(frozen=True)
class HostStatus:
    """What one host says of itself (its own record, as its broker sees it)."""

    host_id: int
    hostname: str
    ha: HaStatus
    state: str | None  # the agent's state ("EngineUp", ...); None before its first report
    engine_vm_here: bool  # the engine VM runs on this host
    engine_status: Mapping[str, Any] | None  # the record's engine status, as --vm-status --json
    data_age: float | None  # seconds since the record was written; None: no record yet
    stale: bool  # the broker judges the record stale
    contract: int = CONTRACT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HostStatus:
        what = "host status"
        if not isinstance(data, Mapping):
            raise HostApiError(BAD_ANSWER, f"{what}: not a JSON object")
        contract = _field(data, "contract", int, what)
        if contract != CONTRACT_VERSION:
            raise HostApiError(
                BAD_ANSWER,
                f"{what}: contract version {contract}, this side speaks {CONTRACT_VERSION}",
            )
        age = data.get("data_age")
        if age is not None and (isinstance(age, bool) or not isinstance(age, int | float)):
            raise HostApiError(BAD_ANSWER, f"{what}: 'data_age' is not a number")
        return cls(
            _field(data, "host_id", int, what),
            _field(data, "hostname", str, what),
            HaStatus.from_json(_field(data, "ha", dict, what)),
            _optional(data, "state", str, what),
            _field(data, "engine_vm_here", bool, what),
            _optional(data, "engine_status", dict, what),
            None if age is None else float(age),
            _field(data, "stale", bool, what),
        )


@dataclass(frozen=True)
class MaintenanceChange:
    enabled: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MaintenanceChange:
        return cls(_field(data, "enabled", bool, "maintenance change"))


@dataclass(frozen=True)
class VmDefinitionView:
    """The engine VM definition in ``--show-vm-definition --json``'s shape, with the
    ETag of the OVF it was read from (the optimistic lock of an edit)."""

    definition: Mapping[str, Any]
    etag: str
    source: str  # "ovf" or "vm.conf"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VmDefinitionView:
        what = "VM definition"
        return cls(
            _field(data, "definition", dict, what),
            _field(data, "etag", str, what),
            _field(data, "source", str, what),
        )


@dataclass(frozen=True)
class VmDefinitionEdit:
    """Values to change, keyed as ``--set-shared-config KEY VALUE --type=vm`` takes them
    (``memSize``, ``nic1.macAddr``...); applied all or none."""

    changes: Mapping[str, EditValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"changes": dict(self.changes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VmDefinitionEdit:
        changes = _field(data, "changes", dict, "VM definition edit")
        for key, value in changes.items():
            if not isinstance(value, str | int | bool):
                raise HostApiError(
                    UNPROCESSABLE, f"{key}: a value must be a string, number or bool"
                )
        return cls(changes)


@dataclass(frozen=True)
class SharedConfigValue:
    key: str
    value: str
    type: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SharedConfigValue:
        what = "shared configuration value"
        return cls(
            _field(data, "key", str, what),
            _field(data, "value", str, what),
            _field(data, "type", str, what),
        )


@dataclass(frozen=True)
class SharedConfigChange:
    value: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SharedConfigChange:
        return cls(_field(data, "value", str, "shared configuration change"))


@dataclass(frozen=True)
class RefreshResult:
    refreshed: bool  # False: the host's broker did not answer; it catches up within a period

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RefreshResult:
        return cls(_field(data, "refreshed", bool, "refresh result"))


@dataclass(frozen=True)
class HistoryView:
    entries: tuple[HistoryEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"entries": [e.to_json() for e in self.entries]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HistoryView:
        entries = _field(data, "entries", list, "history")
        try:
            return cls(tuple(HistoryEntry.from_json(e) for e in entries))
        except (ValueError, KeyError, TypeError) as e:
            raise HostApiError(BAD_ANSWER, f"history: an entry that is not one ({e})") from None


@dataclass(frozen=True)
class SwitchoverChange:
    to_host: int | None = None  # None: the best other host
    note: str = ""
    scheduled_at: float | None = None  # epoch; None: now
    by: str = "manager"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SwitchoverChange:
        what = "switchover"
        scheduled = data.get("scheduled_at") if isinstance(data, Mapping) else None
        if scheduled is not None and (
            isinstance(scheduled, bool) or not isinstance(scheduled, int | float)
        ):
            raise HostApiError(UNPROCESSABLE, f"{what}: scheduled_at must be a number")
        return cls(
            to_host=_optional(data, "to_host", int, what),
            note=_optional(data, "note", str, what) or "",
            scheduled_at=None if scheduled is None else float(scheduled),
            by=_optional(data, "by", str, what) or "manager",
        )


@dataclass(frozen=True)
class SwitchoverView:
    request: Switchover

    def to_json(self) -> dict[str, Any]:
        return self.request.to_json()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SwitchoverView:
        try:
            return cls(Switchover.from_json(dict(data)))
        except (ValueError, KeyError, TypeError) as e:
            raise HostApiError(BAD_ANSWER, f"switchover: not a request ({e})") from None


@dataclass(frozen=True)
class ApiError:
    """The body of every non-2xx answer: one line, the CLI's words where the CLI has them."""

    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class HostApi(Protocol):
    """One host as the manager sees it. The HTTPS client and the tests' fakes both are.

    Every method raises :class:`~hosted_engine.errors.HostApiError`: its ``status`` is
    the host's answer (404/409/412/422), :data:`UNREACHABLE` when the host did not answer
    within the call's timeout, :data:`BAD_ANSWER` when it answered nonsense.
    """

    async def status(self) -> HostStatus: ...

    async def set_local_maintenance(self, enabled: bool) -> HostStatus: ...

    async def set_global_maintenance(self, enabled: bool) -> HostStatus: ...

    async def move_engine_then_maintenance(self, note: str, by: str) -> SwitchoverView: ...

    async def vm_definition(self) -> VmDefinitionView: ...

    async def update_vm_definition(
        self, changes: Mapping[str, EditValue], if_match: str
    ) -> VmDefinitionView: ...

    async def get_shared_config(self, config_type: str, key: str) -> SharedConfigValue: ...

    async def set_shared_config(
        self, config_type: str, key: str, value: str
    ) -> SharedConfigValue: ...

    async def refresh_config(self) -> RefreshResult: ...

    async def history(self) -> HistoryView: ...

    async def switchover(self, change: SwitchoverChange) -> SwitchoverView: ...

    async def cancel_switchover(self) -> SwitchoverView: ...

    async def aclose(self) -> None: ...
