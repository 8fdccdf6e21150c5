"""Engine health: the VM's state on this host plus, when it is up, the engine's answer.

The HTTP check runs only when the VM is up: a down VM cannot answer, and asking would
only spend the health-check timeout on every period.
"""

from __future__ import annotations

from collections.abc import Callable

from hosted_engine.broker.monitors.base import Degraded
from hosted_engine.vm.base import VmBackend, VmState, VmStatus
from hosted_engine.vm.engine_status import EngineStatus

EngineStatusRule = Callable[[VmStatus, EngineStatus | None, bool | None], EngineStatus]
LivelinessCheck = Callable[[str, float], bool]

BACKEND_UNREACHABLE = EngineStatus("unknown", "unknown", "unknown", "failed to get VM status")


class EngineHealthMonitor:
    name = "engine-health"
    initial = None

    def __init__(
        self,
        backend: VmBackend,
        url: str | None,
        timeout: float,
        *,
        engine_status: EngineStatusRule,
        check_liveliness: LivelinessCheck,
    ) -> None:
        self._backend = backend
        self._url = url
        self._timeout = timeout
        self._engine_status = engine_status
        self._check_liveliness = check_liveliness
        self._previous: EngineStatus | None = None

    def measure(self) -> EngineStatus:
        try:
            vm = self._backend.status()
        except Exception as e:
            self._previous = BACKEND_UNREACHABLE
            raise Degraded(BACKEND_UNREACHABLE, f"failed to get VM status: {e}") from e
        liveliness: bool | None = None
        if vm.state is VmState.UP and self._url:
            try:
                liveliness = self._check_liveliness(self._url, self._timeout)
            except Exception:
                liveliness = False
        status = self._engine_status(vm, self._previous, liveliness)
        self._previous = status
        return status
