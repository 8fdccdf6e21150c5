"""The public client API: everything an admin tool may do with a hosted-engine host.

The ``hosted-engine`` CLI is built only on this package, and so can any other tool.
Reads prefer the local broker (fresh data and its liveness judgement) and fall back to
reading the storage domain directly, so ``--vm-status`` works with no daemon running.
One module per concern; :class:`HAClient` offers them all on one object.
"""

from __future__ import annotations

from pathlib import Path

from hosted_engine.client.maintenance import MaintenanceClient, MaintenanceMode
from hosted_engine.client.shared_config import SharedConfigClient
from hosted_engine.client.status import ClusterStatus
from hosted_engine.client.switchover import SwitchoverClient, SwitchoverRefusedError
from hosted_engine.client.vm_control import VmCommandError, VmControlClient
from hosted_engine.client.vm_definition import VmDefinitionClient
from hosted_engine.config.host import load_host_config
from hosted_engine.storage.history import HistoryEntry
from hosted_engine.storage.switchover import Switchover

__all__ = [
    "ClusterStatus",
    "HAClient",
    "HistoryEntry",
    "MaintenanceMode",
    "Switchover",
    "SwitchoverRefusedError",
    "VmCommandError",
]


class HAClient(
    SwitchoverClient,
    MaintenanceClient,
    SharedConfigClient,
    VmDefinitionClient,
    VmControlClient,
):
    @classmethod
    def from_config(cls, path: str | Path | None = None) -> HAClient:
        return cls(load_host_config(path))
