"""The typed, versioned contract between the broker and its readers.

``get_snapshot`` used to answer an untyped dict whose keys were spelled once in the
broker and again in the agent; a renamed key silently became "not measured". Both sides
now build and read these frozen dataclasses, and the JSON-RPC wire carries their
``to_json`` form. The module sits at the floor of the daemons (next to ``jsonrpc.py``):
it imports nothing above ``vm/``, so the agent reads it without importing the broker.

Compatibility rules, so brokers and agents of neighbouring releases can talk:

* ``version`` is ``"MAJOR.MINOR"``. A minor bump only adds fields, which older readers
  ignore; a major bump changes a meaning, and a reader refuses a major it does not know
  (:class:`~hosted_engine.errors.ContractVersionError`) instead of guessing.
* Every field this version defines must be present with its type; anything else is a
  :class:`~hosted_engine.errors.ContractError` naming the field, never a ``KeyError``.

It also holds the score breakdown the agent publishes through the broker (in its
record's extra metadata) for ``hosted-engine --vm-status --explain``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hosted_engine.errors import ContractError, ContractVersionError
from hosted_engine.vm.engine_status import EngineStatus

CONTRACT_MAJOR = 1
CONTRACT_MINOR = 0
CONTRACT_VERSION = f"{CONTRACT_MAJOR}.{CONTRACT_MINOR}"

T = TypeVar("T")


# --- decoding helpers: each names the field it rejects ---------------------------------------


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(f"broker snapshot: {where} must be an object (got {_kind(value)})")
    return value


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ContractError(f"broker snapshot: {_join(where, key)} is missing")
    return obj[key]


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"broker snapshot: {where} must be an integer (got {_kind(value)})")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(f"broker snapshot: {where} must be a number (got {_kind(value)})")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ContractError(f"broker snapshot: {where} must be true or false (got {_kind(value)})")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ContractError(f"broker snapshot: {where} must be a string (got {_kind(value)})")
    return value


def _optional(read: Callable[[Any, str], T]) -> Callable[[Any, str], T | None]:
    def reader(value: Any, where: str) -> T | None:
        return None if value is None else read(value, where)

    return reader


def _engine(value: Any, where: str) -> EngineStatus:
    obj = _obj(value, where)
    reason = obj.get("reason")
    return EngineStatus(
        vm=_str(_get(obj, "vm", where), _join(where, "vm")),
        health=_str(_get(obj, "health", where), _join(where, "health")),
        detail=_str(_get(obj, "detail", where), _join(where, "detail")),
        reason=None if reason is None else _str(reason, _join(where, "reason")),
    )


def check_version(value: Any) -> str:
    """The wire's version string, refused when its major is not ours."""
    text = _str(value, "version")
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise ContractError(f"broker snapshot: version must look like 1.0 (got {text[:20]!r})")
    if int(major) != CONTRACT_MAJOR:
        raise ContractVersionError(text, CONTRACT_MAJOR)
    return text


# --- the snapshot ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading(Generic[T]):
    """One monitor's latest value on the broker.

    ``measured_at`` is the broker's monotonic time of the value (None: never measured);
    ``error`` says why the value is bad or why the latest attempt failed (the value is
    then the last good one, as old as ``measured_at`` says).
    """

    value: T | None
    measured_at: float | None = None
    error: str | None = None

    def to_json(self, encode: Callable[[T], Any] = lambda v: v) -> dict[str, Any]:
        return {
            "value": None if self.value is None else encode(self.value),
            "measured_at": self.measured_at,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Any, where: str, read: Callable[[Any, str], T]) -> Reading[T]:
        obj = _obj(data, where)
        return cls(
            value=_optional(read)(_get(obj, "value", where), _join(where, "value")),
            measured_at=_optional(_number)(
                _get(obj, "measured_at", where), _join(where, "measured_at")
            ),
            error=_optional(_str)(_get(obj, "error", where), _join(where, "error")),
        )


_NOT_MONITORED = "not monitored by this broker"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Wire:
    """How one monitor's value crosses the wire."""

    attr: str  # the Monitors field
    name: str  # the monitor's name, the wire key
    read: Callable[[Any, str], Any]
    encode: Callable[[Any], Any]
    accepts: Callable[[Any], bool]  # is a broker-side value of the right type


