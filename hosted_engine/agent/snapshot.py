"""What the agent knows at one decision: a frozen picture gathered by the caller.

The decision step reads nothing else, so every transition can be tested by building a
snapshot by hand. All values are already typed by the broker: no "False" strings that
turn out truthy (D2), and ``None`` always means "not measured", never a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from hosted_engine.broker_contract import BrokerSnapshot, RemoteRecord
from hosted_engine.storage.switchover import Switchover
from hosted_engine.vm.engine_status import UNKNOWN_ENGINE_STATUS, EngineStatus


@dataclass(frozen=True)
class Snapshot:
    """This host's measurements and the other hosts' records at monotonic time ``now``."""

    now: float
    host_id: int
    local_engine: EngineStatus
    local_maintenance: bool
    global_maintenance: bool
    remotes: tuple[RemoteRecord, ...]
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
    priority: int = 0  # this host's ha_priority
    switchover: Switchover | None = None  # a switchover due now, if any

    @property
    def alive_remotes(self) -> tuple[RemoteRecord, ...]:
        """Only live hosts take part in elections; a stale record says nothing current."""
        return tuple(r for r in self.remotes if r.alive)


def build_snapshot(
    broker: BrokerSnapshot,
    *,
    now: float,
    local_maintenance: bool,
    vm_mem_mib: int | None,
    config_max_age: float,
    priority: int = 0,
) -> Snapshot:
    """The policy's snapshot from the broker's typed answer and what the agent read itself.

    No guessing here: a value the broker could not measure stays ``None`` ("not
    measured"), except where the score must assume the worst (an unread configuration
    cache is out of date) or the reference assumes the best (an unmeasured network).
    """
    m = broker.monitors
    lease = broker.vm_lease
    config_age = m.config_age.value
    return Snapshot(
        now=now,
        host_id=broker.host_id,
        local_engine=m.engine_health.value or UNKNOWN_ENGINE_STATUS,
        local_maintenance=local_maintenance,
        priority=priority,
        switchover=broker.switchover,
        global_maintenance=bool(broker.global_maintenance),
        remotes=broker.hosts,
        vm_lease_free=lease.free,
        vm_lease_holder=lease.holder_host_id if lease.known else None,
        local_engine_measured_at=m.engine_health.measured_at,
        # no whiteboard read yet: we cannot know whether the cluster is in maintenance
        enough_data=broker.enough_data and broker.global_maintenance is not None,
        network=1.0 if m.network.value is None else m.network.value,
        bridge=m.bridge.value,
        mem_free_mib=m.mem_free.value,
        cpu_load=m.cpu_load.value,
        storage_ok=m.storage_domain.value,
        vm_mem_mib=vm_mem_mib,
        # The broker's copy of the shared configuration (the VM definition included) must
        # be fresh: a host running on settings the others no longer have should not win.
        config_uptodate=config_age is not None and config_age <= config_max_age,
    )
