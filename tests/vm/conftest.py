"""Fixtures for VM backend tests that run real processes.

Every process a test starts carries a marker in its environment (the backend passes the
environment on), so whatever a test leaves behind is found and killed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from vm_helpers import gone, wait_until

from hosted_engine.vm.process import PayloadSettings, ProcessVmBackend

MARK = "VM_TEST_MARK"  # not HOSTED_ENGINE_*: those are scrubbed from the payload's env


def _marked(token: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            env = process.environ()
        except psutil.Error:
            continue
        if env.get(MARK) == token:
            found.append(process)
    return found


@pytest.fixture(autouse=True)
def no_leftover_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    token = uuid.uuid4().hex
    monkeypatch.setenv(MARK, token)
    yield
    leftovers = _marked(token)
    for process in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    # Detached processes are reaped by init whenever it gets to it: a zombie is gone enough.
    wait_until(lambda: all(gone(p.pid) for p in leftovers), what="leftovers to die")


@pytest.fixture
def ha_dir(tmp_path: Path) -> Path:
    path = tmp_path / "domain" / "ha_agent"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def make_backend(tmp_path: Path, ha_dir: Path) -> Callable[..., ProcessVmBackend]:
    """A backend of host ``host_id``: its own run dir, the shared ha dir."""

    def make(
        host_id: int = 1, payload: PayloadSettings | None = None, **options: float
    ) -> ProcessVmBackend:
        options.setdefault("start_check", 0.3)
        return ProcessVmBackend(
            tmp_path / f"run-host{host_id}",
            ha_dir / "hosted-engine.lockspace",
            host_id,
            f"host{host_id}",
            payload=payload,
            **options,
        )

    return make


@pytest.fixture
def vm_id() -> str:
    return f"vm-{uuid.uuid4()}"