_MONITOR_WIRE = (
    _Wire(
        "engine_health",
        "engine-health",
        _engine,
        lambda v: v.to_dict(),
        lambda v: isinstance(v, EngineStatus),
    ),
    _Wire("network", "network", _number, float, _is_number),
    _Wire("bridge", "bridge", _bool, bool, lambda v: isinstance(v, bool)),
    _Wire("mem_free", "mem-free", _number, float, _is_number),
    _Wire("cpu_load", "cpu-load", _number, float, _is_number),
    _Wire("storage_domain", "storage-domain", _bool, bool, lambda v: isinstance(v, bool)),
    _Wire("config_age", "config-age", _number, float, _is_number),
)
MONITOR_NAMES = tuple(w.name for w in _MONITOR_WIRE)


@dataclass(frozen=True)
class Monitors:
    """Every monitor the agent scores or decides on; the wire keys are the monitors' names."""

    engine_health: Reading[EngineStatus]
    network: Reading[float]
    bridge: Reading[bool]
    mem_free: Reading[float]
    cpu_load: Reading[float]
    storage_domain: Reading[bool]
    config_age: Reading[float]

    @classmethod
    def from_readings(cls, readings: Mapping[str, Reading[Any]]) -> Monitors:
        """From ``{monitor name: reading}``. A monitor the broker lacks reads as never
        measured, and a value of the wrong type as an error: a broker bug must not turn
        into a plausible value."""
        fields: dict[str, Reading[Any]] = {}
        for wire in _MONITOR_WIRE:
            reading = readings.get(wire.name)
            if reading is None:
                reading = Reading(None, None, _NOT_MONITORED)
            elif reading.value is not None and not wire.accepts(reading.value):
                bad = f"broker bug: {wire.name} value {reading.value!r} has the wrong type"
                reading = Reading(None, reading.measured_at, bad)
            fields[wire.attr] = reading
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        return {w.name: getattr(self, w.attr).to_json(w.encode) for w in _MONITOR_WIRE}

    @classmethod
    def from_json(cls, data: Any, where: str = "monitors") -> Monitors:
        obj = _obj(data, where)
        return cls(
            **{
                w.attr: Reading.from_json(_get(obj, w.name, where), _join(where, w.name), w.read)
                for w in _MONITOR_WIRE
            }
        )


@dataclass(frozen=True)
class RemoteRecord:
    """Another host's published record, with this broker's liveness verdict on it."""

    host_id: int
    hostname: str
    score: int
    engine: EngineStatus
    alive: bool  # its timestamp changed recently, judged on the broker's own clock
    maintenance: bool
    stopped: bool
    state: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "host_id": self.host_id,
            "hostname": self.hostname,
            "score": self.score,
            "engine": self.engine.to_dict(),
            "alive": self.alive,
            "maintenance": self.maintenance,
            "stopped": self.stopped,
            "state": self.state,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> RemoteRecord:
        obj = _obj(data, where)

        def field(key: str, read: Callable[[Any, str], T]) -> T:
            return read(_get(obj, key, where), _join(where, key))

        return cls(
            host_id=field("host_id", _int),
            hostname=field("hostname", _str),
            score=field("score", _int),
            engine=field("engine", _engine),
            alive=field("alive", _bool),
            maintenance=field("maintenance", _bool),
            stopped=field("stopped", _bool),
            state=field("state", _optional(_str)),
        )


@dataclass(frozen=True)
class VmLease:
    """Who holds the engine VM lease. ``known`` False: the probe failed, so the lease
    may be held or free; never read that as free."""

    known: bool
    holder_host_id: int | None = None
    holder_pid: int | None = None

    @property
    def free(self) -> bool | None:
        return (self.holder_host_id is None and self.holder_pid is None) if self.known else None

    def to_json(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "holder_host_id": self.holder_host_id,
            "holder_pid": self.holder_pid,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "vm_lease") -> VmLease:
        obj = _obj(data, where)
        known = _bool(_get(obj, "known", where), _join(where, "known"))
        holder = _optional(_int)(_get(obj, "holder_host_id", where), _join(where, "holder_host_id"))
        pid = _optional(_int)(_get(obj, "holder_pid", where), _join(where, "holder_pid"))
        return cls(known, holder, pid)


