"""Engine health: VM state from the backend, liveliness over real HTTP only when up."""

from __future__ import annotations

from typing import Any

import pytest

from hosted_engine.broker.monitors import Degraded
from hosted_engine.broker.monitors.engine_health import BACKEND_UNREACHABLE, EngineHealthMonitor
from hosted_engine.vm import health
from hosted_engine.vm.base import VmState, VmStatus
from hosted_engine.vm.engine_status import EngineStatus

UP = VmStatus(VmState.UP, pid=4242)


class CountingLiveliness:
    """The real HTTP check, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, url: str, timeout: float) -> bool:
        self.calls += 1
        return health.check_liveliness(url, timeout)


def monitor(backend: Any, url: str | None, check: Any) -> EngineHealthMonitor:
    return EngineHealthMonitor(
        backend, url, 2.0, engine_status=health.engine_status, check_liveliness=check
    )


def test_up_vm_with_a_healthy_engine(backend: Any, health_server: Any) -> None:
    backend.vm = UP
    status = monitor(backend, health_server.url, health.check_liveliness).measure()
    assert isinstance(status, EngineStatus)
    assert (status.vm, status.health, status.detail) == ("up", "good", "Up")
    assert health_server.requests == 1


def test_up_vm_with_the_database_down_is_bad_health(backend: Any, health_server: Any) -> None:
    backend.vm = UP
    health_server.body = b"DB Down"
    status = monitor(backend, health_server.url, health.check_liveliness).measure()
    assert (status.vm, status.health) == ("up", "bad")


def test_no_http_call_while_the_vm_is_down(backend: Any, health_server: Any) -> None:
    check = CountingLiveliness()
    status = monitor(backend, health_server.url, check).measure()
    assert status.vm == "down"
    assert check.calls == 0
    assert health_server.requests == 0


def test_the_previous_status_is_passed_on(backend: Any) -> None:
    seen: list[EngineStatus | None] = []

    def rule(vm: VmStatus, previous: EngineStatus | None, live: bool | None) -> EngineStatus:
        seen.append(previous)
        return EngineStatus("up", "good" if live else "bad", vm.detail)

    backend.vm = UP
    engine = EngineHealthMonitor(
        backend, "http://unused", 1, engine_status=rule, check_liveliness=lambda u, t: True
    )
    first = engine.measure()
    engine.measure()
    assert seen == [None, first]


def test_a_crashing_liveliness_check_counts_as_failed(backend: Any) -> None:
    def broken(url: str, timeout: float) -> bool:
        raise RuntimeError("bug")

    backend.vm = UP
    status = monitor(backend, "http://unused", broken).measure()
    assert (status.vm, status.health) == ("up", "bad")


def test_an_unreachable_backend_is_unknown(backend: Any) -> None:
    backend.error = ConnectionRefusedError("supervisor socket")
    with pytest.raises(Degraded) as failed:
        monitor(backend, None, health.check_liveliness).measure()
    assert failed.value.value == BACKEND_UNREACHABLE
    assert failed.value.value == EngineStatus(
        "unknown", "unknown", "unknown", "failed to get VM status"
    )
    assert "supervisor socket" in failed.value.reason
