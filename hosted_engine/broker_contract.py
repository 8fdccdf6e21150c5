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
from hosted_engine.storage.metadata import extra_value
from hosted_engine.storage.switchover import Switchover
from hosted_engine.vm.engine_status import EngineStatus

CONTRACT_MAJOR = 1
CONTRACT_MINOR = 0
CONTRACT_VERSION = f"{CONTRACT_MAJOR}.{CONTRACT_MINOR}"

T = TypeVar("T")


# --- decoding helpers: each names the field it rejects ---------------------------------------
# A path is a tuple of keys, joined only when an error message needs it: the agent decodes
# a snapshot every loop, and the simulator thousands of times a second.

Path = tuple[str, ...]


def _name(path: Path) -> str:
    return ".".join(path) or "the answer"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


_EXPECTED: dict[Callable[[Any], bool], str] = {
    _is_int: "an integer",
    _is_number: "a number",
    _is_bool: "true or false",
    _is_str: "a string",
}


def _obj(value: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ContractError(
            f"broker snapshot: {_name(path)} must be an object (got {_kind(value)})"
        )
    return value


def _get(obj: Mapping[str, Any], key: str, path: Path) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise ContractError(f"broker snapshot: {_name((*path, key))} is missing") from None


def _at(
    obj: Mapping[str, Any],
    key: str,
    path: Path,
    check: Callable[[Any], bool],
    optional: bool = False,
) -> Any:
    """``obj[key]`` checked by ``check`` (numbers come back as float)."""
    value = _get(obj, key, path)
    if value is None and optional:
        return None
    if not check(value):
        raise ContractError(
            f"broker snapshot: {_name((*path, key))} must be {_EXPECTED[check]} "
            f"(got {_kind(value)})"
        )
    return float(value) if check is _is_number else value


def _engine(value: Any, path: Path) -> EngineStatus:
    obj = _obj(value, path)
    return EngineStatus(
        vm=_at(obj, "vm", path, _is_str),
        health=_at(obj, "health", path, _is_str),
        detail=_at(obj, "detail", path, _is_str),
        reason=_at(obj, "reason", path, _is_str, optional=True) if "reason" in obj else None,
    )


def _leaf(check: Callable[[Any], bool]) -> Callable[[Any, Path], Any]:
    """A reader of one checked value, for the monitor table."""
    return lambda value, path: _check(value, path, check)


def _check(value: Any, path: Path, check: Callable[[Any], bool]) -> Any:
    if not check(value):
        raise ContractError(
            f"broker snapshot: {_name(path)} must be {_EXPECTED[check]} (got {_kind(value)})"
        )
    return float(value) if check is _is_number else value


def check_version(value: Any) -> str:
    """The wire's version string, refused when its major is not ours."""
    text: str = _check(value, ("version",), _is_str)
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
    def from_json(cls, data: Any, path: Path, read: Callable[[Any, Path], T]) -> Reading[T]:
        obj = _obj(data, path)
        value = _get(obj, "value", path)
        return cls(
            value=None if value is None else read(value, (*path, "value")),
            measured_at=_at(obj, "measured_at", path, _is_number, optional=True),
            error=_at(obj, "error", path, _is_str, optional=True),
        )


_NOT_MONITORED = "not monitored by this broker"


@dataclass(frozen=True)
class _Wire:
    """How one monitor's value crosses the wire."""

    attr: str  # the Monitors field
    name: str  # the monitor's name, the wire key
    read: Callable[[Any, Path], Any]
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
    _Wire("network", "network", _leaf(_is_number), float, _is_number),
    _Wire("bridge", "bridge", _leaf(_is_bool), bool, _is_bool),
    _Wire("mem_free", "mem-free", _leaf(_is_number), float, _is_number),
    _Wire("cpu_load", "cpu-load", _leaf(_is_number), float, _is_number),
    _Wire("storage_domain", "storage-domain", _leaf(_is_bool), bool, _is_bool),
    _Wire("config_age", "config-age", _leaf(_is_number), float, _is_number),
)
MONITOR_NAMES = tuple(w.name for w in _MONITOR_WIRE)
_MONITOR_PATHS = {w.name: ("monitors", w.name) for w in _MONITOR_WIRE}


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

    def readings(self) -> dict[str, Reading[Any]]:
        """``{monitor name: reading}``, in the wire's order."""
        return {w.name: getattr(self, w.attr) for w in _MONITOR_WIRE}

    def to_json(self) -> dict[str, Any]:
        return {w.name: getattr(self, w.attr).to_json(w.encode) for w in _MONITOR_WIRE}

    @classmethod
    def from_json(cls, data: Any) -> Monitors:
        path = ("monitors",)
        obj = _obj(data, path)
        return cls(
            **{
                w.attr: Reading.from_json(_get(obj, w.name, path), _MONITOR_PATHS[w.name], w.read)
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
    priority: int = 0  # its ha_priority (absent from brokers of earlier versions: 0)

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
            "priority": self.priority,
        }

    @classmethod
    def from_json(cls, data: Any, path: Path) -> RemoteRecord:
        obj = _obj(data, path)
        return cls(
            host_id=_at(obj, "host_id", path, _is_int),
            hostname=_at(obj, "hostname", path, _is_str),
            score=_at(obj, "score", path, _is_int),
            engine=_engine(_get(obj, "engine", path), (*path, "engine")),
            alive=_at(obj, "alive", path, _is_bool),
            maintenance=_at(obj, "maintenance", path, _is_bool),
            stopped=_at(obj, "stopped", path, _is_bool),
            state=_at(obj, "state", path, _is_str, optional=True),
            priority=int(_at(obj, "priority", path, _is_int)) if "priority" in obj else 0,
        )


@dataclass(frozen=True)
class VmLease:
    """Who holds the engine VM lease. ``known`` False: the probe failed (or is too old),
    so the lease may be held or free; never read that as free. A lease can be ``held``
    by a holder that did not say who it is (both ids None). ``age``: seconds since the
    broker probed it."""

    known: bool
    held: bool = False
    holder_host_id: int | None = None
    holder_pid: int | None = None
    age: float | None = None

    @property
    def free(self) -> bool | None:
        return not self.held if self.known else None

    def to_json(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "held": self.held,
            "holder_host_id": self.holder_host_id,
            "holder_pid": self.holder_pid,
            "age": self.age,
        }

    @classmethod
    def from_json(cls, data: Any) -> VmLease:
        path = ("vm_lease",)
        obj = _obj(data, path)
        return cls(
            known=_at(obj, "known", path, _is_bool),
            held=_at(obj, "held", path, _is_bool),
            holder_host_id=_at(obj, "holder_host_id", path, _is_int, optional=True),
            holder_pid=_at(obj, "holder_pid", path, _is_int, optional=True),
            age=_at(obj, "age", path, _is_number, optional=True),
        )


def _switchover(data: Any) -> Switchover | None:
    if data is None:
        return None  # none due, or a broker of an earlier version
    try:
        return Switchover.from_json(data)
    except (ValueError, KeyError, TypeError) as e:
        raise ContractError(f"broker snapshot: switchover is not one ({e})") from None


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
    # a switchover due now (the broker judges its times on its wall clock), if any
    switchover: Switchover | None = None

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
            "switchover": None if self.switchover is None else self.switchover.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> BrokerSnapshot:
        """Raises ContractError (ContractVersionError for an unknown major version)."""
        top: Path = ()
        obj = _obj(data, top)
        version = check_version(_get(obj, "version", top))
        hosts = _get(obj, "hosts", top)
        if not isinstance(hosts, list):
            raise ContractError(f"broker snapshot: hosts must be a list (got {_kind(hosts)})")
        return cls(
            version=version,
            host_id=_at(obj, "host_id", top, _is_int),
            broker_now=_at(obj, "broker_now", top, _is_number),
            global_maintenance=_at(obj, "global_maintenance", top, _is_bool, optional=True),
            enough_data=_at(obj, "enough_data", top, _is_bool),
            hosts=tuple(RemoteRecord.from_json(h, (f"hosts[{i}]",)) for i, h in enumerate(hosts)),
            monitors=Monitors.from_json(_get(obj, "monitors", top)),
            vm_lease=VmLease.from_json(_get(obj, "vm_lease", top)),
            switchover=_switchover(obj.get("switchover")),
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
            and _is_int(base)
            and isinstance(penalties, list)
            and all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _is_int(p[1])
                for p in penalties
            )
            and (zero is None or isinstance(zero, str))
        ):
            raise ContractError(f"score breakdown is malformed: {text[:60]!r}")
        return cls(int(base), tuple((str(w), int(p)) for w, p in penalties), zero)


def breakdown_from_extra(extra: str) -> ScoreBreakdown | None:
    """The breakdown in a record's extra metadata text; None when the host published none
    (an older agent, or a silent one whose broker publishes score 0 on its own)."""
    value = extra_value(extra, BREAKDOWN_KEY)
    return None if value is None else ScoreBreakdown.from_metadata(value)