@dataclass(frozen=True)
class BrokerSnapshot:
    """Everything the agent decides on, as its broker measured and read it.

    ``broker_now`` and every ``measured_at`` are the broker's monotonic clock, which is
    the agent's too (one host). ``global_maintenance`` None: no whiteboard read yet.
    """

    host_id: int
    broker_now: float
    global_maintenance: bool | None
    enough_data: bool  # watched the other hosts long enough to judge their liveness
    hosts: tuple[RemoteRecord, ...]  # every other host's record
    monitors: Monitors
    vm_lease: VmLease
    version: str = CONTRACT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "host_id": self.host_id,
            "broker_now": self.broker_now,
            "global_maintenance": self.global_maintenance,
            "enough_data": self.enough_data,
            "hosts": [h.to_json() for h in self.hosts],
            "monitors": self.monitors.to_json(),
            "vm_lease": self.vm_lease.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> BrokerSnapshot:
        """Raises ContractError (ContractVersionError for an unknown major version)."""
        obj = _obj(data, "the answer")
        version = check_version(_get(obj, "version", ""))
        hosts = _get(obj, "hosts", "")
        if not isinstance(hosts, list):
            raise ContractError(f"broker snapshot: hosts must be a list (got {_kind(hosts)})")
        return cls(
            version=version,
            host_id=_int(_get(obj, "host_id", ""), "host_id"),
            broker_now=_number(_get(obj, "broker_now", ""), "broker_now"),
            global_maintenance=_optional(_bool)(
                _get(obj, "global_maintenance", ""), "global_maintenance"
            ),
            enough_data=_bool(_get(obj, "enough_data", ""), "enough_data"),
            hosts=tuple(RemoteRecord.from_json(h, f"hosts[{i}]") for i, h in enumerate(hosts)),
            monitors=Monitors.from_json(_get(obj, "monitors", "")),
            vm_lease=VmLease.from_json(_get(obj, "vm_lease", "")),
        )


# --- the published score breakdown -----------------------------------------------------------

BREAKDOWN_KEY = "score_breakdown"  # an extra-metadata key; oVirt's readers skip unknown keys


@dataclass(frozen=True)
class ScoreBreakdown:
    """A score with its reasons, so the log and ``--vm-status --explain`` can say why a
    host scores what it does."""

    base: int
    penalties: tuple[tuple[str, int], ...]  # (what, points subtracted), non-zero only
    zero_because: str | None  # set when a rule forces the score to 0

    @property
    def total(self) -> int:
        if self.zero_because is not None:
            return 0
        return max(0, self.base - sum(points for _, points in self.penalties))

    def __str__(self) -> str:
        if self.zero_because is not None:
            return f"0 ({self.zero_because})"
        terms = "".join(f" - {what} {points}" for what, points in self.penalties)
        return f"{self.base}{terms} = {self.total}" if terms else str(self.base)

    def to_metadata(self) -> str:
        """One line of compact JSON: it must fit an extra-metadata ``key=value`` line."""
        return json.dumps(
            {"base": self.base, "penalties": self.penalties, "zero": self.zero_because},
            separators=(",", ":"),
        )

    @classmethod
    def from_metadata(cls, text: str) -> ScoreBreakdown:
        """Raises ContractError for anything but what ``to_metadata`` writes."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ContractError(f"score breakdown is not JSON: {text[:40]!r}") from None
        if not isinstance(data, dict):
            raise ContractError("score breakdown must be an object")
        base, penalties, zero = data.get("base"), data.get("penalties"), data.get("zero")
        if not (
            isinstance(base, int)
            and _is_whole(base)
            and isinstance(penalties, list)
            and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _is_whole(p[1])
                for p in penalties
            )
            and (zero is None or isinstance(zero, str))
        ):
            raise ContractError(f"score breakdown is malformed: {text[:60]!r}")
        return cls(int(base), tuple((str(w), int(p)) for w, p in penalties), zero)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def breakdown_from_extra(extra: str) -> ScoreBreakdown | None:
    """The breakdown in a record's extra metadata text; None when the host published none
    (an older agent, or a silent one whose broker publishes score 0 on its own)."""
    for line in extra.splitlines():
        key, sep, value = line.partition("=")
        if sep and key == BREAKDOWN_KEY:
            return ScoreBreakdown.from_metadata(value)
    return None
