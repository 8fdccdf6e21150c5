"""Cheap host facts read from the kernel through psutil: bridge state and free memory."""

from __future__ import annotations

import psutil

from hosted_engine.broker.monitors.base import Degraded


class BridgeMonitor:
    """Whether the management bridge is up.

    No bridge configured gives None ("unknown"), never a value that reads as true (D2).
    """

    name = "bridge"
    initial = None

    def __init__(self, bridge: str | None) -> None:
        self._bridge = bridge

    def measure(self) -> bool | None:
        if not self._bridge:
            return None
        stats = psutil.net_if_stats().get(self._bridge)
        if stats is None:
            raise Degraded(False, f"interface {self._bridge} not found")
        if not stats.isup:
            raise Degraded(False, f"interface {self._bridge} is down")
        return True


class MemFreeMonitor:
    """Memory available to start a VM, in MiB (compared with the engine VM's memSize)."""

    name = "mem-free"
    initial = None

    def measure(self) -> float:
        return psutil.virtual_memory().available / 2**20
