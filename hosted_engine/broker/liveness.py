"""Which hosts are alive, judged only by watching their timestamps change.

A host's ``host-ts`` is its own monotonic clock, meaningless on another host, so it is
never compared with ours: we only note, on our own monotonic clock, when we last saw it
change. This runs in the broker from its own storage reads, so liveness stays true when
the local agent is down (the reference derived it from the agent: D13).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Liveness(StrEnum):
    ALIVE = "alive"  # its timestamp changed within the timeout
    STALE = "stale"  # unchanged for at least the timeout
    UNKNOWN = "unknown"  # not watched long enough to tell


@dataclass
class _Seen:
    host_ts: int
    first_seen: float
    changed_at: float | None  # None until we see a change


class LivenessTracker:
    def __init__(self, timeout: float, started_at: float) -> None:
        self.timeout = timeout
        self.started_at = started_at
        self._seen: dict[int, _Seen] = {}

    def observe(self, now: float, timestamps: Mapping[int, int]) -> None:
        """Record one full read of the whiteboard: ``{host_id: host_ts}``."""
        for host_id, ts in timestamps.items():
            seen = self._seen.get(host_id)
            if seen is None:
                self._seen[host_id] = _Seen(ts, now, None)
            elif seen.host_ts != ts:
                seen.host_ts = ts
                seen.changed_at = now
        for gone in set(self._seen) - set(timestamps):
            del self._seen[gone]  # slot cleaned: forget it

    @property
    def watched(self) -> frozenset[int]:
        """The hosts watched now: the slots of the latest read, never those cleaned since."""
        return frozenset(self._seen)

    def changed_at(self, host_id: int) -> float | None:
        """When we last saw the host's timestamp change (our monotonic clock)."""
        seen = self._seen.get(host_id)
        return None if seen is None else seen.changed_at

    def status(self, host_id: int, now: float) -> Liveness:
        seen = self._seen.get(host_id)
        if seen is None:
            return Liveness.UNKNOWN
        if seen.changed_at is not None and now - seen.changed_at < self.timeout:
            return Liveness.ALIVE
        since = seen.changed_at if seen.changed_at is not None else seen.first_seen
        return Liveness.STALE if now - since >= self.timeout else Liveness.UNKNOWN

    def enough_data(self, now: float) -> bool:
        """True once every known host is judged, or we have watched a whole timeout."""
        if now - self.started_at >= self.timeout:
            return True
        return all(self.status(h, now) is not Liveness.UNKNOWN for h in self._seen)
