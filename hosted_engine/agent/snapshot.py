"""What the agent knows at one decision: a frozen picture gathered by the caller.

The decision step reads nothing else, so every transition can be tested by building a
snapshot by hand. All values are already typed by the broker: no "False" strings that
turn out truthy (D2), and ``None`` always means "not measured", never a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from hosted_engine.vm.engine_status import EngineStatus


@dataclass(frozen=True)
class RemoteHost:
    """Another host's record from shared metadata, with the broker's liveness verdict."""

    host_id: int
    hostname: str
    score: int
    engine: EngineStatus
    alive: bool  # its timestamp changed recently, judged on this host's own monotonic clock
    maintenance: bool
    stopped: bool
    state: str | None


@dataclass(frozen=True)
class Snapshot:
    """This host's measurements and the other hosts' records at monotonic time ``now``."""

    now: float
    host_id: int
    local_engine: EngineStatus
    local_maintenance: bool
    global_maintenance: bool
    remotes: tuple[RemoteHost, ...]
    # True: nobody holds the engine VM lease, so no engine VM runs anywhere right now.
    # None: could not tell. See _counted_remotes in states.py for what it changes.
    vm_lease_free: bool | None
    # The broker has watched the other hosts long enough to say which are alive.
    enough_data: bool
    network: float  # fraction of successful probes, 0..1
    bridge: bool | None
    mem_free_mib: float | None
    cpu_load: float | None  # time-weighted average of non-engine load, 0..1
    storage_ok: bool | None
    vm_mem_mib: int | None  # the engine VM's memory size
    config_uptodate: bool = True
    vm_lease_holder: int | None = None  # the host id holding the VM lease, when known
    # when ``local_engine`` was measured (this host's monotonic clock), when known
    local_engine_measured_at: float | None = None

    @property
    def alive_remotes(self) -> tuple[RemoteHost, ...]:
        """Only live hosts take part in elections; a stale record says nothing current."""
        return tuple(r for r in self.remotes if r.alive)
